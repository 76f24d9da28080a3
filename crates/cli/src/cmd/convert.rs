//! `ifvit convert`: rename a checkpoint of another layout to ifvit's, and check that it loads.

use std::path::PathBuf;

use anyhow::{Context, Result};
use burn::module::Module;
use burn::tensor::Device;
use ifvit_fusion::state::StateDict;
use ifvit_uvit::{UViT, from_released_fusion};

use super::model_args::ModelArgs;

/// Checkpoint layouts `convert` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Layout {
    /// The released intermediate-fusion PyTorch code (`caption_blocks`, `image_blocks`,
    /// `joint_blocks`, `joint_skip_blocks`, `image_skip_blocks`).
    ReleasedFusion,
}

#[derive(clap::Args, Debug)]
pub struct ConvertArgs {
    /// Layout of the input file.
    #[arg(long, value_enum)]
    pub from: Layout,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Input safetensors file.
    pub input: PathBuf,
    /// Output safetensors file (ifvit layout; written only once it loads).
    pub output: PathBuf,
}

pub fn run(args: &ConvertArgs, device: &Device) -> Result<()> {
    let cfg = args.model.config()?;
    let sd = StateDict::read_safetensors(&args.input)?;
    let converted = match args.from {
        Layout::ReleasedFusion => from_released_fusion(&sd, &cfg, device)?,
    };
    // Check the result loads (strictly) before it replaces anything at the output path.
    let tmp = args.output.with_extension("converting.safetensors");
    converted.write_safetensors(&tmp)?;
    let loaded = UViT::from_safetensors(&cfg, &tmp, device);
    let model = match loaded {
        Ok(m) => m,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e).with_context(|| {
                format!(
                    "{} converted from the {:?} layout does not fit {}",
                    args.input.display(),
                    args.from,
                    cfg.fusion
                )
            });
        }
    };
    std::fs::rename(&tmp, &args.output)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    println!(
        "{} -> {}: {} tensors, {} parameters, {}",
        args.input.display(),
        args.output.display(),
        converted.len(),
        model.num_params(),
        cfg.fusion
    );
    Ok(())
}
