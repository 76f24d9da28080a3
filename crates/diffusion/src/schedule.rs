//! Discrete variance-preserving noise schedules.
//!
//! Step convention (U-ViT's): training steps are `n` in `1..=N`, `beta_n = betas()[n - 1]`,
//! `alpha_bar(n) = prod_{i=1..n} (1 - beta_i)` and `alpha_bar(0) = 1`, so
//! `x_n = sqrt(alpha_bar(n)) x_0 + sqrt(1 - alpha_bar(n)) eps` and the network sees the
//! float `n` as its time input. diffusers' 0-indexed step `t` is `n = t + 1`.
//!
//! Everything here is computed once, in f64, on the host: schedule constants are never
//! module parameters and never travel with the weights.

use serde::{Deserialize, Serialize};

use crate::error::DiffusionError;

/// How the betas are laid out over the `N` training steps.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
/// Serialised externally tagged, RON-friendly: `ScaledLinear(beta_start: 0.00085, beta_end: 0.012)`.
pub enum BetaSchedule {
    /// `beta_n = linspace(sqrt(beta_start), sqrt(beta_end), N)^2` (Stable Diffusion, U-ViT;
    /// the SPEC default with 0.00085, 0.012).
    ScaledLinear { beta_start: f64, beta_end: f64 },
    /// `beta_n = linspace(beta_start, beta_end, N)` (DDPM: 1e-4, 0.02).
    Linear { beta_start: f64, beta_end: f64 },
    /// Nichol & Dhariwal 2021: `alpha_bar(t) = f(t) / f(0)`, `f(t) = cos^2(((t / N) + s) / (1 + s) pi / 2)`,
    /// `beta_n = min(1 - f(n / N) / f((n - 1) / N), max_beta)` (usually s = 0.008, max_beta = 0.999).
    Cosine { s: f64, max_beta: f64 },
}

impl Default for BetaSchedule {
    /// SPEC section 4: scaled-linear 0.00085 to 0.012.
    fn default() -> Self {
        BetaSchedule::ScaledLinear {
            beta_start: 0.00085,
            beta_end: 0.012,
        }
    }
}

/// A named schedule with its default parameters, for `parse` and `ifvit schedulers`.
#[derive(Clone, Copy, Debug)]
pub struct ScheduleInfo {
    pub name: &'static str,
    pub about: &'static str,
    pub default: BetaSchedule,
}

/// All schedules, SPEC default first.
pub const SCHEDULES: [ScheduleInfo; 3] = [
    ScheduleInfo {
        name: "scaled-linear",
        about: "Stable Diffusion / U-ViT (SPEC default)",
        default: BetaSchedule::ScaledLinear {
            beta_start: 0.00085,
            beta_end: 0.012,
        },
    },
    ScheduleInfo {
        name: "linear",
        about: "DDPM (Ho et al. 2020)",
        default: BetaSchedule::Linear {
            beta_start: 1e-4,
            beta_end: 0.02,
        },
    },
    ScheduleInfo {
        name: "cosine",
        about: "improved DDPM (Nichol & Dhariwal 2021), betas clamped at max_beta",
        default: BetaSchedule::Cosine {
            s: 0.008,
            max_beta: 0.999,
        },
    },
];

fn bad(field: &'static str, value: impl ToString, reason: impl Into<String>) -> DiffusionError {
    DiffusionError::BadSchedule {
        field,
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// numpy's `linspace(start, end, n)`: `start + i * step`, with the last point exactly `end`.
pub(crate) fn linspace(start: f64, end: f64, n: usize) -> Vec<f64> {
    match n {
        0 => vec![],
        1 => vec![start],
        _ => {
            let step = (end - start) / (n - 1) as f64;
            let mut v: Vec<f64> = (0..n).map(|i| i as f64 * step + start).collect();
            v[n - 1] = end;
            v
        }
    }
}

impl BetaSchedule {
    /// The schedule `name` (`scaled-linear`, `linear`, `cosine`) with its default parameters.
    pub fn parse(name: &str) -> Result<Self, DiffusionError> {
        SCHEDULES
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.default)
            .ok_or_else(|| DiffusionError::UnknownName {
                what: "noise schedule",
                name: name.to_string(),
                known: SCHEDULES.map(|s| s.name).join(", "),
            })
    }

    /// The name `parse` accepts.
    pub fn name(&self) -> &'static str {
        match self {
            BetaSchedule::ScaledLinear { .. } => "scaled-linear",
            BetaSchedule::Linear { .. } => "linear",
            BetaSchedule::Cosine { .. } => "cosine",
        }
    }

    fn validate(&self) -> Result<(), DiffusionError> {
        match *self {
            BetaSchedule::ScaledLinear {
                beta_start,
                beta_end,
            }
            | BetaSchedule::Linear {
                beta_start,
                beta_end,
            } => {
                for (field, v) in [("beta_start", beta_start), ("beta_end", beta_end)] {
                    if !(v.is_finite() && v > 0.0 && v < 1.0) {
                        return Err(bad(field, v, "betas must lie in (0, 1)"));
                    }
                }
                if beta_end < beta_start {
                    return Err(bad(
                        "beta_end",
                        beta_end,
                        format!("must not be below beta_start = {beta_start}"),
                    ));
                }
            }
            BetaSchedule::Cosine { s, max_beta } => {
                if !(s.is_finite() && s >= 0.0) {
                    return Err(bad(
                        "s",
                        s,
                        "the cosine offset must be finite and >= 0 (usually 0.008)",
                    ));
                }
                if !(max_beta.is_finite() && max_beta > 0.0 && max_beta < 1.0) {
                    return Err(bad(
                        "max_beta",
                        max_beta,
                        "must lie in (0, 1) (usually 0.999)",
                    ));
                }
            }
        }
        Ok(())
    }

    /// `[beta_1, ..., beta_N]` in f64.
    pub fn betas(&self, num_steps: usize) -> Result<Vec<f64>, DiffusionError> {
        self.validate()?;
        if num_steps < 2 {
            return Err(bad(
                "num_steps",
                num_steps,
                "need at least 2 training steps",
            ));
        }
        let n = num_steps;
        Ok(match *self {
            BetaSchedule::ScaledLinear {
                beta_start,
                beta_end,
            } => linspace(beta_start.sqrt(), beta_end.sqrt(), n)
                .into_iter()
                .map(|b| b * b)
                .collect(),
            BetaSchedule::Linear {
                beta_start,
                beta_end,
            } => linspace(beta_start, beta_end, n),
            BetaSchedule::Cosine { s, max_beta } => {
                // Float division on purpose: `i / n` in integers is the classic all-zero bug.
                let f = |t: f64| {
                    ((t + s) / (1.0 + s) * std::f64::consts::FRAC_PI_2)
                        .cos()
                        .powi(2)
                };
                (0..n)
                    .map(|i| {
                        let (t1, t2) = (i as f64 / n as f64, (i + 1) as f64 / n as f64);
                        (1.0 - f(t2) / f(t1)).min(max_beta)
                    })
                    .collect()
            }
        })
    }
}

/// The discrete schedule: betas and `alpha_bar` for `n` in `0..=N`, plus (in
/// `continuous.rs`) the continuous-time view DPM-Solver uses.
#[derive(Clone, Debug, PartialEq)]
pub struct NoiseSchedule {
    kind: BetaSchedule,
    /// `[beta_1 .. beta_N]`
    betas: Vec<f64>,
    /// `[1, alpha_bar(1), .., alpha_bar(N)]`
    alpha_bars: Vec<f64>,
    /// `0.5 * cumsum(log(1 - beta))`: log alpha at the knots `t_k = k / N`, `k = 1..=N`.
    pub(crate) log_alphas: Vec<f64>,
}

impl Default for NoiseSchedule {
    /// SPEC section 4: scaled-linear 0.00085 to 0.012 over 1000 steps.
    fn default() -> Self {
        Self::new(BetaSchedule::default(), 1000).expect("the SPEC schedule is valid")
    }
}

impl NoiseSchedule {
    /// Builds the schedule over `num_steps` training steps (1000 in SPEC).
    pub fn new(kind: BetaSchedule, num_steps: usize) -> Result<Self, DiffusionError> {
        let betas = kind.betas(num_steps)?;
        if let Some((i, b)) = betas
            .iter()
            .enumerate()
            .find(|(_, b)| !(**b > 0.0 && **b < 1.0))
        {
            return Err(bad("betas", b, format!("beta_{} is outside (0, 1)", i + 1)));
        }
        let mut alpha_bars = Vec::with_capacity(num_steps + 1);
        let mut log_alphas = Vec::with_capacity(num_steps);
        let (mut prod, mut log_sum) = (1.0f64, 0.0f64);
        alpha_bars.push(1.0);
        for b in &betas {
            prod *= 1.0 - b;
            log_sum += (1.0 - b).ln();
            alpha_bars.push(prod);
            log_alphas.push(0.5 * log_sum);
        }
        Ok(Self {
            kind,
            betas,
            alpha_bars,
            log_alphas,
        })
    }

    pub fn kind(&self) -> BetaSchedule {
        self.kind
    }

    /// N, the number of training steps.
    pub fn num_steps(&self) -> usize {
        self.betas.len()
    }

    /// `[beta_1, .., beta_N]` (`beta_n` is `betas()[n - 1]`).
    pub fn betas(&self) -> &[f64] {
        &self.betas
    }

    /// `alpha_bar(n)` for `n` in `0..=N`; `alpha_bar(0) = 1`. Panics if `n > N`.
    pub fn alpha_bar(&self, n: usize) -> f64 {
        self.alpha_bars[n]
    }

    /// `(alpha, sigma) = (sqrt(alpha_bar(n)), sqrt(1 - alpha_bar(n)))`: `x_n = alpha x_0 + sigma eps`.
    pub fn alpha_sigma(&self, n: usize) -> (f64, f64) {
        let ab = self.alpha_bar(n);
        (ab.sqrt(), (1.0 - ab).sqrt())
    }

    /// Signal-to-noise ratio `alpha_bar(n) / (1 - alpha_bar(n))` (infinite at `n = 0`).
    pub fn snr(&self, n: usize) -> f64 {
        let ab = self.alpha_bar(n);
        ab / (1.0 - ab)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_default_is_scaled_linear_and_its_last_alpha_bar_is_0_004660() {
        let s = NoiseSchedule::default();
        assert_eq!(s.num_steps(), 1000);
        assert_eq!(s.kind().name(), "scaled-linear");
        assert_eq!(format!("{:.6}", s.alpha_bar(1000)), "0.004660");
        assert_eq!(s.alpha_bar(0), 1.0);
        assert!((s.betas()[0] - 0.00085).abs() < 1e-15 && (s.betas()[999] - 0.012).abs() < 1e-15);
    }

    #[test]
    fn cosine_is_not_degenerate() {
        let s = NoiseSchedule::new(BetaSchedule::parse("cosine").unwrap(), 1000).unwrap();
        let ab: Vec<f64> = (0..=1000).map(|n| s.alpha_bar(n)).collect();
        assert!(ab.iter().all(|v| v.is_finite()));
        assert!(
            ab.windows(2).all(|w| w[1] < w[0]),
            "alpha_bar must strictly decrease"
        );
        // An integer-division bug makes every beta 0 (alpha_bar = 1 throughout).
        assert!(ab[1] > 0.9999 && ab[1] < 1.0, "{}", ab[1]);
        assert!((ab[500] - 0.4938).abs() < 1e-3, "{}", ab[500]);
        assert!(ab[1000] < 1e-6 && ab[1000] > 0.0, "{}", ab[1000]);
        assert_eq!(s.betas()[999], 0.999, "last beta is clamped at max_beta");
    }

    #[test]
    fn bad_parameters_are_rejected_with_the_field_name() {
        let e = NoiseSchedule::new(
            BetaSchedule::ScaledLinear {
                beta_start: 0.0,
                beta_end: 0.012,
            },
            1000,
        )
        .unwrap_err();
        assert!(e.to_string().contains("beta_start"), "{e}");
        let e = BetaSchedule::Linear {
            beta_start: 0.02,
            beta_end: 0.01,
        }
        .betas(1000)
        .unwrap_err();
        assert!(e.to_string().contains("beta_end"), "{e}");
        let e = BetaSchedule::Cosine {
            s: f64::NAN,
            max_beta: 0.999,
        }
        .betas(10)
        .unwrap_err();
        assert!(e.to_string().contains("s = NaN"), "{e}");
        assert!(NoiseSchedule::new(BetaSchedule::default(), 1).is_err());
        let e = BetaSchedule::parse("sigmoid").unwrap_err().to_string();
        assert!(
            e.contains("sigmoid") && e.contains("scaled-linear, linear, cosine"),
            "{e}"
        );
    }

    #[test]
    fn serde_round_trip() {
        for info in SCHEDULES {
            let json = serde_json::to_string(&info.default).unwrap();
            let back: BetaSchedule = serde_json::from_str(&json).unwrap();
            assert_eq!(back, info.default);
            let ron = ron::to_string(&info.default).unwrap();
            let back: BetaSchedule = ron::from_str(&ron).unwrap();
            assert_eq!(back, info.default, "{ron}");
        }
    }

    #[test]
    fn linspace_matches_numpy_endpoints() {
        assert_eq!(linspace(0.0, 999.0, 1), vec![0.0]);
        let v = linspace(1.0, 1e-3, 51);
        assert_eq!((v[0], v[50]), (1.0, 1e-3));
        assert!((v[1] - 0.98002).abs() < 1e-12);
    }
}
