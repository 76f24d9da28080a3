//! `ifvit schedulers`: the noise schedules, objectives and samplers, with their options.

use anyhow::{Result, bail};

#[derive(clap::Args, Debug)]
pub struct SchedulersArgs {}

pub fn run(_args: &SchedulersArgs) -> Result<()> {
    bail!("`ifvit schedulers` is not implemented yet")
}
