//! `ifvit bench train`: training step time, img/s and achieved GFLOP/s.

use anyhow::{Context, Result};
use burn::tensor::Device;
use ifvit_train::bench::{self, TrainBenchOptions};

#[derive(clap::Args, Debug)]
pub struct BenchTrainArgs {
    #[command(flatten)]
    pub model: super::bench_model::BenchModelArgs,
    /// Override the preset's width.
    #[arg(long, value_parser = crate::args::count(1..=16384))]
    pub dim: Option<usize>,
    /// Override the preset's depth.
    #[arg(long, value_parser = crate::args::count(1..=256))]
    pub depth: Option<usize>,
    /// Override the preset's number of heads.
    #[arg(long, value_parser = crate::args::count(1..=256))]
    pub heads: Option<usize>,
    /// Override the preset's patch size.
    #[arg(long, value_parser = crate::args::count(1..=64))]
    pub patch: Option<usize>,
    /// Override the preset's number of text tokens.
    #[arg(long, value_parser = crate::args::count(1..=1024))]
    pub text_tokens: Option<usize>,
    /// Batch size.
    #[arg(long, default_value_t = 32, value_parser = crate::args::count(1..=crate::args::MAX_BATCH))]
    pub batch: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 20, value_parser = crate::args::count(1..=100_000))]
    pub steps: usize,
    /// Untimed warm-up steps.
    #[arg(long, default_value_t = 3, value_parser = crate::args::count(0..=100_000))]
    pub warmup: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &BenchTrainArgs, device: &Device) -> Result<()> {
    anyhow::ensure!(
        args.batch > 0 && args.steps > 0,
        "--batch and --steps must be positive"
    );
    let mut config = args.model.config()?;
    let mut label = args.model.preset.clone();
    for (name, value, field) in [
        ("dim", args.dim, &mut config.embed_dim),
        ("depth", args.depth, &mut config.depth),
        ("heads", args.heads, &mut config.num_heads),
        ("patch", args.patch, &mut config.patch_size),
        ("text-tokens", args.text_tokens, &mut config.num_text_tokens),
    ] {
        if let Some(v) = value {
            *field = v;
            label.push_str(&format!(" {name}={v}"));
        }
    }
    let opts = TrainBenchOptions {
        preset: label,
        config,
        batch: args.batch,
        steps: args.steps,
        warmup: args.warmup,
    };
    let r = bench::run(&opts, device)
        .with_context(|| format!("bench train --preset {}", args.model.preset))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    println!(
        "{} {} batch {} ({} params, {:.3} fwd GMACs/sample)",
        r.preset, r.fusion, r.batch, r.params, r.forward_gmacs_per_sample
    );
    println!(
        "  median step      {:.2} ms over {} steps",
        r.median_step_ms,
        r.step_ms.len()
    );
    println!("  throughput       {:.1} img/s", r.images_per_s);
    println!(
        "  achieved         {:.1} GFLOP/s (3 x forward FLOPs)",
        r.achieved_gflops
    );
    println!(
        "  matmul baseline  {:.1} GFLOP/s (same process, fp32 1024^3)  -> efficiency {:.0}%",
        r.matmul_gflops,
        100.0 * r.achieved_gflops / r.matmul_gflops
    );
    if let Some(m) = r.peak_rss_mib {
        println!("  peak RSS         {m:.0} MiB");
    }
    Ok(())
}
