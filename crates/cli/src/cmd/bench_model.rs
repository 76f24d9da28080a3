//! The model a benchmark builds: a preset (random weights) and a fusion strategy.

use anyhow::Result;
use ifvit_uvit::UViTConfig;

use super::fusion_args::FusionArgs;

#[derive(clap::Args, Debug)]
pub struct BenchModelArgs {
    /// Model size preset (random weights).
    #[arg(long, default_value = "uvit-tiny")]
    pub preset: String,
    #[command(flatten)]
    pub strategy: FusionArgs,
}

impl BenchModelArgs {
    /// The preset's config with the chosen strategy.
    pub fn config(&self) -> Result<UViTConfig> {
        Ok(UViTConfig::preset(&self.preset, self.strategy.strategy()?)?)
    }
}
