//! Experiment configs: the committed files parse, the config round-trips through RON, and
//! bad files get errors with line and column.

mod common;

use std::path::PathBuf;

use ifvit_train::ExperimentConfig;
use ifvit_train::config::ConfigError;

fn repo(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(p)
}

#[test]
fn config_round_trips_through_ron() {
    let cfg = common::tiny();
    let text = cfg.to_ron();
    let back = ExperimentConfig::from_ron(&text, "round-trip").unwrap();
    assert_eq!(back, cfg);
}

#[test]
fn committed_experiment_configs_parse() {
    let dir = repo("experiments");
    let mut n = 0;
    for sub in [dir.clone(), dir.join("calibration")] {
        for e in std::fs::read_dir(&sub).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "ron") {
                ExperimentConfig::load(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                n += 1;
            }
        }
    }
    assert!(
        n >= 8,
        "expected the 3 experiments and 5 calibration configs, found {n}"
    );
}

#[test]
fn unknown_fields_and_wrong_types_name_line_and_column() {
    let text = common::tiny().to_ron();
    // An unknown field inside `train`.
    let bad = text.replacen("batch_size: 4,", "batch_size: 4,\n        bach_size: 4,", 1);
    let e = ExperimentConfig::from_ron(&bad, "bad.ron").unwrap_err();
    let ConfigError::Parse {
        line, col, message, ..
    } = &e
    else {
        panic!("{e}")
    };
    let expected_line = bad.lines().position(|l| l.contains("bach_size")).unwrap() + 1;
    assert_eq!(*line, expected_line, "{e}");
    assert!(*col > 1 && message.contains("bach_size"), "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("bad.ron:{expected_line}:")),
        "{e}"
    );
    // A wrong type.
    let bad = text.replacen("steps: 6,", "steps: \"six\",", 1);
    let e = ExperimentConfig::from_ron(&bad, "bad.ron")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("bad.ron:") && e.contains("integer"), "{e}");
    // A value out of range.
    let bad = text.replacen("ema_decay: 0.9,", "ema_decay: 1.5,", 1);
    let e = ExperimentConfig::from_ron(&bad, "bad.ron")
        .unwrap_err()
        .to_string();
    assert!(e.contains("train.ema_decay"), "{e}");
}

#[test]
fn seeds_unseen_prompts_and_sweeps_are_checked_and_named() {
    use ifvit_fusion::Fusion;
    use ifvit_train::config::{DataConfig, SweepConfig};
    let mut cfg = common::tiny();
    // Unseen prompts need held-out compositions.
    cfg.eval.unseen_prompts = 3;
    let e = ExperimentConfig::from_ron(&cfg.to_ron(), "u.ron")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("u.ron") && e.contains("eval.unseen_prompts") && e.contains("holdout:"),
        "{e}"
    );
    let DataConfig::Shapes(s) = &mut cfg.data else {
        unreachable!()
    };
    s.holdout.colour_shapes = 1;
    // A sweep's grid becomes the arms, c-major; it round-trips through RON.
    cfg.sweep = Some(SweepConfig {
        method: "crossattn".into(),
        c: vec![0, 2],
        v: vec![0, 1],
    });
    cfg.train.seeds = 3;
    let back = ExperimentConfig::from_ron(&cfg.to_ron(), "s.ron").unwrap();
    assert_eq!(back, cfg);
    assert_eq!(
        back.sweep.as_ref().unwrap().arms().unwrap(),
        vec![
            Fusion::IntermediateCrossAttn { c: 0, v: 0 },
            Fusion::IntermediateCrossAttn { c: 0, v: 1 },
            Fusion::IntermediateCrossAttn { c: 2, v: 0 },
            Fusion::IntermediateCrossAttn { c: 2, v: 1 },
        ]
    );
    // Run k of the seeds: seed + k for training and evaluation, one run.
    let k2 = back.for_seed(2);
    assert_eq!(
        (k2.train.seed, k2.eval.seed, k2.train.seeds),
        (back.train.seed + 2, back.eval.seed + 2, 1)
    );
    assert!(k2.sweep.is_none());
    // A grid cell that does not fit the model (depth 2: v <= 1) and an unknown method.
    for (sweep, field, needle) in [
        (
            ("crossattn", vec![0], vec![2]),
            "sweep.c / sweep.v",
            "v = 2",
        ),
        (
            ("cross-stitch", vec![0], vec![0]),
            "sweep.method",
            "cross-stitch",
        ),
        (("concat", vec![], vec![0]), "sweep", "at least one value"),
    ] {
        let mut bad = back.clone();
        bad.sweep = Some(SweepConfig {
            method: sweep.0.into(),
            c: sweep.1,
            v: sweep.2,
        });
        let e = ExperimentConfig::from_ron(&bad.to_ron(), "b.ron")
            .unwrap_err()
            .to_string();
        assert!(e.contains(field) && e.contains(needle), "{e}");
    }
    // Seeds in range.
    let bad = back.to_ron().replacen("seeds: 3", "seeds: 0", 1);
    let e = ExperimentConfig::from_ron(&bad, "z.ron")
        .unwrap_err()
        .to_string();
    assert!(e.contains("train.seeds"), "{e}");
}

#[test]
fn print_tiny_config() {
    // Handy when editing configs: `cargo test -p ifvit-train --test config print -- --nocapture`.
    println!("{}", common::tiny().to_ron());
}

/// A config with one numeric value replaced by `@`.
const TEMPLATE: &str = r#"(
    name: "prop",
    data: Shapes((image_size: IMAGE_SIZE, object_size: (min: OBJ_MIN, max: OBJ_MAX), jitter: JITTER, placement: canonical)),
    model: (preset: "uvit-tiny", embed_dim: Some(EMBED_DIM), depth: Some(DEPTH), num_heads: Some(NUM_HEADS),
            patch_size: Some(PATCH_SIZE), mlp_ratio: Some(MLP_RATIO), num_text_tokens: Some(NUM_TEXT_TOKENS),
            context_dim: Some(CONTEXT_DIM)),
    arms: [EarlyConcat, IntermediateCrossAttn(c: ARM_C, v: ARM_V)],
    diffusion: (schedule: ScaledLinear(beta_start: BETA_START, beta_end: BETA_END), num_steps: NUM_STEPS,
                prediction: sample, loss_weighting: Uniform),
    optim: (lr: LR, betas: (BETA1, BETA2), eps: EPS, weight_decay: WEIGHT_DECAY, warmup_steps: WARMUP_STEPS),
    train: (batch_size: BATCH_SIZE, steps: STEPS, seed: SEED, ema_decay: EMA_DECAY, caption_dropout: CAPTION_DROPOUT,
            checkpoint_every: CHECKPOINT_EVERY, keep_checkpoints: KEEP_CHECKPOINTS, log_every: LOG_EVERY,
            devices: DEVICES),
    eval: (prompts: PROMPTS, sampler: Ddim(steps: SAMPLER_STEPS, eta: ETA), guidance: GUIDANCE,
           batch_size: EVAL_BATCH, grid_prompts: GRID_PROMPTS, seed: EVAL_SEED),
)"#;

/// (placeholder, valid value, words one of which the error must contain)
const FIELDS: &[(&str, &str, &[&str])] = &[
    ("IMAGE_SIZE", "16", &["image_size"]),
    ("OBJ_MIN", "6", &["object_size", "min"]),
    ("OBJ_MAX", "6", &["object_size", "max"]),
    ("JITTER", "0", &["jitter"]),
    ("EMBED_DIM", "16", &["embed_dim"]),
    ("DEPTH", "2", &["depth"]),
    ("NUM_HEADS", "2", &["num_heads"]),
    ("PATCH_SIZE", "4", &["patch_size"]),
    ("MLP_RATIO", "2.0", &["mlp_ratio"]),
    ("NUM_TEXT_TOKENS", "8", &["num_text_tokens"]),
    ("CONTEXT_DIM", "16", &["context_dim"]),
    ("ARM_C", "1", &["c =", "c:", "`c`"]),
    ("ARM_V", "1", &["v =", "v:", "`v`"]),
    ("BETA_START", "0.00085", &["beta_start"]),
    ("BETA_END", "0.012", &["beta_end"]),
    ("NUM_STEPS", "1000", &["num_steps", "steps"]),
    ("LR", "0.001", &["lr"]),
    ("BETA1", "0.9", &["betas"]),
    ("BETA2", "0.99", &["betas"]),
    ("EPS", "1e-8", &["eps"]),
    ("WEIGHT_DECAY", "0.03", &["weight_decay"]),
    ("WARMUP_STEPS", "2", &["warmup_steps"]),
    ("BATCH_SIZE", "4", &["batch_size"]),
    ("STEPS", "3", &["steps"]),
    ("SEED", "3", &["seed"]),
    ("EMA_DECAY", "0.9", &["ema_decay"]),
    ("CAPTION_DROPOUT", "0.1", &["caption_dropout"]),
    ("CHECKPOINT_EVERY", "2", &["checkpoint_every"]),
    ("KEEP_CHECKPOINTS", "2", &["keep_checkpoints"]),
    ("LOG_EVERY", "1", &["log_every"]),
    ("DEVICES", "1", &["devices"]),
    ("PROMPTS", "6", &["prompts"]),
    ("SAMPLER_STEPS", "2", &["steps"]),
    ("ETA", "0.0", &["eta"]),
    ("GUIDANCE", "2.0", &["guidance"]),
    ("EVAL_BATCH", "6", &["batch_size"]),
    ("GRID_PROMPTS", "3", &["grid_prompts"]),
    ("EVAL_SEED", "0", &["seed"]),
];

fn fill(field: usize, value: &str) -> String {
    let mut text = TEMPLATE.to_string();
    for (i, (name, valid, _)) in FIELDS.iter().enumerate() {
        // Longest names first would matter for prefixes; none of the names is a prefix of
        // another followed by the same character, so a word-boundary replace is enough.
        let v = if i == field { value } else { valid };
        text = replace_word(&text, name, v);
    }
    text
}

fn replace_word(text: &str, word: &str, with: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(word) {
        let after = &rest[i + word.len()..];
        let boundary = !after.starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
            && !rest[..i].ends_with(|c: char| c.is_ascii_uppercase() || c == '_');
        out.push_str(&rest[..i]);
        out.push_str(if boundary { with } else { word });
        rest = after;
    }
    out.push_str(rest);
    out
}

#[test]
fn the_property_template_is_valid_and_bad_values_are_named() {
    ExperimentConfig::from_ron(&fill(usize::MAX, ""), "prop.ron").unwrap();
    let err = |name: &str, value: &str| {
        let i = FIELDS.iter().position(|f| f.0 == name).unwrap();
        ExperimentConfig::from_ron(&fill(i, value), "prop.ron")
            .unwrap_err()
            .to_string()
    };
    for (name, value, expected) in [
        ("STEPS", "-5", "field `steps`"),
        (
            "BATCH_SIZE",
            "100000",
            "train.batch_size`: 100000 is not in 1..=4096",
        ),
        ("EPS", "NaN", "optim.eps"),
        ("EMBED_DIM", "0", "model.embed_dim"),
        ("BETA_END", "7.0", "beta_end"),
        ("IMAGE_SIZE", "0", "image_size"),
        ("DEVICES", "1e400", "field `devices`"),
    ] {
        let e = err(name, value);
        assert!(e.contains(expected), "{name} = {value}: {e}");
    }
}

fn any_value() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    prop_oneof![
        any::<u64>().prop_map(|v| v.to_string()),
        any::<i64>().prop_map(|v| v.to_string()),
        (0u64..5000).prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| format!("{v:?}")),
        (-10.0f64..10.0).prop_map(|v| format!("{v:?}")),
        Just("NaN".to_string()),
        Just("inf".to_string()),
        Just("-inf".to_string()),
        Just("1e400".to_string()),
        "[a-z\\\"(){}:,]{0,6}",
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
    /// Any value in any numeric field: the loader returns a config or an error that names
    /// the field; it never panics.
    #[test]
    fn any_value_in_any_field_is_loaded_or_named(field in 0..FIELDS.len(), value in any_value()) {
        let text = fill(field, &value);
        let result = std::panic::catch_unwind(|| ExperimentConfig::from_ron(&text, "prop.ron"));
        let Ok(result) = result else {
            panic!("the loader panicked on {} = {value}", FIELDS[field].0);
        };
        if let Err(e) = result {
            let e = e.to_string();
            let words = FIELDS[field].2;
            proptest::prop_assert!(
                e.starts_with("prop.ron") && words.iter().any(|w| e.contains(w)),
                "{} = {value}: the error does not name the field: {e}", FIELDS[field].0
            );
        }
    }
}
