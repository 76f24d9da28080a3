//! DDIM (Song et al. 2021), diffusers' `DDIMScheduler` with `set_alpha_to_one = True` and no
//! clipping.
//!
//! From step `n` to the next visited step `m` (`m = 0` after the last, `alpha_bar(0) = 1`):
//!
//! ```text
//! x0, eps = prediction -> (x0, eps) at alpha_bar(n)
//! var     = (1 - abar_m) / (1 - abar_n) * (1 - abar_n / abar_m)
//! std     = eta * sqrt(var)
//! x_m     = sqrt(abar_m) x0 + sqrt(1 - abar_m - std^2) eps + std * noise
//! ```
//!
//! Deviation from diffusers: diffusers steps to `t - N / steps` (integer division), which is
//! not the next table entry for trailing/linspace spacings whose step does not divide N; here
//! the next step is always the next table entry. The two agree whenever `steps` divides N and
//! for every leading table.

use burn::tensor::Tensor;

use super::config::{check_eta, check_steps};
use super::spacing::{Spacing, check_distinct};
use super::{Sampler, check_index};
use crate::error::DiffusionError;
use crate::prediction::{Coef, Prediction};
use crate::schedule::NoiseSchedule;

pub struct Ddim {
    /// visited steps n, descending
    steps: Vec<usize>,
    times: Vec<f64>,
    /// `alpha_bar` of each visited step, then of the step after it (last: 1)
    alpha_bars: Vec<f64>,
    eta: f64,
    prediction: Prediction,
}

impl Ddim {
    pub const NAME: &'static str = "ddim";

    /// `steps` in `1..=N` and `eta` in `[0, 1]`.
    pub fn new(
        schedule: &NoiseSchedule,
        prediction: Prediction,
        steps: usize,
        eta: f64,
        spacing: Spacing,
    ) -> Result<Self, DiffusionError> {
        check_steps(Self::NAME, steps, schedule.num_steps())?;
        check_eta(eta)?;
        let table = spacing.table(steps, schedule.num_steps());
        check_distinct(Self::NAME, &table)?;
        let mut alpha_bars: Vec<f64> = table.iter().map(|&n| schedule.alpha_bar(n)).collect();
        alpha_bars.push(1.0);
        Ok(Self {
            times: table.iter().map(|&n| n as f64).collect(),
            steps: table,
            alpha_bars,
            eta,
            prediction,
        })
    }

    /// The visited steps `n`, descending.
    pub fn steps(&self) -> &[usize] {
        &self.steps
    }
}

impl Sampler for Ddim {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn timesteps(&self) -> &[f64] {
        &self.times
    }

    fn alpha_sigma(&self, i: usize) -> (f64, f64) {
        let ab = self.alpha_bars[i];
        (ab.sqrt(), (1.0 - ab).sqrt())
    }

    fn needs_noise(&self, _i: usize) -> bool {
        self.eta > 0.0
    }

    fn step(
        &mut self,
        i: usize,
        out: Tensor<4>,
        x: Tensor<4>,
        noise: Option<Tensor<4>>,
    ) -> Result<Tensor<4>, DiffusionError> {
        check_index(Self::NAME, i, self.nfe())?;
        let (ab_t, ab_prev) = (self.alpha_bars[i], self.alpha_bars[i + 1]);
        let (a, s) = self.alpha_sigma(i);
        let (x0, eps) = self
            .prediction
            .to_x0_eps(out, x, &Coef::Scalar(a), &Coef::Scalar(s));
        let var = (1.0 - ab_prev) / (1.0 - ab_t) * (1.0 - ab_t / ab_prev);
        let std = self.eta * var.sqrt();
        let dir = (1.0 - ab_prev - std * std).max(0.0).sqrt();
        let x_prev = x0.mul_scalar(ab_prev.sqrt()) + eps.mul_scalar(dir);
        if self.eta > 0.0 {
            let noise = noise.ok_or(DiffusionError::MissingNoise {
                sampler: Self::NAME,
                step: i,
            })?;
            return Ok(x_prev + noise.mul_scalar(std));
        }
        Ok(x_prev)
    }
}
