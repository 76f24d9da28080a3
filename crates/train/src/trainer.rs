//! The training loop: a flat loop with named helpers (DiT's `train.py` shape).
//!
//! Each optimizer step `k` is exactly burn-train's `Learner` step sequence
//! (`TrainStep::step` -> learning rate of step `k` -> `ModuleOptimizer::step`), followed by an
//! EMA update. We drive the optimizer ourselves instead of through `Learner` because
//! burn-train 0.22.1's `Learner` keeps its optimizer state private (there is no accessor to
//! save it outside burn-train's own epoch checkpointer), and our checkpoints are per step,
//! atomic, and carry the EMA as well. Data-parallel training over several devices uses
//! burn-train's building blocks for it (`Module::fork`, `MultiGradientsParams`,
//! `ModuleOptimizer::step_multi`), as its multi-device strategy does.
//!
//! Everything random is a pure function of `(seed, step)`: the batch (data position =
//! step), the caption dropout, the timesteps and the noise. With the model, EMA and AdamW
//! state restored from a checkpoint, a resumed run continues exactly as an uninterrupted
//! one.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::module::Module;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{ModuleOptimizer, MultiGradientsParams};
use burn::tensor::{Device, Tensor};
use burn::train::TrainStep;
use ifvit_diffusion::{LossWeighting, NoiseSchedule, seeded_rng, training_sample};
use ifvit_fusion::Fusion;

use crate::checkpoint::{CheckpointDir, Extension, TrainState, io_err, write_atomic};
use crate::config::ExperimentConfig;
use crate::data::{Conditioning, TrainData};
use crate::ema::{ema_init, ema_update};
use crate::error::TrainError;
use crate::lr::warmup_constant;
use crate::model::TextToImage;
use crate::optim::FusedAdamW;
use crate::preflight::{check_output_dir, checkpoint_bytes, checkpoints_to_fit};
use crate::runlock::RunLock;
use crate::step::DiffusionInput;
use crate::weights::{load_module, load_optim, module_bytes, optim_bytes, stable_param_ids};

/// Callbacks for progress display (the CLI draws bars; tests ignore them).
pub trait TrainProgress {
    fn start(&mut self, _first_step: u64, _total_steps: u64) {}
    /// After each optimizer step; `loss` is present at log points.
    fn step(&mut self, _step: u64, _loss: Option<f64>) {}
    fn checkpoint(&mut self, _step: u64) {}
    /// Something the user should know (e.g. resuming from a fallback checkpoint).
    fn note(&mut self, _message: &str) {}
    fn finish(&mut self) {}
}

/// No display.
pub struct Silent;
impl TrainProgress for Silent {}

/// How to run.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// The run folder (config, loss log, checkpoints).
    pub out_dir: PathBuf,
    /// The arm (fusion strategy) to train.
    pub fusion: Fusion,
    /// Continue from the run folder's latest checkpoint.
    pub resume: bool,
    /// On resume: change the total step budget (`train.steps`) to this; recorded in the
    /// run's `config.ron` and in the checkpoint state (`extensions`).
    pub extend_to: Option<u64>,
    /// Stop (with a checkpoint) once this many steps are done in total; `None`: run to
    /// `train.steps`. Used to split a run into sessions.
    pub stop_at: Option<u64>,
    /// Set by a signal handler (`signals::install`): save a checkpoint and stop at the next
    /// step boundary.
    pub interrupt: Option<Arc<AtomicBool>>,
    /// Extra devices for data-parallel training (`train.devices - 1` of them); empty:
    /// fork the main device.
    pub extra_devices: Vec<Device>,
}

/// What a finished (or stopped) run produced.
pub struct TrainOutcome {
    /// Detached EMA weights (used for sampling and evaluation).
    pub ema: TextToImage,
    /// Detached raw weights.
    pub model: TextToImage,
    pub state: TrainState,
    /// The run's step budget (`train.steps`, after any `extend_to`).
    pub total_steps: u64,
    /// `(step, loss)` of every step, this and earlier sessions (from `loss.csv`).
    pub losses: Vec<(u64, f64)>,
    /// Wall-clock seconds of optimizer steps in this session (checkpoint writes excluded).
    pub session_seconds: f64,
    /// Steps run in this session.
    pub session_steps: u64,
    /// Stopped early (interrupt or `stop_at`).
    pub stopped_early: bool,
    pub params: usize,
}

impl TrainOutcome {
    /// Images per second in this session.
    pub fn images_per_s(&self, batch: usize) -> f64 {
        self.session_steps as f64 * batch as f64 / self.session_seconds.max(1e-9)
    }
}

fn optimizer(cfg: &ExperimentConfig) -> ModuleOptimizer {
    let o = &cfg.optim;
    FusedAdamW {
        beta_1: o.betas.0,
        beta_2: o.betas.1,
        epsilon: o.eps,
        weight_decay: o.weight_decay,
    }
    .init(o.grad_clip_norm.map(GradientClippingConfig::Norm))
}

/// Mixes the run seed and the step into the seed of that step's timesteps and noise.
pub fn step_seed(seed: u64, step: u64) -> u64 {
    let mut z = seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The loss log `RUN/loss.csv` (`step,loss,lr`).
struct LossLog {
    path: PathBuf,
    rows: Vec<(u64, f64, f64)>,
}

impl LossLog {
    fn open(run: &Path, keep_upto: u64) -> Result<Self, TrainError> {
        let path = run.join("loss.csv");
        let mut rows = Vec::new();
        if let Ok(text) = std::fs::read_to_string(&path) {
            for line in text.lines().skip(1) {
                let f: Vec<&str> = line.split(',').collect();
                if let [s, l, r] = f[..]
                    && let (Ok(s), Ok(l), Ok(r)) =
                        (s.parse::<u64>(), l.parse::<f64>(), r.parse::<f64>())
                    && s <= keep_upto
                {
                    rows.push((s, l, r));
                }
            }
        }
        Ok(Self { path, rows })
    }

    fn write(&self) -> Result<(), TrainError> {
        let mut s = String::from("step,loss,lr\n");
        for (step, loss, lr) in &self.rows {
            s.push_str(&format!("{step},{loss},{lr}\n"));
        }
        write_atomic(&self.path, s.as_bytes())?;
        Ok(())
    }
}

/// Writes `config.ron` (the exact config, with `arms: [the trained arm]`) into the run folder.
fn write_run_config(cfg: &ExperimentConfig, fusion: Fusion, run: &Path) -> Result<(), TrainError> {
    let mut c = cfg.clone();
    c.arms = vec![fusion];
    write_atomic(&run.join("config.ron"), c.to_ron().as_bytes())?;
    Ok(())
}

/// Checks that the data's images (or latents) and text features fit the model.
fn check_data_fits_model(data: &TrainData, m: &ifvit_uvit::UViTConfig) -> Result<(), TrainError> {
    let ([c, h, w], features) = data.shapes();
    if [c, h, w] != [m.in_chans, m.img_size, m.img_size] {
        return Err(TrainError::Data(format!(
            "the data has {c}x{h}x{w} inputs but the model expects {}x{}x{}; pick a preset \
             (model.preset) that matches the data",
            m.in_chans, m.img_size, m.img_size
        )));
    }
    if let Some((l, d)) = features
        && (l, d) != (m.num_text_tokens, m.context_dim)
    {
        return Err(TrainError::Data(format!(
            "the cached text features are {l}x{d} but the model expects {}x{}; set \
             model.num_text_tokens and model.context_dim to match the cache",
            m.num_text_tokens, m.context_dim
        )));
    }
    Ok(())
}

/// Trains one arm of `cfg` on `device` (its autodiff wrapper is added here).
pub fn train(
    cfg: &ExperimentConfig,
    opts: &TrainOptions,
    device: &Device,
    progress: &mut dyn TrainProgress,
) -> Result<TrainOutcome, TrainError> {
    let _lock = RunLock::acquire(&opts.out_dir)?;
    let mut cfg = cfg.clone();
    let uvit_cfg = cfg.uvit(opts.fusion)?;
    let schedule = NoiseSchedule::new(cfg.diffusion.schedule, cfg.diffusion.num_steps)?;
    cfg.diffusion.loss_weighting.validate()?;
    let data = TrainData::open(&cfg, &uvit_cfg, device)?;
    check_data_fits_model(&data, &uvit_cfg)?;

    let ad = device.clone().autodiff();
    let mut model = stable_param_ids(TextToImage::seeded(
        &uvit_cfg,
        data.vocab_size(),
        &ad,
        cfg.train.seed,
    )?);
    let params = model.num_params();
    let ckpts = CheckpointDir::new(&opts.out_dir);
    let existing = if opts.resume {
        ckpts.complete_count()
    } else {
        0
    };
    let fit = checkpoints_to_fit(cfg.train.keep_checkpoints, existing);
    check_output_dir(&opts.out_dir, checkpoint_bytes(params) * fit)?;
    let mut optim = optimizer(&cfg);

    let mut state = TrainState {
        step: 0,
        samples_seen: 0,
        seed: cfg.train.seed,
        last_loss: None,
        train_seconds: 0.0,
        extensions: vec![],
    };
    let mut ema;
    if opts.resume {
        (model, ema, optim, state) = restore(&ckpts, model, optim, progress)?;
        if let Some(to) = opts.extend_to {
            extend_budget(&mut cfg, &mut state, to, &opts.out_dir)?;
        }
    } else {
        ema = ema_init(&model);
    }
    let t = &cfg.train;
    write_run_config(&cfg, opts.fusion, &opts.out_dir)?;
    let mut log = LossLog::open(&opts.out_dir, state.step)?;
    log.write()?;
    if !opts.resume {
        // A checkpoint before the first step: a run stopped at any later moment resumes.
        save(
            &ckpts,
            &state,
            t.keep_checkpoints,
            &model,
            &ema,
            &optim,
            &mut log,
        )?;
        progress.checkpoint(0);
    }

    let total = t.steps;
    let stop_at = opts.stop_at.unwrap_or(total).min(total);
    let devices: Vec<Device> = if t.devices > 1 {
        let mut d: Vec<Device> = opts
            .extra_devices
            .iter()
            .map(|d| d.clone().autodiff())
            .collect();
        d.resize(t.devices - 1, ad.clone());
        std::iter::once(ad.clone()).chain(d).collect()
    } else {
        vec![ad.clone()]
    };

    progress.start(state.step, total);
    let mut pending: Vec<(u64, Tensor<1>, f64)> = Vec::new();
    let mut last_good = format!("{}", ckpts.latest()?.dir.display());
    let session_start = state.step;
    let mut session_seconds = 0.0;
    let mut stopped_early = false;

    // Reads the pending losses back (one device sync), checks them, appends to the log.
    let flush = |pending: &mut Vec<(u64, Tensor<1>, f64)>,
                 log: &mut LossLog,
                 state: &mut TrainState,
                 last_good: &str,
                 progress: &mut dyn TrainProgress|
     -> Result<(), TrainError> {
        if pending.is_empty() {
            return Ok(());
        }
        let values: Vec<f32> = Tensor::cat(pending.iter().map(|p| p.1.clone()).collect(), 0)
            .into_data()
            .convert::<f32>()
            .try_into_vec()
            .map_err(|e| TrainError::Other(format!("{e:?}")))?;
        for ((step, _, lr), v) in pending.drain(..).zip(values) {
            let v = v as f64;
            if !v.is_finite() {
                return Err(TrainError::NonFiniteLoss {
                    step: step + 1,
                    value: v,
                    last_good: last_good.to_string(),
                });
            }
            log.rows.push((step + 1, v, lr));
            state.last_loss = Some(v);
        }
        if let Some(&(s, l, _)) = log.rows.last() {
            progress.step(s, Some(l));
        }
        Ok(())
    };

    while state.step < stop_at {
        if opts
            .interrupt
            .as_ref()
            .is_some_and(|f| f.load(Ordering::SeqCst))
        {
            stopped_early = true;
            break;
        }
        let k = state.step;
        let t0 = Instant::now();
        let mut rng = seeded_rng(step_seed(t.seed, k));
        let batch = data.batch(k, t.batch_size, &mut rng, &ad)?;
        let ts = training_sample(&schedule, cfg.diffusion.prediction, batch.images, &mut rng);
        let weights = match cfg.diffusion.loss_weighting {
            LossWeighting::Uniform => None,
            w => Some(w.weights(&schedule, cfg.diffusion.prediction, &ts.steps)),
        };
        let lr = warmup_constant(cfg.optim.lr, cfg.optim.warmup_steps, k);
        let loss;
        if devices.len() == 1 {
            let input = DiffusionInput {
                x_t: ts.x_t,
                model_time: ts.model_time,
                target: ts.target,
                cond: batch.cond,
                weights,
                loss_scale: 1.0,
            };
            let out = TrainStep::step(&model, input);
            loss = out.item.loss;
            model = optim.step(lr, model, out.grads);
        } else {
            let (m, l) =
                data_parallel_step(&model, &mut optim, lr, &devices, ts, batch.cond, weights);
            model = m;
            loss = l;
        }
        ema = ema_update(ema, &model, t.ema_decay);
        pending.push((k, loss, lr));
        state.step += 1;
        state.samples_seen += t.batch_size as u64;
        let dt = t0.elapsed().as_secs_f64();
        session_seconds += dt;
        state.train_seconds += dt;

        let step = state.step;
        let ckpt_due = step.is_multiple_of(t.checkpoint_every) || step == stop_at;
        if step.is_multiple_of(t.log_every) || ckpt_due {
            flush(&mut pending, &mut log, &mut state, &last_good, progress)?;
        } else {
            progress.step(step, None);
        }
        if ckpt_due {
            save(
                &ckpts,
                &state,
                t.keep_checkpoints,
                &model,
                &ema,
                &optim,
                &mut log,
            )?;
            last_good = format!("{}", ckpts.latest()?.dir.display());
            progress.checkpoint(step);
        }
    }
    if stopped_early && state.step > session_start {
        flush(&mut pending, &mut log, &mut state, &last_good, progress)?;
        save(
            &ckpts,
            &state,
            t.keep_checkpoints,
            &model,
            &ema,
            &optim,
            &mut log,
        )?;
        progress.checkpoint(state.step);
    }
    progress.finish();
    Ok(TrainOutcome {
        ema: ema.valid(),
        model: model.valid(),
        losses: log.rows.iter().map(|r| (r.0, r.1)).collect(),
        total_steps: total,
        session_steps: state.step - session_start,
        state,
        session_seconds,
        stopped_early: stopped_early || stop_at < total,
        params,
    })
}

fn save(
    ckpts: &CheckpointDir,
    state: &TrainState,
    keep: usize,
    model: &TextToImage,
    ema: &TextToImage,
    optim: &ModuleOptimizer,
    log: &mut LossLog,
) -> Result<(), TrainError> {
    log.write()?;
    let rec = |name: &str, r: Result<Vec<u8>, burn::store::RecordError>| {
        r.map_err(|e| io_err(Path::new(name), e))
    };
    ckpts.save(state, keep, |w| {
        w.file("model.bpk", &rec("model.bpk", module_bytes(model.clone()))?)?;
        w.file("ema.bpk", &rec("ema.bpk", module_bytes(ema.clone()))?)?;
        w.file("optim.bpk", &rec("optim.bpk", optim_bytes(optim))?)?;
        Ok(())
    })?;
    Ok(())
}

/// Loads model, EMA, optimizer state and training state from the checkpoint to resume
/// from (falling back past a broken `latest`, and telling `progress` so), each file verified
/// against its recorded checksum.
fn restore(
    ckpts: &CheckpointDir,
    model: TextToImage,
    optim: ModuleOptimizer,
    progress: &mut dyn TrainProgress,
) -> Result<(TextToImage, TextToImage, ModuleOptimizer, TrainState), TrainError> {
    let (ck, note) = ckpts.resume_point()?;
    if let Some(note) = note {
        progress.note(&note);
    }
    let load = |what: &str, e: burn::store::RecordError| {
        TrainError::Checkpoint(io_err(&ck.dir.join(what), e))
    };
    let model = load_module(model, ck.read("model.bpk")?).map_err(|e| load("model.bpk", e))?;
    let optim = load_optim(optim, ck.read("optim.bpk")?).map_err(|e| load("optim.bpk", e))?;
    let ema = load_module(ema_init(&model), ck.read("ema.bpk")?).map_err(|e| load("ema.bpk", e))?;
    Ok((model, ema, optim, ck.state))
}

/// `--extend-to`: sets the run's step budget to `to` and records the change.
fn extend_budget(
    cfg: &mut ExperimentConfig,
    state: &mut TrainState,
    to: u64,
    run: &Path,
) -> Result<(), TrainError> {
    if to <= state.step {
        return Err(TrainError::Output {
            path: run.display().to_string(),
            message: format!(
                "--extend-to {to}: the run has already done {} steps; give a larger total",
                state.step
            ),
        });
    }
    if to != cfg.train.steps {
        state.extensions.push(Extension {
            at_step: state.step,
            from_steps: cfg.train.steps,
            to_steps: to,
        });
        cfg.train.steps = to;
    }
    Ok(())
}

/// Splits the batch row-wise over `devices`, runs the step on a fork of the model per
/// device with the loss scaled by its share of the batch, and lets the optimizer sum the
/// gradients (`MultiGradientsParams`): the update equals the single-device one.
fn data_parallel_step(
    model: &TextToImage,
    optim: &mut ModuleOptimizer,
    lr: f64,
    devices: &[Device],
    ts: ifvit_diffusion::TrainingSample,
    cond: Conditioning,
    weights: Option<Vec<f64>>,
) -> (TextToImage, Tensor<1>) {
    let b = ts.x_t.dims()[0];
    let n = devices.len();
    let mut grads = Vec::with_capacity(n);
    let mut losses = Vec::with_capacity(n);
    let mut start = 0;
    for (i, dev) in devices.iter().enumerate() {
        let len = b / n + usize::from(i < b % n);
        if len == 0 {
            continue;
        }
        let replica = if i == 0 {
            model.clone()
        } else {
            model.clone().fork(dev)
        };
        let input = DiffusionInput {
            x_t: ts.x_t.clone().narrow(0, start, len).to_device(dev),
            model_time: ts.model_time.clone().narrow(0, start, len).to_device(dev),
            target: ts.target.clone().narrow(0, start, len).to_device(dev),
            cond: cond.clone().narrow(start, len).to_device(dev),
            weights: weights.as_ref().map(|w| w[start..start + len].to_vec()),
            loss_scale: len as f64 / b as f64,
        };
        let out = TrainStep::step(&replica, input);
        losses.push(
            out.item
                .loss
                .to_device(&devices[0])
                .mul_scalar(len as f64 / b as f64),
        );
        grads.push((out.grads, dev.clone()));
        start += len;
    }
    let loss = losses
        .into_iter()
        .reduce(|a, b| a + b)
        .expect("at least one shard");
    let model = optim.step_multi(lr, model.clone(), MultiGradientsParams { grads });
    (model, loss)
}

/// Reads `(step, loss)` rows of a run's `loss.csv`.
pub fn read_losses(run: &Path) -> Vec<(u64, f64)> {
    LossLog::open(run, u64::MAX)
        .map(|l| l.rows.iter().map(|r| (r.0, r.1)).collect())
        .unwrap_or_default()
}
