//! DPM-Solver++(2M) (Lu et al. 2022), diffusers' `DPMSolverMultistepScheduler` defaults:
//! `solver_order = 2`, `algorithm_type = "dpmsolver++"`, `solver_type = "midpoint"`,
//! `lower_order_final = True`, `final_sigmas_type = "zero"`, `timestep_spacing = "linspace"`.
//!
//! With data predictions `m_i` (x0 from the model at step `i`), `lambda = log(alpha / sigma)`
//! and `h = lambda_next - lambda_i`:
//!
//! ```text
//! first step, last step:  x_next = (sigma_next / sigma_i) x - alpha_next (e^-h - 1) m_i
//! otherwise:              D1 = (m_i - m_{i-1}) / r,  r = (lambda_i - lambda_{i-1}) / h
//!                         x_next = (sigma_next / sigma_i) x - alpha_next (e^-h - 1) (m_i + D1 / 2)
//! ```
//!
//! The last step goes to `sigma = 0` (`alpha = 1`), where the first-order update is exactly
//! `x_next = m_last`.

use burn::tensor::Tensor;

use super::config::check_steps;
use super::spacing::{check_distinct, dpm_linspace};
use super::{Sampler, check_next};
use crate::error::DiffusionError;
use crate::prediction::{Coef, Prediction};
use crate::schedule::NoiseSchedule;

pub struct DpmSolverPp2M {
    times: Vec<f64>,
    /// `(alpha, sigma)` of each visited step, then `(1, 0)`
    coefs: Vec<(f64, f64)>,
    prediction: Prediction,
    /// the previous data prediction and its lambda
    prev: Option<(Tensor<4>, f64)>,
    next: usize,
}

impl DpmSolverPp2M {
    pub const NAME: &'static str = "dpm-solver++-2m";

    pub fn new(
        schedule: &NoiseSchedule,
        prediction: Prediction,
        steps: usize,
    ) -> Result<Self, DiffusionError> {
        check_steps(Self::NAME, steps, schedule.num_steps())?;
        let table = dpm_linspace(steps, schedule.num_steps());
        check_distinct(Self::NAME, &table)?;
        let mut coefs: Vec<(f64, f64)> = table.iter().map(|&n| schedule.alpha_sigma(n)).collect();
        coefs.push((1.0, 0.0));
        Ok(Self {
            times: table.iter().map(|&n| n as f64).collect(),
            coefs,
            prediction,
            prev: None,
            next: 0,
        })
    }
}

fn lambda((alpha, sigma): (f64, f64)) -> f64 {
    alpha.ln() - sigma.ln()
}

impl Sampler for DpmSolverPp2M {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn timesteps(&self) -> &[f64] {
        &self.times
    }

    fn alpha_sigma(&self, i: usize) -> (f64, f64) {
        self.coefs[i]
    }

    fn step(
        &mut self,
        i: usize,
        out: Tensor<4>,
        x: Tensor<4>,
        _noise: Option<Tensor<4>>,
    ) -> Result<Tensor<4>, DiffusionError> {
        let nfe = self.nfe();
        check_next(Self::NAME, i, &mut self.next, nfe)?;
        let (a_s, s_s) = self.coefs[i];
        let m0 = self
            .prediction
            .to_x0(out, x.clone(), &Coef::Scalar(a_s), &Coef::Scalar(s_s));
        let last = i + 1 == self.nfe();
        if last {
            // first order to sigma = 0: x = 0 * x + 1 * m0
            self.prev = None;
            return Ok(m0);
        }
        let (a_t, s_t) = self.coefs[i + 1];
        let (lam_s, lam_t) = (lambda((a_s, s_s)), lambda((a_t, s_t)));
        let h = lam_t - lam_s;
        let c = a_t * ((-h).exp() - 1.0); // alpha_t (e^-h - 1)
        let x_lin = x.mul_scalar(s_t / s_s);
        let x_next = match self.prev.take() {
            None => x_lin - m0.clone().mul_scalar(c),
            Some((m1, lam_prev)) => {
                let r = (lam_s - lam_prev) / h;
                let d1 = (m0.clone() - m1).mul_scalar(1.0 / r);
                x_lin - m0.clone().mul_scalar(c) - d1.mul_scalar(0.5 * c)
            }
        };
        self.prev = Some((m0, lam_s));
        Ok(x_next)
    }
}
