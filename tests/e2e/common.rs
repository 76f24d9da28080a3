//! What the command-line tests share: the `ifvit` binary, a tiny experiment config (16 px
//! shapes, a 2-block U-ViT of width 16; `STEPS` is replaced by the step budget), output checks.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The tiny experiment (`config` writes it with a step budget).
pub const TINY: &str = r#"(
    name: "tiny-cli",
    data: Shapes((image_size: 16, object_size: (min: 6, max: 6), jitter: 0, placement: canonical)),
    model: (preset: "uvit-tiny", embed_dim: Some(16), depth: Some(2), num_heads: Some(2),
            patch_size: Some(4), mlp_ratio: Some(2.0), num_text_tokens: Some(8), context_dim: Some(16)),
    arms: [EarlyConcat, IntermediateCrossAttn(c: 1, v: 1)],
    diffusion: (schedule: ScaledLinear(beta_start: 0.00085, beta_end: 0.012), num_steps: 1000,
                prediction: sample, loss_weighting: Uniform),
    optim: (lr: 0.001, betas: (0.9, 0.99), eps: 1e-8, weight_decay: 0.03, warmup_steps: 2),
    train: (batch_size: 4, steps: STEPS, seed: 3, ema_decay: 0.9, caption_dropout: 0.1,
            checkpoint_every: 2, keep_checkpoints: 2, log_every: 1),
    eval: (prompts: 6, sampler: Ddim(steps: 2, eta: 0.0), guidance: 2.0, batch_size: 6,
           grid_prompts: 3, seed: 0),
)"#;

pub fn ifvit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ifvit"))
}

/// Writes `TINY` with `steps` steps into `dir`.
pub fn config(dir: &Path, steps: u64) -> PathBuf {
    let p = dir.join(format!("tiny-{steps}.ron"));
    std::fs::write(&p, TINY.replace("STEPS", &steps.to_string())).unwrap();
    p
}

/// Stdout of a command that must succeed.
pub fn ok(out: Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Stdout then stderr of a command that must succeed.
pub fn ok_all(out: Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).to_string() + &stderr
}

/// Every row of a CSV text has the header's number of columns (commas outside quoted fields:
/// arm names hold commas).
pub fn assert_csv_rectangular(csv: &str) {
    let cols = |l: &str| {
        l.split('"')
            .step_by(2)
            .map(|p| p.matches(',').count())
            .sum::<usize>()
    };
    let header = cols(csv.lines().next().unwrap());
    for l in csv.lines() {
        assert_eq!(cols(l), header, "{l}");
    }
}
