//! `ifvit bench train`: training step time, img/s and achieved GFLOP/s.

use anyhow::{Result, bail};
use burn::tensor::Device;

#[derive(clap::Args, Debug)]
pub struct BenchTrainArgs {}

pub fn run(_args: &BenchTrainArgs, _device: &Device) -> Result<()> {
    bail!("`ifvit bench train` is not implemented yet")
}
