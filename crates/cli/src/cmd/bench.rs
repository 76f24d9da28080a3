//! `ifvit bench ...`: measured performance, reported against a baseline run in the same
//! process.

use anyhow::Result;
use burn::tensor::Device;

use super::{bench_sampler, bench_train};

#[derive(clap::Subcommand, Debug)]
pub enum BenchCommand {
    /// Training step: median step time, img/s, achieved GFLOP/s.
    Train(bench_train::BenchTrainArgs),
    /// Sampler overhead relative to the model evaluations it makes.
    Sampler(bench_sampler::BenchSamplerArgs),
}

pub fn run(cmd: &BenchCommand, device: &Device) -> Result<()> {
    match cmd {
        BenchCommand::Train(a) => bench_train::run(a, device),
        BenchCommand::Sampler(a) => bench_sampler::run(a, device),
    }
}
