//! `ifvit forward`: run the network on tensors from a file, to compare with PyTorch.

use std::path::PathBuf;

use anyhow::{Result, bail};
use burn::tensor::{Device, Tensor, TensorData};
use ifvit_fusion::state::StateDict;
use ifvit_uvit::UViT;

use super::model_args::ModelArgs;

#[derive(clap::Args, Debug)]
pub struct ForwardArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Weights (PyTorch layout safetensors, ifvit names).
    #[arg(long)]
    pub weights: PathBuf,
    /// Inputs: a safetensors file with `x` [B, C, H, W], `t` [B] (model time) and `context`
    /// [B, L, context_dim].
    #[arg(long)]
    pub inputs: PathBuf,
    /// Output safetensors file with `out` [B, C, H, W].
    #[arg(long)]
    pub out: PathBuf,
}

/// The tensor `name` of `io`, checked against the expected rank and sizes (`None`: any).
fn input<const D: usize>(
    io: &StateDict,
    name: &str,
    expected: [Option<usize>; D],
    device: &Device,
) -> Result<Tensor<D>> {
    let Some(t) = io.get(name) else {
        bail!(
            "{}: missing tensor `{name}` (expected shape {})",
            io.origin(),
            shape_text(&expected)
        );
    };
    let fits = t.shape.len() == D
        && t.shape
            .iter()
            .zip(&expected)
            .all(|(s, e)| e.is_none_or(|e| e == *s));
    if !fits {
        bail!(
            "{}: tensor `{name}` has shape {:?}, expected {}",
            io.origin(),
            t.shape,
            shape_text(&expected)
        );
    }
    Ok(Tensor::from_data(
        TensorData::new(t.data.clone(), t.shape.clone()),
        device,
    ))
}

fn shape_text(s: &[Option<usize>]) -> String {
    let dims: Vec<String> = s
        .iter()
        .map(|d| d.map_or("_".to_string(), |d| d.to_string()))
        .collect();
    format!("[{}]", dims.join(", "))
}

pub fn run(args: &ForwardArgs, device: &Device) -> Result<()> {
    let cfg = args.model.config()?;
    let model = UViT::from_safetensors(&cfg, &args.weights, device)?;
    let io = StateDict::read_safetensors(&args.inputs)?;
    let (c, s) = (Some(cfg.in_chans), Some(cfg.img_size));
    let x: Tensor<4> = input(&io, "x", [None, c, s, s], device)?;
    let b = Some(x.dims()[0]);
    let t: Tensor<1> = input(&io, "t", [b], device)?;
    let ctx = [b, Some(cfg.num_text_tokens), Some(cfg.context_dim)];
    let context: Tensor<3> = input(&io, "context", ctx, device)?;
    let out = model.forward(x, t, context);
    let mut sd = StateDict::new(args.out.display().to_string());
    sd.put("out", out);
    sd.write_safetensors(&args.out)?;
    println!(
        "{}: out {:?}",
        args.out.display(),
        sd.get("out").unwrap().shape
    );
    Ok(())
}
