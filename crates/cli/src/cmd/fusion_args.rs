//! `--fusion NAME [--c C] [--v V]`: a built-in fusion strategy on the command line.

use ifvit_fusion::{Fusion, FusionError};

#[derive(clap::Args, Debug)]
pub struct FusionArgs {
    /// Fusion strategy: early-concat, early-crossattn, intermediate-concat,
    /// intermediate-crossattn, {early,intermediate}-pixart-crossattn,
    /// {early,intermediate}-mmdit-joint.
    #[arg(long, default_value = "early-concat")]
    pub fusion: String,
    /// Text-only blocks of an intermediate strategy (default 3; 0 to 256).
    #[arg(long, value_parser = crate::args::count(0..=crate::args::MAX_BLOCKS))]
    pub c: Option<usize>,
    /// Image-only blocks at each end of an intermediate strategy (default 3; 0 to 256).
    #[arg(long, value_parser = crate::args::count(0..=crate::args::MAX_BLOCKS))]
    pub v: Option<usize>,
}

impl FusionArgs {
    pub fn strategy(&self) -> Result<Fusion, FusionError> {
        Fusion::parse(&self.fusion, self.c, self.v)
    }
}
