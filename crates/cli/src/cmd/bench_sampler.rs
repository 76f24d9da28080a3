//! `ifvit bench sampler`: sampler overhead over the model evaluations it makes.
//!
//! Times the full sampling loop of a random-init U-ViT (random context, random x_T) and, in
//! the same process on the same shapes, the same number of bare model forwards (batch 2B
//! with guidance, since a guided step is one batched forward of [cond; uncond]). The
//! difference is what the sampler (and guidance's concat/split/combine) costs. That
//! difference is small and noisy on a busy machine, so the same loop is also timed with the
//! network replaced by the identity: the sampler's own cost, measured directly.

use std::time::Instant;

use anyhow::{Context, Result, ensure};
use burn::tensor::{Device, Tensor};
use ifvit_diffusion::{
    NoiseSchedule, Prediction, SamplerConfig, SamplerOptions, Spacing, check_guidance, guided,
    randn, sample, seeded_rng,
};
use ifvit_uvit::UViT;
use serde::Serialize;

#[derive(clap::Args, Debug)]
pub struct BenchSamplerArgs {
    #[command(flatten)]
    pub model: super::bench_model::BenchModelArgs,
    /// Sampler (see `ifvit schedulers`).
    #[arg(long, default_value = "dpm-solver++")]
    pub sampler: String,
    /// Model evaluations.
    #[arg(long, default_value_t = 50, value_parser = crate::args::count(1..=1000))]
    pub steps: usize,
    /// DDIM eta.
    #[arg(long, value_parser = crate::args::eta)]
    pub eta: Option<f64>,
    /// DPM-Solver++ order.
    #[arg(long, value_parser = crate::args::count(1..=3))]
    pub order: Option<usize>,
    /// DDPM/DDIM timestep spacing: leading, trailing, linspace.
    #[arg(long)]
    pub spacing: Option<String>,
    /// What the network predicts: epsilon, sample, v.
    #[arg(long, default_value = "epsilon")]
    pub prediction: String,
    /// Images per sampling run.
    #[arg(long, default_value_t = 16, value_parser = crate::args::count(1..=crate::args::MAX_BATCH))]
    pub batch: usize,
    /// Classifier-free guidance scale w (eps_u + w (eps_c - eps_u)); off when absent.
    #[arg(long, allow_negative_numbers = true, value_parser = crate::args::guidance)]
    pub guidance: Option<f64>,
    /// Timed repetitions of each measurement (the median is reported).
    #[arg(long, default_value_t = 3, value_parser = crate::args::count(1..=1000))]
    pub repeats: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// What `bench sampler --json` prints.
#[derive(Serialize, Debug)]
pub struct SamplerBench {
    pub preset: String,
    pub fusion: String,
    pub sampler: SamplerConfig,
    pub batch: usize,
    pub guidance: Option<f64>,
    /// Network batch per model evaluation (2 x batch with guidance).
    pub model_batch: usize,
    pub nfe: usize,
    /// Full sampling loop, seconds, each repeat.
    pub sampler_s: Vec<f64>,
    /// `nfe` bare forwards, seconds, each repeat.
    pub bare_s: Vec<f64>,
    /// The sampling loop with the identity as the network, seconds, each repeat.
    pub sampler_only_s: Vec<f64>,
    pub median_sampler_s: f64,
    pub median_bare_s: f64,
    pub median_sampler_only_s: f64,
    /// `(sampler - bare) / bare`.
    pub overhead: f64,
    /// `sampler_only / bare`: the same overhead, measured without the network.
    pub overhead_direct: f64,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

pub fn run(args: &BenchSamplerArgs, device: &Device) -> Result<()> {
    ensure!(args.batch > 0, "--batch must be positive");
    ensure!(args.repeats > 0, "--repeats must be positive");
    let model_cfg = args.model.config()?;
    let model = UViT::new(&model_cfg, device)?;
    let spacing = args.spacing.as_deref().map(Spacing::parse).transpose()?;
    let opts = SamplerOptions {
        eta: args.eta,
        order: args.order,
        spacing,
    };
    let cfg = SamplerConfig::parse(&args.sampler, args.steps, &opts)?;
    let schedule = NoiseSchedule::default();
    cfg.validate(schedule.num_steps())?;
    let prediction = Prediction::parse(&args.prediction)?;
    let w = args.guidance.map(check_guidance).transpose()?;

    let mut rng = seeded_rng(args.seed);
    let (b, c, s) = (args.batch, model_cfg.in_chans, model_cfg.img_size);
    let rows = if w.is_some() { 2 * b } else { b };
    // [rows, Nt, Dc]: with guidance the first half plays the caption, the second the empty one
    let context: Tensor<3> = randn(
        [rows, model_cfg.num_text_tokens, model_cfg.context_dim],
        &mut rng,
        device,
    );
    let x_t = randn([b, c, s, s], &mut rng, device);
    let nfe = cfg.nfe();

    // the full loop; with `network = false` the identity stands in for the network
    let time_loop = |seed: u64, network: bool| -> Result<f64> {
        let net = |x: Tensor<4>, t: Tensor<1>| {
            if network {
                model.forward(x, t, context.clone())
            } else {
                x
            }
        };
        let mut rng = seeded_rng(seed);
        let start = Instant::now();
        let out = match w {
            Some(w) => sample(
                &cfg,
                &schedule,
                prediction,
                x_t.clone(),
                &mut rng,
                guided(w, net)?,
            )?,
            None => sample(&cfg, &schedule, prediction, x_t.clone(), &mut rng, net)?,
        };
        out.into_data(); // waits for the device
        Ok(start.elapsed().as_secs_f64())
    };
    let time_sampler = |seed: u64| time_loop(seed, true);
    let time_bare = || -> f64 {
        let mut x = if w.is_some() {
            Tensor::cat(vec![x_t.clone(), x_t.clone()], 0)
        } else {
            x_t.clone()
        };
        let t = Tensor::<1>::full([rows], 500.0, device);
        let start = Instant::now();
        for _ in 0..nfe {
            // chained like sampling, so lazy backends cannot skip a forward
            x = model.forward(x, t.clone(), context.clone());
        }
        x.into_data();
        start.elapsed().as_secs_f64()
    };

    // warm-up: allocator, kernels, caches
    model
        .forward(
            x_t.clone().narrow(0, 0, 1),
            Tensor::full([1], 1.0, device),
            context.clone().narrow(0, 0, 1),
        )
        .into_data();
    let (mut sampler_s, mut bare_s, mut sampler_only_s) = (vec![], vec![], vec![]);
    for r in 0..args.repeats {
        sampler_only_s.push(time_loop(args.seed + r as u64, false).context("sampling")?);
        // alternate the order so that drift (thermal, other load) hits both alike
        if r % 2 == 0 {
            sampler_s.push(time_sampler(args.seed + r as u64).context("sampling")?);
            bare_s.push(time_bare());
        } else {
            bare_s.push(time_bare());
            sampler_s.push(time_sampler(args.seed + r as u64).context("sampling")?);
        }
    }
    let (ms, mb, mo) = (median(&sampler_s), median(&bare_s), median(&sampler_only_s));
    let r = SamplerBench {
        preset: args.model.preset.clone(),
        fusion: model_cfg.fusion.to_string(),
        sampler: cfg,
        batch: b,
        guidance: w,
        model_batch: rows,
        nfe,
        sampler_s,
        bare_s,
        sampler_only_s,
        median_sampler_s: ms,
        median_bare_s: mb,
        median_sampler_only_s: mo,
        overhead: (ms - mb) / mb,
        overhead_direct: mo / mb,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    let guidance = match w {
        Some(w) => format!("guidance w = {w} (one forward of batch {rows} per evaluation)"),
        None => "no guidance".to_string(),
    };
    println!(
        "{} {}, {} with {} NFE, batch {}, {}",
        r.preset,
        r.fusion,
        r.sampler.name(),
        nfe,
        b,
        guidance
    );
    println!(
        "  full sampling loop   {:>10.2} ms  (median of {})",
        ms * 1e3,
        args.repeats
    );
    println!("  {nfe} bare forwards   {:>10.2} ms", mb * 1e3);
    println!(
        "  sampler alone        {:>10.2} ms  (identity in place of the network)",
        mo * 1e3
    );
    println!(
        "  sampler overhead     {:>+10.2} %  (loop - forwards; directly: {:.2} %)",
        r.overhead * 100.0,
        r.overhead_direct * 100.0
    );
    Ok(())
}
