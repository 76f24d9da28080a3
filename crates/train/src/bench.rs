//! Training-step benchmark: median step time, img/s and achieved GFLOP/s of one
//! forward + backward + AdamW step, with an in-process baseline (the device's measured
//! matmul throughput) so the figure reads as an efficiency.
//!
//! Achieved GFLOP/s counts 3x the analytic forward cost (forward + backward ~ 3 forwards),
//! 2 FLOPs per MAC.

use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Distribution, Tensor};
use ifvit_uvit::{UViTConfig, forward_cost};

use crate::model::TextToImage;
use crate::optim::FusedAdamW;

/// What to benchmark.
#[derive(Clone, Debug)]
pub struct TrainBenchOptions {
    /// Label of the model (preset name and overrides).
    pub preset: String,
    pub config: UViTConfig,
    pub batch: usize,
    /// Timed steps.
    pub steps: usize,
    /// Untimed steps first (allocator, caches, JIT on GPU backends).
    pub warmup: usize,
}

/// What was measured.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TrainBenchResult {
    pub preset: String,
    pub fusion: String,
    pub batch: usize,
    pub params: usize,
    pub forward_gmacs_per_sample: f64,
    pub step_ms: Vec<f64>,
    pub median_step_ms: f64,
    pub images_per_s: f64,
    /// 3 x forward FLOPs x batch / median step time.
    pub achieved_gflops: f64,
    /// Same-process baseline: fp32 matmul throughput of the device (1024^2 x 1024).
    pub matmul_gflops: f64,
    /// Peak resident memory of the process (Linux `VmHWM`), MiB.
    pub peak_rss_mib: Option<f64>,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        0.5 * (s[n / 2 - 1] + s[n / 2])
    }
}

/// Peak resident set size of this process in MiB (Linux only).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// fp32 matmul throughput of `device` in GFLOP/s (median of a few 1024^3 products).
pub fn matmul_gflops(device: &Device) -> f64 {
    let n = 1024;
    let a = Tensor::<2>::random([n, n], Distribution::Normal(0.0, 1.0), device);
    let b = Tensor::<2>::random([n, n], Distribution::Normal(0.0, 1.0), device);
    let _ = a.clone().matmul(b.clone());
    device.sync().ok();
    let mut times = Vec::new();
    for _ in 0..5 {
        let t0 = Instant::now();
        let c = a.clone().matmul(b.clone());
        let _ = c.sum().into_scalar::<f32>();
        times.push(t0.elapsed().as_secs_f64());
    }
    2.0 * (n as f64).powi(3) / median(&times) / 1e9
}

/// Runs the benchmark on `device` (the autodiff wrapper is added here).
pub fn run(
    opts: &TrainBenchOptions,
    device: &Device,
) -> Result<TrainBenchResult, ifvit_uvit::ConfigError> {
    let cfg = opts.config.clone();
    cfg.validate()?;
    let ad = device.clone().autodiff();
    ad.seed(0);
    let mut model = TextToImage::new(&cfg, None, &ad)?;
    // the SPEC recipe, as the trainer runs it (`crate::trainer`)
    let mut optim = FusedAdamW {
        beta_1: 0.9,
        beta_2: 0.9,
        epsilon: 1e-8,
        weight_decay: 0.03,
    }
    .init(None);
    let b = opts.batch;
    let (c, s) = (cfg.in_chans, cfg.img_size);
    let x = Tensor::<4>::random([b, c, s, s], Distribution::Normal(0.0, 1.0), &ad);
    let target = Tensor::<4>::random([b, c, s, s], Distribution::Normal(0.0, 1.0), &ad);
    let t = Tensor::<1>::random([b], Distribution::Uniform(1.0, 1000.0), &ad).floor();
    let ctx = Tensor::<3>::random(
        [b, cfg.num_text_tokens, cfg.context_dim],
        Distribution::Normal(0.0, 1.0),
        &ad,
    );

    let mut step_ms = Vec::with_capacity(opts.steps);
    for i in 0..opts.warmup + opts.steps {
        let t0 = Instant::now();
        let out = model.forward(x.clone(), t.clone(), ctx.clone());
        let loss = (out - target.clone()).powi_scalar(2).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(2e-4, model, grads);
        ad.sync().ok();
        if i >= opts.warmup {
            step_ms.push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    let med = median(&step_ms);
    let fwd = forward_cost(&cfg).gmacs();
    Ok(TrainBenchResult {
        preset: opts.preset.clone(),
        fusion: cfg.fusion.to_string(),
        batch: b,
        params: model.num_params(),
        forward_gmacs_per_sample: fwd,
        median_step_ms: med,
        images_per_s: b as f64 / (med / 1e3),
        achieved_gflops: 3.0 * 2.0 * fwd * b as f64 / (med / 1e3),
        matmul_gflops: matmul_gflops(device),
        peak_rss_mib: peak_rss_mib(),
        step_ms,
    })
}
