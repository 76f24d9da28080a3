//! `ifvit bench ...`: measured performance, reported against a baseline run in the same
//! process.

use anyhow::Result;
use burn::tensor::Device;

use super::{bench_encoders, bench_sampler, bench_train};

#[derive(clap::Subcommand, Debug)]
pub enum BenchCommand {
    /// Training step: median step time, img/s, achieved GFLOP/s.
    Train(bench_train::BenchTrainArgs),
    /// Sampler overhead relative to the model evaluations it makes.
    Sampler(bench_sampler::BenchSamplerArgs),
    /// Frozen pretrained networks: MiniLM captions/s, Inception and CLIP images/s, peak memory.
    Encoders(bench_encoders::BenchEncodersArgs),
}

pub fn run(cmd: &BenchCommand, device: &Device) -> Result<()> {
    match cmd {
        BenchCommand::Train(a) => bench_train::run(a, device),
        BenchCommand::Sampler(a) => bench_sampler::run(a, device),
        BenchCommand::Encoders(a) => bench_encoders::run(a, device),
    }
}
