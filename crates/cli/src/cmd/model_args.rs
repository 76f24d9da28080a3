//! The model a command works on: a config JSON file (`--model`), or a preset and a fusion
//! strategy.

use std::path::PathBuf;

use anyhow::{Context, Result};
use ifvit_uvit::UViTConfig;

use super::fusion_args::FusionArgs;

#[derive(clap::Args, Debug)]
pub struct ModelArgs {
    /// Model config as JSON (the fields of `UViTConfig`, as in the parity fixtures'
    /// `*.config.json`); replaces --preset/--fusion/--c/--v.
    #[arg(long, conflicts_with_all = ["preset", "fusion", "c", "v"])]
    pub model: Option<PathBuf>,
    /// Model size preset (uvit-s2, uvit-s2-deep, uvit-tiny).
    #[arg(long, default_value = "uvit-s2")]
    pub preset: String,
    #[command(flatten)]
    pub strategy: FusionArgs,
}

impl ModelArgs {
    pub fn config(&self) -> Result<UViTConfig> {
        if let Some(path) = &self.model {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read model config {}", path.display()))?;
            let cfg: UViTConfig = serde_json::from_str(&text)
                .with_context(|| format!("model config {}", path.display()))?;
            cfg.validate()
                .with_context(|| format!("model config {}", path.display()))?;
            return Ok(cfg);
        }
        Ok(UViTConfig::preset(&self.preset, self.strategy.strategy()?)?)
    }
}
