//! DPM-Solver++ as U-ViT samples MS-COCO (SPEC section 4): `dpm_solver_pp.py`'s
//! `DPM_Solver(predict_x0=True).sample(x, steps, eps=1/N, T=1, order=3,
//! skip_type='time_uniform', method='fast', solver_type='dpm_solver')`.
//!
//! * time grid: `steps + 1` points uniform in continuous `t` from 1 to `1/N`; the network
//!   sees model time `N t`;
//! * "fast" order schedule: with order 3, `K = steps / 3 + 1` singlestep updates of orders
//!   `[3] * (K - 2) + [2, 1]`, `[3] * (K - 1) + [1]` or `[3] * (K - 1) + [2]` for
//!   `steps % 3 = 0, 1, 2` (50 steps: `[3] * 16 + [2]`); with order 2, `[2] * (steps / 2)`
//!   plus `[1]` if `steps` is odd; with order 1 (not in U-ViT), `[1] * steps`;
//! * an update of order `k` starts at grid point `i` and ends at `i + k`; its intermediate
//!   model evaluations sit at `s_j = t(lambda_s + r_j h)` with `r_j = (lambda(t_{i+j}) -
//!   lambda_s) / h` (the grid points, through DPM-Solver's `inverse_lambda`).
//!
//! So NFE = `steps` exactly. Each model evaluation is one `step` call; the update's starting
//! point and earlier data predictions are kept between calls.

use burn::tensor::Tensor;

use super::config::{check_order, check_steps};
use super::{Sampler, check_next};
use crate::error::DiffusionError;
use crate::prediction::{Coef, Prediction};
use crate::schedule::{NoiseSchedule, linspace};

/// U-ViT's "fast" order schedule for `steps` NFE (empty for 0).
pub fn fast_orders(steps: usize, order: usize) -> Vec<usize> {
    if steps == 0 {
        return vec![];
    }
    match order {
        3 => {
            let k = steps / 3 + 1;
            match steps % 3 {
                0 => [vec![3; k - 2], vec![2, 1]].concat(),
                1 => [vec![3; k - 1], vec![1]].concat(),
                _ => [vec![3; k - 1], vec![2]].concat(),
            }
        }
        2 => [vec![2; steps / 2], vec![1; steps % 2]].concat(),
        _ => vec![1; steps],
    }
}

/// One singlestep update from `s` to `t` (continuous times).
#[derive(Clone, Debug)]
struct Update {
    order: usize,
    /// `(alpha, sigma)` at s, s1, s2, t
    s: (f64, f64),
    s1: (f64, f64),
    s2: (f64, f64),
    t: (f64, f64),
    h: f64,
    r1: f64,
    r2: f64,
}

/// One model evaluation: stage `stage` of update `update`, at continuous time `t`.
#[derive(Clone, Copy, Debug)]
struct Eval {
    update: usize,
    stage: usize,
    alpha_sigma: (f64, f64),
}

pub struct DpmSolverPp {
    updates: Vec<Update>,
    evals: Vec<Eval>,
    /// model time `N t` of each evaluation
    times: Vec<f64>,
    /// continuous time grid, `steps + 1` points from 1 to 1/N
    grid: Vec<f64>,
    orders: Vec<usize>,
    prediction: Prediction,
    /// the update's starting point and its data predictions at s and s1
    anchor: Option<Tensor<4>>,
    m_s: Option<Tensor<4>>,
    m_s1: Option<Tensor<4>>,
    next: usize,
}

impl DpmSolverPp {
    pub const NAME: &'static str = "dpm-solver++";

    /// `steps` NFE in `1..=N`, `order` in `1..=3`.
    pub fn new(
        schedule: &NoiseSchedule,
        prediction: Prediction,
        steps: usize,
        order: usize,
    ) -> Result<Self, DiffusionError> {
        check_steps(Self::NAME, steps, schedule.num_steps())?;
        check_order(order)?;
        let n = schedule.num_steps() as f64;
        let (t_start, t_end) = (1.0, 1.0 / n);
        let grid = linspace(t_start, t_end, steps + 1);
        let orders = fast_orders(steps, order);
        let lam = |t: f64| schedule.lambda_t(t);
        let (mut updates, mut evals, mut times) = (vec![], vec![], vec![]);
        let mut i = 0;
        for &order in &orders {
            let (s, t) = (grid[i], grid[i + order]);
            let h = lam(t) - lam(s);
            let r1 = if order >= 2 {
                (lam(grid[i + 1]) - lam(s)) / h
            } else {
                0.0
            };
            let r2 = if order >= 3 {
                (lam(grid[i + 2]) - lam(s)) / h
            } else {
                0.0
            };
            let s1 = schedule.t_of_lambda(lam(s) + r1 * h);
            let s2 = schedule.t_of_lambda(lam(s) + r2 * h);
            let u = Update {
                order,
                s: schedule.alpha_sigma_t(s),
                s1: schedule.alpha_sigma_t(s1),
                s2: schedule.alpha_sigma_t(s2),
                t: schedule.alpha_sigma_t(t),
                h,
                r1,
                r2,
            };
            for (stage, time) in [s, s1, s2].into_iter().take(order).enumerate() {
                evals.push(Eval {
                    update: updates.len(),
                    stage,
                    alpha_sigma: schedule.alpha_sigma_t(time),
                });
                times.push(schedule.model_time(time));
            }
            updates.push(u);
            i += order;
        }
        Ok(Self {
            updates,
            evals,
            times,
            grid,
            orders,
            prediction,
            anchor: None,
            m_s: None,
            m_s1: None,
            next: 0,
        })
    }

    /// The continuous time grid (`steps + 1` points from 1 to 1/N).
    pub fn grid(&self) -> &[f64] {
        &self.grid
    }

    /// The order of each singlestep update.
    pub fn orders(&self) -> &[usize] {
        &self.orders
    }

    /// Whether evaluation `i` is the last of its update (the sampler's `x` is then on the grid).
    pub fn ends_update(&self, i: usize) -> bool {
        self.evals
            .get(i)
            .is_some_and(|e| e.stage + 1 == self.updates[e.update].order)
    }
}

/// `sum_k c_k x_k`.
fn lin(terms: Vec<(Tensor<4>, f64)>) -> Tensor<4> {
    let mut it = terms.into_iter();
    let (x, c) = it.next().expect("at least one term");
    it.fold(x.mul_scalar(c), |acc, (x, c)| acc + x.mul_scalar(c))
}

impl Sampler for DpmSolverPp {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn timesteps(&self) -> &[f64] {
        &self.times
    }

    fn alpha_sigma(&self, i: usize) -> (f64, f64) {
        self.evals[i].alpha_sigma
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
        let e = self.evals[i];
        let (a, s) = e.alpha_sigma;
        let m = self
            .prediction
            .to_x0(out, x.clone(), &Coef::Scalar(a), &Coef::Scalar(s));
        let u = &self.updates[e.update];
        let ((a_s1, s_s1), (a_s2, s_s2), (a_t, s_t), s_s) = (u.s1, u.s2, u.t, u.s.1);
        let (h, r1, r2) = (u.h, u.r1, u.r2);
        let phi_1 = (-h).exp_m1();
        let x_next = match (u.order, e.stage) {
            // DPM-Solver++-1 (DDIM): x_t = (sigma_t / sigma_s) x - alpha_t phi_1 m_s
            (1, _) => lin(vec![(x, s_t / s_s), (m, -a_t * phi_1)]),
            (_, 0) => {
                // first stage of order 2 or 3: first-order move to s1
                let phi_11 = (-r1 * h).exp_m1();
                let x_s1 = lin(vec![(x.clone(), s_s1 / s_s), (m.clone(), -a_s1 * phi_11)]);
                self.anchor = Some(x);
                self.m_s = Some(m);
                x_s1
            }
            (2, _) => {
                let (x, m_s) = (self.anchor.take().unwrap(), self.m_s.take().unwrap());
                // x_t = (s_t / s_s) x - a_t phi_1 m_s - (0.5 / r1) a_t phi_1 (m_s1 - m_s)
                let c = 0.5 / r1 * a_t * phi_1;
                lin(vec![(x, s_t / s_s), (m_s, -a_t * phi_1 + c), (m, -c)])
            }
            (_, 1) => {
                // x_s2 = (s_s2 / s_s) x - a_s2 phi_12 m_s + (r2 / r1) a_s2 phi_22 (m_s1 - m_s)
                let phi_12 = (-r2 * h).exp_m1();
                let phi_22 = phi_12 / (r2 * h) + 1.0;
                let c = r2 / r1 * a_s2 * phi_22;
                let (x, m_s) = (self.anchor.clone().unwrap(), self.m_s.clone().unwrap());
                self.m_s1 = Some(m.clone());
                lin(vec![(x, s_s2 / s_s), (m_s, -a_s2 * phi_12 - c), (m, c)])
            }
            _ => {
                // x_t = (s_t / s_s) x - a_t phi_1 m_s + (1 / r2) a_t phi_2 (m_s2 - m_s)
                let phi_2 = phi_1 / h + 1.0;
                let c = a_t * phi_2 / r2;
                let (x, m_s) = (self.anchor.take().unwrap(), self.m_s.take().unwrap());
                self.m_s1 = None;
                lin(vec![(x, s_t / s_s), (m_s, -a_t * phi_1 - c), (m, c)])
            }
        };
        Ok(x_next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_order_schedule_is_16_threes_and_a_two() {
        assert_eq!(fast_orders(50, 3), [vec![3; 16], vec![2]].concat());
        for steps in 0..=60 {
            for order in 1..=3 {
                assert_eq!(
                    fast_orders(steps, order).iter().sum::<usize>(),
                    steps,
                    "{steps} {order}"
                );
            }
        }
        assert_eq!(fast_orders(3, 3), vec![2, 1]);
        assert_eq!(fast_orders(7, 2), vec![2, 2, 2, 1]);
    }

    #[test]
    fn spec_sampler_has_50_evaluations_from_model_time_1000_down() {
        let s = DpmSolverPp::new(&NoiseSchedule::default(), Prediction::Epsilon, 50, 3).unwrap();
        assert_eq!(s.nfe(), 50);
        assert_eq!(s.grid().len(), 51);
        assert_eq!((s.grid()[0], s.grid()[50]), (1.0, 0.001));
        assert!((s.timesteps()[0] - 1000.0).abs() < 1e-9);
        // intermediate evaluations sit on the grid (through inverse_lambda)
        assert!(
            (s.timesteps()[1] - 980.02).abs() < 1e-9,
            "{}",
            s.timesteps()[1]
        );
        assert!(
            (s.timesteps()[49] - 20.98).abs() < 1e-9,
            "{}",
            s.timesteps()[49]
        );
        assert!(s.ends_update(2) && !s.ends_update(1) && s.ends_update(49));
    }
}
