//! `ifvit bench sampler`: sampler overhead over the model evaluations it makes.

use anyhow::{Result, bail};
use burn::tensor::Device;

#[derive(clap::Args, Debug)]
pub struct BenchSamplerArgs {}

pub fn run(_args: &BenchSamplerArgs, _device: &Device) -> Result<()> {
    bail!("`ifvit bench sampler` is not implemented yet")
}
