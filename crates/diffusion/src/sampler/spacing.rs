//! Which training steps a discrete sampler visits.
//!
//! The tables reproduce diffusers' `DDIMScheduler` / `DDPMScheduler` (and, for
//! [`dpm_linspace`], `DPMSolverMultistepScheduler`) to the integer, including numpy's
//! round-half-to-even and its float `arange` arithmetic, shifted to ifvit's 1-based steps
//! (`n = t + 1`). Every table is strictly decreasing; the step after the last one is `n = 0`
//! (`alpha_bar = 1`, the clean sample).

use serde::{Deserialize, Serialize};

use crate::error::DiffusionError;

/// How `steps` sampling steps are spread over the `N` training steps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Spacing {
    /// `n = i * (N / steps) + 1` for `i = steps-1 .. 0` (integer division; diffusers' default
    /// with `steps_offset = 0`, and the original DDIM code): 50 steps visit 981, 961, .., 1.
    #[default]
    Leading,
    /// `n = round(N - i N / steps)` for `i = 0 .. steps-1`: starts at `n = N`, the noise
    /// level of the initial Gaussian (Lin et al. 2023): 50 steps visit 1000, 980, .., 20.
    Trailing,
    /// `n = round(i (N - 1) / (steps - 1)) + 1`, descending: 1000 .. 1.
    Linspace,
}

impl Spacing {
    pub const ALL: [Spacing; 3] = [Spacing::Leading, Spacing::Trailing, Spacing::Linspace];

    pub fn name(&self) -> &'static str {
        match self {
            Spacing::Leading => "leading",
            Spacing::Trailing => "trailing",
            Spacing::Linspace => "linspace",
        }
    }

    pub fn parse(name: &str) -> Result<Self, DiffusionError> {
        Spacing::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| DiffusionError::UnknownName {
                what: "timestep spacing",
                name: name.to_string(),
                known: "leading, trailing, linspace".to_string(),
            })
    }

    /// The steps `n` (descending, in `1..=n_train`) that a DDIM/DDPM sampler with `steps`
    /// steps evaluates the model at; meaningful for `steps` in `1..=n_train` (empty for 0).
    pub fn table(self, steps: usize, n_train: usize) -> Vec<usize> {
        let (s, n) = (steps, n_train);
        if s == 0 {
            return vec![];
        }
        match self {
            Spacing::Leading => {
                let ratio = n / s;
                (0..s).rev().map(|i| i * ratio + 1).collect()
            }
            Spacing::Trailing => numpy_arange(n as f64, 0.0, -(n as f64 / s as f64))
                .into_iter()
                .take(s)
                .map(|v| v.round_ties_even() as usize) // t + 1 with t = round(v) - 1
                .collect(),
            Spacing::Linspace => crate::schedule::linspace(0.0, (n - 1) as f64, s)
                .into_iter()
                .rev()
                .map(|v| v.round_ties_even() as usize + 1)
                .collect(),
        }
    }
}

/// DPMSolverMultistepScheduler's default "linspace" table: `linspace(0, N - 1, steps + 1)`,
/// rounded, reversed, last dropped; as 1-based steps: 50 steps visit 1000, 980, .., 21.
pub fn dpm_linspace(steps: usize, n_train: usize) -> Vec<usize> {
    let v = crate::schedule::linspace(0.0, (n_train - 1) as f64, steps + 1);
    v[1..]
        .iter()
        .rev()
        .map(|v| v.round_ties_even() as usize + 1)
        .collect()
}

/// numpy's float `arange(start, stop, step)`: `start + i * delta` with
/// `delta = (start + step) - start`, `ceil((stop - start) / step)` values. numpy's rounding
/// sometimes yields one value more than the naive count (e.g. 62 for `arange(1000, 0, -1000/61)`,
/// which makes diffusers' trailing table end in t = -1); callers take what they need.
fn numpy_arange(start: f64, stop: f64, step: f64) -> Vec<f64> {
    let len = ((stop - start) / step).ceil().max(0.0) as usize;
    let delta = (start + step) - start;
    (0..len)
        .map(|i| match i {
            0 => start,
            1 => start + step,
            _ => start + i as f64 * delta,
        })
        .collect()
}

/// Checks that a table has no repeated step (zero-length steps break the solvers).
pub(crate) fn check_distinct(sampler: &'static str, table: &[usize]) -> Result<(), DiffusionError> {
    match table.windows(2).find(|w| w[1] >= w[0]) {
        Some(w) => Err(DiffusionError::RepeatedStep {
            sampler,
            steps: table.len(),
            n: w[1],
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifty_step_tables() {
        let lead = Spacing::Leading.table(50, 1000);
        assert_eq!((lead[0], lead[1], lead[49]), (981, 961, 1));
        let trail = Spacing::Trailing.table(50, 1000);
        assert_eq!((trail[0], trail[1], trail[49]), (1000, 980, 20));
        let lin = Spacing::Linspace.table(50, 1000);
        assert_eq!((lin[0], lin[49]), (1000, 1));
        let dpm = dpm_linspace(50, 1000);
        assert_eq!((dpm[0], dpm[1], dpm[49], dpm.len()), (1000, 980, 21, 50));
    }

    #[test]
    fn ties_round_to_even_as_numpy_does() {
        // linspace(0, 999, 7) = 0, 166.5, ..: numpy rounds 166.5 to 166, not 167
        let v = dpm_linspace(6, 1000);
        assert_eq!(v[5], 167, "{v:?}"); // t = 166 -> n = 167
        // trailing with 16 steps: 1000 - 3 * 62.5 = 812.5 -> 812 (t = 811)
        assert_eq!(Spacing::Trailing.table(16, 1000)[3], 812);
    }

    #[test]
    fn one_and_all_steps() {
        for s in Spacing::ALL {
            assert_eq!(
                s.table(1000, 1000),
                (1..=1000).rev().collect::<Vec<_>>(),
                "{s:?}"
            );
            assert_eq!(s.table(1, 1000).len(), 1);
            assert!(s.table(0, 1000).is_empty());
        }
        assert_eq!(numpy_arange(1000.0, 0.0, -1000.0 / 61.0).len(), 62);
        assert_eq!(Spacing::Trailing.table(61, 1000).len(), 61);
        assert!(check_distinct("x", &dpm_linspace(1000, 1000)).is_err());
        assert!(check_distinct("x", &dpm_linspace(999, 1000)).is_ok());
    }

    #[test]
    fn parse_names() {
        for s in Spacing::ALL {
            assert_eq!(Spacing::parse(s.name()).unwrap(), s);
        }
        assert!(
            Spacing::parse("uniform")
                .unwrap_err()
                .to_string()
                .contains("leading, trailing")
        );
    }
}
