//! The model a benchmark builds: a preset (random weights) and a fusion strategy.

use anyhow::Result;
use ifvit_fusion::Fusion;
use ifvit_uvit::UViTConfig;

#[derive(clap::Args, Debug)]
pub struct BenchModelArgs {
    /// Model size preset (random weights).
    #[arg(long, default_value = "uvit-tiny")]
    pub preset: String,
    /// Fusion strategy.
    #[arg(long, default_value = "early-concat")]
    pub fusion: String,
    /// Text-only blocks of an intermediate strategy (default 3).
    #[arg(long, value_parser = crate::args::count(0..=crate::args::MAX_BLOCKS))]
    pub c: Option<usize>,
    /// Image-only blocks at each end of an intermediate strategy (default 3).
    #[arg(long, value_parser = crate::args::count(0..=crate::args::MAX_BLOCKS))]
    pub v: Option<usize>,
}

impl BenchModelArgs {
    /// The preset's config with the chosen strategy.
    pub fn config(&self) -> Result<UViTConfig> {
        let fusion = Fusion::parse(&self.fusion, self.c, self.v)?;
        Ok(UViTConfig::preset(&self.preset, fusion)?)
    }
}
