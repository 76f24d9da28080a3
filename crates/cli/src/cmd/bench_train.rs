//! `ifvit bench train`: training step time, img/s and achieved GFLOP/s.

use anyhow::{Context, Result};
use burn::tensor::Device;
use ifvit_train::bench::{self, TrainBenchOptions};

use super::pytorch::{Baseline, Script, field, max_opt, median, model_args};

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
    /// Also time burn's own ops in place of the fused kernels (ifvit-kernels), alternating
    /// the two paths in this process, and print the ratio.
    #[arg(long)]
    pub compare_kernels: bool,
    /// Also run the committed PyTorch eager step (scripts/bench/pytorch_train_step.py) on the
    /// same model and sizes, alternating with ifvit for `--rounds` rounds, and print both
    /// and the ratio.
    #[arg(long, conflicts_with = "compare_kernels")]
    pub vs_pytorch: bool,
    /// Rounds of `--vs-pytorch` (ifvit then PyTorch in each; medians reported).
    #[arg(long, default_value_t = 3, value_parser = crate::args::count(1..=100))]
    pub rounds: usize,
    #[command(flatten)]
    pub python: super::pytorch::PythonArgs,
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
    let overridden = label != args.model.preset;
    let opts = TrainBenchOptions {
        preset: label,
        config,
        batch: args.batch,
        steps: args.steps,
        warmup: args.warmup,
    };
    if args.compare_kernels {
        return compare_kernels(&opts, device);
    }
    if args.vs_pytorch {
        anyhow::ensure!(
            !overridden,
            "--vs-pytorch runs the PyTorch script on its presets only: drop --dim, --depth, \
             --heads, --patch and --text-tokens"
        );
        return vs_pytorch(args, &opts, device);
    }
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

/// Fused kernels against burn's ops, alternated over three rounds in one process.
fn compare_kernels(opts: &TrainBenchOptions, device: &Device) -> Result<()> {
    let mut fused = Vec::new();
    let mut plain = Vec::new();
    for round in 0..3 {
        for on in [true, false] {
            ifvit_kernels::set_enabled(on);
            let r = bench::run(opts, device).context("bench train --compare-kernels")?;
            eprintln!(
                "round {round}: kernels {:<3} median step {:.2} ms, {:.1} img/s",
                if on { "on" } else { "off" },
                r.median_step_ms,
                r.images_per_s
            );
            if on { &mut fused } else { &mut plain }.push(r.images_per_s);
        }
    }
    ifvit_kernels::set_enabled(true);
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (f, p) = (med(&mut fused), med(&mut plain));
    println!(
        "{} batch {}: fused kernels {f:.1} img/s, burn ops {p:.1} img/s, ratio {:.2}x \
         (median of 3 alternated rounds)",
        opts.preset,
        opts.batch,
        f / p
    );
    Ok(())
}

/// ifvit and the PyTorch eager step, alternated for `--rounds` rounds; medians and ratio.
fn vs_pytorch(args: &BenchTrainArgs, opts: &TrainBenchOptions, device: &Device) -> Result<()> {
    let baseline = Baseline::new(&args.python, Script::TrainStep)?;
    let mut py_args = model_args(&args.model.preset, opts.config.fusion);
    for (name, value) in [
        ("--batch", opts.batch),
        ("--steps", opts.steps),
        ("--warmup", opts.warmup),
    ] {
        py_args.extend([name.to_string(), value.to_string()]);
    }
    let (mut ours, mut theirs, mut ratios) = (vec![], vec![], vec![]);
    let (mut rss_ours, mut rss_theirs) = (None, None::<f64>);
    for round in 0..args.rounds {
        let r = bench::run(opts, device).context("bench train --vs-pytorch")?;
        let py = baseline.run(Script::TrainStep, &py_args)?;
        let p = field(&py, "images_per_s")?;
        let p_ms = field(&py, "median_step_ms")?;
        eprintln!(
            "round {round}: ifvit {:.2} ms/step {:.1} img/s | PyTorch {p_ms:.2} ms/step {p:.1} \
             img/s | ratio {:.2}x",
            r.median_step_ms,
            r.images_per_s,
            r.images_per_s / p
        );
        ours.push(r.images_per_s);
        theirs.push(p);
        ratios.push(r.images_per_s / p);
        rss_ours = r.peak_rss_mib;
        let rss = field(&py, "peak_rss_mib").ok();
        rss_theirs = max_opt(rss_theirs, rss);
    }
    let mib = |m: Option<f64>| m.map_or("?".to_string(), |m| format!("{m:.0} MiB"));
    println!(
        "{} {} batch {}: ifvit {:.1} img/s, PyTorch eager {:.1} img/s, ratio {:.2}x \
         (medians of {} alternated rounds, {} threads each; peak RSS ifvit {}, PyTorch \
         {})",
        opts.preset,
        opts.config.fusion,
        opts.batch,
        median(&ours),
        median(&theirs),
        median(&ratios),
        args.rounds,
        super::pytorch::threads(),
        mib(rss_ours),
        mib(rss_theirs),
    );
    Ok(())
}
