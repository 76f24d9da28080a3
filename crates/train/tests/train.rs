//! Training loop (burn-train Learner): resume equals an uninterrupted run (and burn-train
//! writes one metric-log folder per session), NaN stops keep the last good
//! checkpoint, data-parallel equals single-device, identical runs write identical
//! checkpoint bytes, corrupt files are named, budgets extend only on request.

mod common;

use burn::tensor::Device;
use ifvit_train::{Silent, TrainError, TrainOptions, train};

fn opts(dir: &std::path::Path, cfg: &ifvit_train::ExperimentConfig) -> TrainOptions {
    TrainOptions {
        out_dir: dir.to_path_buf(),
        fusion: cfg.arms[0],
        resume: false,
        extend_to: None,
        stop_at: None,
        interrupt: None,
        extra_devices: vec![],
    }
}

#[test]
fn an_interrupted_and_resumed_run_reaches_the_same_loss_curve() {
    let cfg = common::tiny();
    let device = Device::flex();
    let a = tempfile::tempdir().unwrap();
    let full = train(&cfg, &opts(a.path(), &cfg), &device, &mut Silent).unwrap();
    assert_eq!(full.losses.len(), 6);

    let b = tempfile::tempdir().unwrap();
    let mut o = opts(b.path(), &cfg);
    o.stop_at = Some(3); // the "kill": stop after 3 steps (a checkpoint is written at 3)
    let first = train(&cfg, &o, &device, &mut Silent).unwrap();
    assert_eq!(first.state.step, 3);
    o.stop_at = None;
    o.resume = true;
    let resumed = train(&cfg, &o, &device, &mut Silent).unwrap();
    assert_eq!(resumed.state.step, 6);
    assert_eq!(resumed.session_steps, 3);
    let (x, y): (Vec<f64>, Vec<f64>) = (
        full.losses.iter().map(|l| l.1).collect(),
        resumed.losses.iter().map(|l| l.1).collect(),
    );
    for (i, (p, q)) in x.iter().zip(&y).enumerate() {
        assert!(
            (p - q).abs() <= 1e-6 * p.abs().max(1.0),
            "step {}: {p} vs {q}",
            i + 1
        );
    }
    // burn-train's metric logs: one folder per session (the resumed run has two), a line
    // per step at least.
    let lines = |p: std::path::PathBuf| {
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .lines()
            .count()
    };
    let metrics = |dir: &std::path::Path, epoch: usize| dir.join(format!("train/epoch-{epoch}"));
    for name in ["Loss.log", "Learning_Rate.log", "Throughput.log"] {
        assert!(lines(metrics(a.path(), 1).join(name)) >= 6, "{name}");
        assert!(lines(metrics(b.path(), 2).join(name)) >= 3, "{name}");
    }
    assert!(!metrics(a.path(), 2).exists());
    // The EMA differs from the raw weights after training.
    use burn::module::Module;
    let ema = full
        .ema
        .uvit
        .pos_embed
        .val()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap();
    let raw = full
        .model
        .uvit
        .pos_embed
        .val()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap();
    assert_ne!(ema, raw);
    assert_eq!(full.ema.num_params(), full.model.num_params());
}

#[test]
fn a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint() {
    let mut cfg = common::tiny();
    cfg.optim.lr = 1e30;
    cfg.optim.warmup_steps = 0;
    cfg.train.checkpoint_every = 1;
    cfg.train.log_every = 1;
    cfg.train.steps = 20;
    let dir = tempfile::tempdir().unwrap();
    let err = match train(&cfg, &opts(dir.path(), &cfg), &Device::flex(), &mut Silent) {
        Err(e) => e,
        Ok(o) => panic!("expected a NaN stop, finished with losses {:?}", o.losses),
    };
    let TrainError::NonFiniteLoss {
        step, last_good, ..
    } = &err
    else {
        panic!("expected NonFiniteLoss, got {err}");
    };
    let msg = err.to_string();
    assert!(msg.contains("last good checkpoint"), "{msg}");
    // A checkpoint is written before the first step, so there is always a last good one.
    let latest = ifvit_train::checkpoint::CheckpointDir::new(dir.path())
        .latest()
        .unwrap();
    assert_eq!(latest.state.step, step - 1, "{msg}");
    assert!(latest.state.step == 0 || latest.state.last_loss.unwrap().is_finite());
    assert!(
        last_good.contains(&format!("step-{:08}", step - 1)),
        "{msg}"
    );
}

#[test]
fn two_device_data_parallel_matches_one_device() {
    let cfg = common::tiny();
    let mut two = cfg.clone();
    two.train.devices = 2;
    let device = Device::flex();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let one = train(&cfg, &opts(a.path(), &cfg), &device, &mut Silent).unwrap();
    let mut o = opts(b.path(), &two);
    o.extra_devices = vec![Device::flex()];
    let dp = train(&two, &o, &device, &mut Silent).unwrap();
    for ((s, p), (_, q)) in one.losses.iter().zip(&dp.losses) {
        assert!((p - q).abs() <= 1e-4 * p.abs(), "step {s}: {p} vs {q}");
    }
}

/// SHA-256 of each weight file of a run's latest checkpoint, as recorded in its state.json.
fn hashes(run: &std::path::Path) -> std::collections::BTreeMap<String, String> {
    let ck = ifvit_train::checkpoint::CheckpointDir::new(run)
        .latest()
        .unwrap();
    for (name, h) in &ck.files {
        let bytes = std::fs::read(ck.dir.join(name)).unwrap();
        assert_eq!(&ifvit_train::checkpoint::sha256_hex(&bytes), h, "{name}");
    }
    ck.files
}

#[test]
fn identical_runs_write_identical_checkpoints_and_corruption_is_named() {
    let mut cfg = common::tiny();
    cfg.train.steps = 2;
    let device = Device::flex();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    train(&cfg, &opts(a.path(), &cfg), &device, &mut Silent).unwrap();
    train(&cfg, &opts(b.path(), &cfg), &device, &mut Silent).unwrap();
    let (ha, hb) = (hashes(a.path()), hashes(b.path()));
    assert_eq!(ha.len(), 3);
    assert_eq!(
        ha, hb,
        "two identical runs wrote different checkpoint files"
    );

    // One flipped byte inside the tensor data of model.bpk: resume refuses, naming it.
    let ck = ifvit_train::checkpoint::CheckpointDir::new(a.path())
        .latest()
        .unwrap();
    let mut bytes = std::fs::read(ck.model_path()).unwrap();
    let n = bytes.len();
    bytes[n - 8] ^= 0x40;
    std::fs::write(ck.model_path(), bytes).unwrap();
    let mut o = opts(a.path(), &cfg);
    o.resume = true;
    o.extend_to = Some(3);
    let e = match train(&cfg, &o, &device, &mut Silent) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a corrupt model.bpk was accepted"),
    };
    assert!(
        e.contains("step-00000002/model.bpk") && e.contains("checksum mismatch"),
        "{e}"
    );
}

#[test]
fn the_budget_changes_on_resume_only_through_extend_to_and_is_recorded() {
    let mut cfg = common::tiny();
    cfg.train.steps = 2;
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    train(&cfg, &opts(dir.path(), &cfg), &device, &mut Silent).unwrap();
    let mut o = opts(dir.path(), &cfg);
    o.resume = true;
    // Finished: resuming without an extension does nothing.
    let again = train(&cfg, &o, &device, &mut Silent).unwrap();
    assert_eq!((again.state.step, again.session_steps), (2, 0));
    o.extend_to = Some(2);
    let e = match train(&cfg, &o, &device, &mut Silent) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("--extend-to 2 at step 2 accepted"),
    };
    assert!(
        e.contains("--extend-to 2") && e.contains("already done 2"),
        "{e}"
    );
    o.extend_to = Some(3);
    let ext = train(&cfg, &o, &device, &mut Silent).unwrap();
    assert_eq!((ext.state.step, ext.total_steps), (3, 3));
    let saved = ifvit_train::ExperimentConfig::load(&dir.path().join("config.ron")).unwrap();
    assert_eq!(saved.train.steps, 3);
    assert_eq!(saved.optim.warmup_steps, cfg.optim.warmup_steps);
    let st = ifvit_train::checkpoint::CheckpointDir::new(dir.path())
        .latest()
        .unwrap()
        .state;
    assert_eq!(st.extensions.len(), 1);
    assert_eq!(
        (
            st.extensions[0].at_step,
            st.extensions[0].from_steps,
            st.extensions[0].to_steps
        ),
        (2, 2, 3)
    );
}
