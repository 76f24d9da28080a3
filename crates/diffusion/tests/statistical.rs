//! Statistical end-to-end test: every sampler, driven by the exact score of a 1-D Gaussian
//! mixture, must reproduce the mixture's mean, variance and mode weight.
//!
//! Data: 0.3 N(-1.5, 0.3^2) + 0.7 N(1.0, 0.5^2): mean 0.25, variance 1.5145; 30.2% of the mass
//! lies below -0.4. M = 8192 samples from one seeded x_T.
//!
//! Bound on each statistic: 4 standard errors of its estimator at M samples (mean 0.054,
//! variance 0.062, mode weight 0.020), plus, for mean and variance, an allowance for the
//! sampler's own discretisation error at its step count. Samplers that end with a first-order
//! step to the posterior mean E[x0 | x_n] shrink the variance a little; measured at M = 16384:
//! SPEC dpm-solver++ 50 NFE +0.6%, dpm-solver++-2m 20 -2.1%, ddim 50 -3.0%, ddim 50 eta 1
//! -5.2%, ddpm 1000 -0.9%. Allowances (mean, relative variance): SPEC (0, 1%),
//! dpm-solver++-2m (0.01, 4%), ddim (0.01, 5%), ddim eta 1 (0.01, 7%), ddpm (0.01, 2%).

mod common;

use burn::tensor::Device;
use common::{Mixture, host};
use ifvit_diffusion::{
    NoiseSchedule, Prediction, SamplerConfig, SamplerOptions, Spacing, randn, sample, seeded_rng,
};

const M: usize = 8192;
const COMPS: [(f64, f64, f64); 2] = [(0.3, -1.5, 0.3), (0.7, 1.0, 0.5)];
const SPLIT: f64 = -0.4;

struct Moments {
    mean: f64,
    var: f64,
    mu4: f64,
    below: f64,
}

fn normal_cdf(z: f64) -> f64 {
    // Abramowitz & Stegun 7.1.26 through erf; error < 1.5e-7
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.3275911 * x.abs());
    let poly = t
        * (0.254829592
            + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    let erf = 1.0 - poly * (-x * x).exp();
    0.5 * (1.0 + erf.copysign(x))
}

fn exact() -> Moments {
    let mean: f64 = COMPS.iter().map(|(w, m, _)| w * m).sum();
    let var: f64 = COMPS
        .iter()
        .map(|(w, m, s)| w * ((m - mean).powi(2) + s * s))
        .sum();
    let mu4: f64 = COMPS
        .iter()
        .map(|(w, m, s)| {
            let d = m - mean;
            w * (d.powi(4) + 6.0 * d * d * s * s + 3.0 * s.powi(4))
        })
        .sum();
    let below = COMPS
        .iter()
        .map(|(w, m, s)| w * normal_cdf((SPLIT - m) / s))
        .sum();
    Moments {
        mean,
        var,
        mu4,
        below,
    }
}

fn measured(x: &[f64]) -> Moments {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let mu4 = x.iter().map(|v| (v - mean).powi(4)).sum::<f64>() / n;
    let below = x.iter().filter(|v| **v < SPLIT).count() as f64 / n;
    Moments {
        mean,
        var,
        mu4,
        below,
    }
}

fn check(cfg: SamplerConfig, prediction: Prediction, allowance: (f64, f64)) -> Moments {
    let device = Device::flex();
    let schedule = NoiseSchedule::default();
    let mixture = Mixture {
        comps: vec![COMPS.to_vec()],
    };
    let mut rng = seeded_rng(2024);
    let x_t = randn([M, 1, 1, 1], &mut rng, &device);
    let x0 = sample(
        &cfg,
        &schedule,
        prediction,
        x_t,
        &mut rng,
        mixture.model(&schedule, prediction),
    )
    .unwrap();
    let got = measured(&host(x0));
    let want = exact();
    let m = M as f64;
    let se_mean = (want.var / m).sqrt();
    let se_var = ((want.mu4 - want.var.powi(2)) / m).sqrt();
    let se_below = (want.below * (1.0 - want.below) / m).sqrt();
    let name = format!("{} {} NFE ({:?})", cfg.name(), cfg.nfe(), prediction);
    println!(
        "{name}: mean {:.4} (exact {:.4}), var {:.4} ({:.4}), below {SPLIT}: {:.4} ({:.4})",
        got.mean, want.mean, got.var, want.var, got.below, want.below
    );
    let bound_mean = 4.0 * se_mean + allowance.0;
    let bound_var = 4.0 * se_var + allowance.1 * want.var;
    assert!(
        (got.mean - want.mean).abs() < bound_mean,
        "{name}: mean {} vs {} (bound {bound_mean:.4})",
        got.mean,
        want.mean
    );
    assert!(
        (got.var - want.var).abs() < bound_var,
        "{name}: variance {} vs {} (bound {bound_var:.4})",
        got.var,
        want.var
    );
    assert!(
        (got.below - want.below).abs() < 4.0 * se_below,
        "{name}: mode weight {} vs {}",
        got.below,
        want.below
    );
    got
}

/// SPEC's sampler, and the same samples whatever the network predicts.
#[test]
fn spec_dpm_solver_pp_recovers_the_mixture_in_every_parameterisation() {
    let eps = check(SamplerConfig::default(), Prediction::Epsilon, (0.0, 0.01));
    for p in [Prediction::Sample, Prediction::V] {
        let other = check(SamplerConfig::default(), p, (0.0, 0.01));
        assert!(
            (other.mean - eps.mean).abs() < 1e-4 && (other.var - eps.var).abs() < 1e-4,
            "{p:?}"
        );
    }
}

#[test]
fn dpm_solver_pp_2m_recovers_the_mixture() {
    check(
        SamplerConfig::DpmSolverPp2M { steps: 20 },
        Prediction::Epsilon,
        (0.01, 0.04),
    );
}

#[test]
fn ddim_recovers_the_mixture() {
    check(
        SamplerConfig::parse("ddim", 50, &SamplerOptions::default()).unwrap(),
        Prediction::Epsilon,
        (0.01, 0.05),
    );
    let stochastic = SamplerOptions {
        eta: Some(1.0),
        spacing: Some(Spacing::Trailing),
        ..Default::default()
    };
    check(
        SamplerConfig::parse("ddim", 50, &stochastic).unwrap(),
        Prediction::V,
        (0.01, 0.07),
    );
}

#[test]
fn ddpm_full_chain_recovers_the_mixture() {
    check(
        SamplerConfig::Ddpm {
            steps: 1000,
            spacing: Spacing::Leading,
        },
        Prediction::Epsilon,
        (0.01, 0.02),
    );
}
