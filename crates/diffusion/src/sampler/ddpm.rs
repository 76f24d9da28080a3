//! DDPM ancestral sampling (Ho et al. 2020), diffusers' `DDPMScheduler` with the
//! "fixed_small" (posterior) variance and no clipping. With `steps = N` it is the full chain;
//! with fewer steps it jumps between the visited steps with the same formulas.
//!
//! From step `n` to the next visited step `m` (`m = 0` after the last, `alpha_bar(0) = 1`):
//!
//! ```text
//! a = abar_n / abar_m,  b = 1 - a
//! mean = sqrt(abar_m) b / (1 - abar_n) x0 + sqrt(a) (1 - abar_m) / (1 - abar_n) x_n
//! var  = (1 - abar_m) / (1 - abar_n) b            (no noise when m = 0)
//! ```

use burn::tensor::Tensor;

use super::config::check_steps;
use super::spacing::{Spacing, check_distinct};
use super::{Sampler, check_index};
use crate::error::DiffusionError;
use crate::prediction::{Coef, Prediction};
use crate::schedule::NoiseSchedule;

pub struct Ddpm {
    steps: Vec<usize>,
    times: Vec<f64>,
    /// `alpha_bar` of each visited step, then of the step after it (last: 1)
    alpha_bars: Vec<f64>,
    prediction: Prediction,
}

impl Ddpm {
    pub const NAME: &'static str = "ddpm";

    pub fn new(
        schedule: &NoiseSchedule,
        prediction: Prediction,
        steps: usize,
        spacing: Spacing,
    ) -> Result<Self, DiffusionError> {
        check_steps(Self::NAME, steps, schedule.num_steps())?;
        let table = spacing.table(steps, schedule.num_steps());
        check_distinct(Self::NAME, &table)?;
        let mut alpha_bars: Vec<f64> = table.iter().map(|&n| schedule.alpha_bar(n)).collect();
        alpha_bars.push(1.0);
        Ok(Self {
            times: table.iter().map(|&n| n as f64).collect(),
            steps: table,
            alpha_bars,
            prediction,
        })
    }

    /// The visited steps `n`, descending.
    pub fn steps(&self) -> &[usize] {
        &self.steps
    }
}

impl Sampler for Ddpm {
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

    /// Every step but the last (which lands on the clean sample).
    fn needs_noise(&self, i: usize) -> bool {
        i + 1 < self.steps.len()
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
        let x0 = self
            .prediction
            .to_x0(out, x.clone(), &Coef::Scalar(a), &Coef::Scalar(s));
        let cur_alpha = ab_t / ab_prev;
        let cur_beta = 1.0 - cur_alpha;
        let c_x0 = ab_prev.sqrt() * cur_beta / (1.0 - ab_t);
        let c_x = cur_alpha.sqrt() * (1.0 - ab_prev) / (1.0 - ab_t);
        let mean = x0.mul_scalar(c_x0) + x.mul_scalar(c_x);
        if !self.needs_noise(i) {
            return Ok(mean);
        }
        let noise = noise.ok_or(DiffusionError::MissingNoise {
            sampler: Self::NAME,
            step: i,
        })?;
        let var = ((1.0 - ab_prev) / (1.0 - ab_t) * cur_beta).max(1e-20);
        Ok(mean + noise.mul_scalar(var.sqrt()))
    }
}
