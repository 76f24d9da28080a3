//! `ifvit data ...`: look at the data sets.

use anyhow::{Result, bail};
use burn::tensor::Device;

#[derive(clap::Args, Debug)]
pub struct DataArgs {}

pub fn run(_args: &DataArgs, _device: &Device) -> Result<()> {
    bail!("`ifvit data` is not implemented yet")
}
