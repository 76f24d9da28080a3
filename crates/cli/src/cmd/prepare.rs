//! `ifvit prepare coco`: the MS-COCO feature cache (SPEC section 5).

use anyhow::{Result, bail};
use burn::tensor::Device;

#[derive(clap::Args, Debug)]
pub struct PrepareArgs {}

pub fn run(_args: &PrepareArgs, _device: &Device) -> Result<()> {
    bail!("`ifvit prepare` is not implemented yet")
}
