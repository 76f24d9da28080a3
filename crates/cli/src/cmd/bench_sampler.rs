//! `ifvit bench sampler`: sampler overhead over the model evaluations it makes.
//!
//! Times the full sampling loop of a random-init U-ViT (random context, random x_T) and, in
//! the same process on the same shapes, the same number of bare model forwards (batch 2B
//! with guidance, since a guided step is one batched forward of [cond; uncond]). The
//! difference is what the sampler (and guidance's concat/split/combine) costs. That
//! difference is small and noisy on a busy machine, so the same loop is also timed with the
//! network replaced by the identity: the sampler's own cost, measured directly.

use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use burn::tensor::{Device, Tensor};
use ifvit_diffusion::{
    NoiseSchedule, Prediction, SamplerConfig, SamplerOptions, Spacing, check_guidance, guided,
    randn, sample, seeded_rng,
};
use ifvit_train::bench::peak_rss_mib;
use ifvit_uvit::UViT;
use serde::Serialize;

use super::pytorch::{Baseline, Script, field, max_opt, median, model_args};

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
    /// Also run the committed PyTorch sampler (scripts/bench/pytorch_sampler.py: the same
    /// model, DDIM and guidance), alternating with ifvit's full sampling loop for `--repeats`
    /// rounds, and print both img/s and the ratio. Needs `--sampler ddim` (eta 0, leading).
    #[arg(long)]
    pub vs_pytorch: bool,
    #[command(flatten)]
    pub python: super::pytorch::PythonArgs,
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
    /// `batch / median_sampler_s`.
    pub images_per_s: f64,
    /// `(sampler - bare) / bare`.
    pub overhead: f64,
    /// `sampler_only / bare`: the same overhead, measured without the network.
    pub overhead_direct: f64,
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

    // warm-up: allocator, kernels, caches (one forward at the sampling batch)
    let x_warm = if w.is_some() {
        Tensor::cat(vec![x_t.clone(), x_t.clone()], 0)
    } else {
        x_t.clone()
    };
    model
        .forward(x_warm, Tensor::full([rows], 500.0, device), context.clone())
        .into_data();
    if args.vs_pytorch {
        return vs_pytorch(args, &cfg, prediction, w, &time_sampler);
    }
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
        images_per_s: b as f64 / ms,
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
        "  full sampling loop   {:>10.2} ms  (median of {}; {:.1} img/s)",
        ms * 1e3,
        args.repeats,
        r.images_per_s
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

/// ifvit's sampling loop and the PyTorch sampler, alternated for `--repeats` rounds.
fn vs_pytorch(
    args: &BenchSamplerArgs,
    cfg: &SamplerConfig,
    prediction: Prediction,
    w: Option<f64>,
    time_sampler: &dyn Fn(u64) -> Result<f64>,
) -> Result<()> {
    let &SamplerConfig::Ddim {
        steps,
        eta,
        spacing,
    } = cfg
    else {
        bail!("--vs-pytorch mirrors DDIM only: pass --sampler ddim");
    };
    ensure!(
        eta == 0.0 && spacing == Spacing::Leading && prediction == Prediction::Epsilon,
        "--vs-pytorch mirrors DDIM with eta 0, leading spacing and epsilon prediction"
    );
    ensure!(
        w != Some(0.0),
        "--vs-pytorch: the PyTorch script reads --guidance 0 as no guidance; omit --guidance"
    );
    let model = &args.model;
    let mut py_args = model_args(&model.preset, model.config()?.fusion);
    for (name, value) in [
        ("--batch", args.batch.to_string()),
        ("--steps", steps.to_string()),
        ("--guidance", w.unwrap_or(0.0).to_string()),
        ("--repeats", "1".to_string()),
    ] {
        py_args.extend([name.to_string(), value]);
    }
    let baseline = Baseline::new(&args.python, Script::Sampler)?;
    let (mut ours, mut theirs, mut ratios) = (vec![], vec![], vec![]);
    let mut rss_theirs = None::<f64>;
    for r in 0..args.repeats {
        let s = time_sampler(args.seed + r as u64).context("sampling")?;
        let py = baseline.run(Script::Sampler, &py_args)?;
        let p_s = field(&py, "median_sampler_s")?;
        let (i, p) = (args.batch as f64 / s, args.batch as f64 / p_s);
        eprintln!(
            "round {r}: ifvit {:.2} s {i:.1} img/s | PyTorch {p_s:.2} s {p:.1} img/s | ratio {:.2}x",
            s,
            i / p
        );
        ours.push(i);
        theirs.push(p);
        ratios.push(i / p);
        rss_theirs = max_opt(rss_theirs, field(&py, "peak_rss_mib").ok());
    }
    let guidance = w.map_or("no guidance".to_string(), |w| format!("guidance w = {w}"));
    let mib = |m: Option<f64>| m.map_or("?".to_string(), |m| format!("{m:.0} MiB"));
    println!(
        "{} {}, ddim {steps} NFE, batch {}, {guidance}: ifvit {:.1} img/s, PyTorch eager {:.1} \
         img/s, ratio {:.2}x (medians of {} alternated rounds, {} threads each; peak RSS ifvit {}, PyTorch \
         {})",
        model.preset,
        model.config()?.fusion,
        args.batch,
        median(&ours),
        median(&theirs),
        median(&ratios),
        args.repeats,
        super::pytorch::threads(),
        mib(peak_rss_mib()),
        mib(rss_theirs),
    );
    Ok(())
}
