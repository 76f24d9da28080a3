//! Sampler configuration: a serde enum saved beside every sample, parsed from CLI names.

use serde::{Deserialize, Serialize};

use super::Sampler;
use super::ddim::Ddim;
use super::ddpm::Ddpm;
use super::dpm_multistep::DpmSolverPp2M;
use super::dpm_singlestep::DpmSolverPp;
use super::spacing::Spacing;
use crate::error::DiffusionError;
use crate::prediction::Prediction;
use crate::schedule::NoiseSchedule;

/// Which sampler, with its options. Serialised externally tagged (RON-friendly):
/// `DpmSolverPp(steps: 50, order: 3)`, `Ddim(steps: 50, eta: 0.0, spacing: leading)`;
/// JSON `{"DpmSolverPp": {"steps": 50, "order": 3}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SamplerConfig {
    /// DDPM ancestral sampling over `steps` of the training steps (`steps = N`: the full chain).
    Ddpm {
        steps: usize,
        #[serde(default)]
        spacing: Spacing,
    },
    /// DDIM; `eta = 0` is deterministic, `eta = 1` has the DDPM posterior variance.
    Ddim {
        steps: usize,
        #[serde(default)]
        eta: f64,
        #[serde(default)]
        spacing: Spacing,
    },
    /// DPM-Solver++(2M) as diffusers' `DPMSolverMultistepScheduler` defaults.
    DpmSolverPp2M { steps: usize },
    /// SPEC's sampler: U-ViT's singlestep DPM-Solver++ "fast", `steps` NFE, time-uniform grid
    /// on `[1/N, 1]`, order schedule `[3] * 16 + [2]` for 50 steps.
    DpmSolverPp {
        steps: usize,
        #[serde(default = "default_order")]
        order: usize,
    },
}

fn default_order() -> usize {
    3
}

impl Default for SamplerConfig {
    /// SPEC section 4: DPM-Solver++, 50 NFE, order 3.
    fn default() -> Self {
        SamplerConfig::DpmSolverPp {
            steps: 50,
            order: 3,
        }
    }
}

/// Options beyond the step count; `None` takes the sampler's default.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SamplerOptions {
    /// DDIM only (default 0).
    pub eta: Option<f64>,
    /// dpm-solver++ only (default 3).
    pub order: Option<usize>,
    /// ddpm and ddim only (default leading).
    pub spacing: Option<Spacing>,
}

/// A sampler's name, what it is, its options and its default step count (for listings).
#[derive(Clone, Copy, Debug)]
pub struct SamplerInfo {
    pub name: &'static str,
    pub about: &'static str,
    /// `(option, help)`
    pub options: &'static [(&'static str, &'static str)],
    pub default_steps: usize,
}

const STEPS_HELP: &str = "model evaluations (NFE), 1..=N";
const SPACING_HELP: &str =
    "leading (default: 50 steps visit n = 981..1) | trailing (1000..20) | linspace (1000..1)";

/// Every sampler, SPEC's first.
pub const SAMPLERS: [SamplerInfo; 4] = [
    SamplerInfo {
        name: "dpm-solver++",
        about: "U-ViT's DPM-Solver++ singlestep \"fast\" (SPEC): time-uniform grid on [1e-3, 1], model time 1000 t, \
                orders [3]*16+[2] at 50 NFE",
        options: &[("steps", STEPS_HELP), ("order", "1, 2 or 3 (default 3)")],
        default_steps: 50,
    },
    SamplerInfo {
        name: "dpm-solver++-2m",
        about: "DPM-Solver++(2M) multistep, as diffusers' DPMSolverMultistepScheduler (linspace steps, last step to x0)",
        options: &[("steps", STEPS_HELP)],
        default_steps: 20,
    },
    SamplerInfo {
        name: "ddim",
        about: "DDIM (Song et al. 2021), as diffusers' DDIMScheduler (set_alpha_to_one, no clipping)",
        options: &[
            ("steps", STEPS_HELP),
            (
                "eta",
                "0 = deterministic (default) .. 1 = DDPM posterior variance",
            ),
            ("spacing", SPACING_HELP),
        ],
        default_steps: 50,
    },
    SamplerInfo {
        name: "ddpm",
        about: "DDPM ancestral sampling (Ho et al. 2020), posterior variance; 1000 steps = the full chain",
        options: &[("steps", STEPS_HELP), ("spacing", SPACING_HELP)],
        default_steps: 1000,
    },
];

pub(crate) fn check_steps(
    sampler: &'static str,
    steps: usize,
    max: usize,
) -> Result<(), DiffusionError> {
    match steps {
        0 => Err(DiffusionError::ZeroSteps { sampler }),
        s if s > max => Err(DiffusionError::TooManySteps {
            sampler,
            steps,
            max,
        }),
        _ => Ok(()),
    }
}

pub(crate) fn check_eta(eta: f64) -> Result<(), DiffusionError> {
    if (0.0..=1.0).contains(&eta) {
        Ok(())
    } else {
        Err(DiffusionError::EtaOutOfRange { eta })
    }
}

pub(crate) fn check_order(order: usize) -> Result<(), DiffusionError> {
    if (1..=3).contains(&order) {
        Ok(())
    } else {
        Err(DiffusionError::BadOrder { order })
    }
}

impl SamplerConfig {
    /// The sampler `name` (see [`SAMPLERS`]) with `steps` and `opts`. An option the sampler
    /// does not have is an error, not silently ignored. Does not check `steps` against the
    /// schedule: [`validate`](Self::validate) does.
    pub fn parse(name: &str, steps: usize, opts: &SamplerOptions) -> Result<Self, DiffusionError> {
        let not_for = |option: &'static str, sampler: &'static str, applies_to: &'static str| {
            Err(DiffusionError::OptionNotApplicable {
                option,
                sampler,
                applies_to,
            })
        };
        let cfg = match name {
            "ddpm" => SamplerConfig::Ddpm {
                steps,
                spacing: opts.spacing.unwrap_or_default(),
            },
            "ddim" => SamplerConfig::Ddim {
                steps,
                eta: opts.eta.unwrap_or(0.0),
                spacing: opts.spacing.unwrap_or_default(),
            },
            "dpm-solver++-2m" => SamplerConfig::DpmSolverPp2M { steps },
            "dpm-solver++" => SamplerConfig::DpmSolverPp {
                steps,
                order: opts.order.unwrap_or(3),
            },
            _ => {
                return Err(DiffusionError::UnknownName {
                    what: "sampler",
                    name: name.to_string(),
                    known: SAMPLERS.map(|s| s.name).join(", "),
                });
            }
        };
        let sampler = cfg.name();
        if opts.eta.is_some() && !matches!(cfg, SamplerConfig::Ddim { .. }) {
            return not_for("eta", sampler, "ddim");
        }
        if opts.order.is_some() && !matches!(cfg, SamplerConfig::DpmSolverPp { .. }) {
            return not_for("order", sampler, "dpm-solver++");
        }
        if opts.spacing.is_some()
            && !matches!(cfg, SamplerConfig::Ddpm { .. } | SamplerConfig::Ddim { .. })
        {
            return not_for("spacing", sampler, "ddpm, ddim");
        }
        Ok(cfg)
    }

    pub fn name(&self) -> &'static str {
        match self {
            SamplerConfig::Ddpm { .. } => Ddpm::NAME,
            SamplerConfig::Ddim { .. } => Ddim::NAME,
            SamplerConfig::DpmSolverPp2M { .. } => DpmSolverPp2M::NAME,
            SamplerConfig::DpmSolverPp { .. } => DpmSolverPp::NAME,
        }
    }

    pub fn steps(&self) -> usize {
        match *self {
            SamplerConfig::Ddpm { steps, .. }
            | SamplerConfig::Ddim { steps, .. }
            | SamplerConfig::DpmSolverPp2M { steps }
            | SamplerConfig::DpmSolverPp { steps, .. } => steps,
        }
    }

    /// Model evaluations of a full run (twice as many network rows with guidance, in one
    /// batched call each).
    pub fn nfe(&self) -> usize {
        // every sampler here makes exactly `steps` evaluations (dpm-solver++ counts NFE)
        self.steps()
    }

    /// Checks the options against a schedule of `num_steps` training steps.
    pub fn validate(&self, num_steps: usize) -> Result<(), DiffusionError> {
        check_steps(self.name(), self.steps(), num_steps)?;
        match *self {
            SamplerConfig::Ddim { eta, .. } => check_eta(eta),
            SamplerConfig::DpmSolverPp { order, .. } => check_order(order),
            _ => Ok(()),
        }
    }

    /// The sampler, ready to run on `schedule` for a network predicting `prediction`.
    pub fn build(
        &self,
        schedule: &NoiseSchedule,
        prediction: Prediction,
    ) -> Result<Box<dyn Sampler>, DiffusionError> {
        self.validate(schedule.num_steps())?;
        Ok(match *self {
            SamplerConfig::Ddpm { steps, spacing } => {
                Box::new(Ddpm::new(schedule, prediction, steps, spacing)?)
            }
            SamplerConfig::Ddim {
                steps,
                eta,
                spacing,
            } => Box::new(Ddim::new(schedule, prediction, steps, eta, spacing)?),
            SamplerConfig::DpmSolverPp2M { steps } => {
                Box::new(DpmSolverPp2M::new(schedule, prediction, steps)?)
            }
            SamplerConfig::DpmSolverPp { steps, order } => {
                Box::new(DpmSolverPp::new(schedule, prediction, steps, order)?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> SamplerOptions {
        SamplerOptions::default()
    }

    #[test]
    fn every_listed_sampler_parses_builds_and_reports_its_nfe() {
        let schedule = NoiseSchedule::default();
        for info in SAMPLERS {
            let cfg = SamplerConfig::parse(info.name, 7, &opts()).unwrap();
            assert_eq!(cfg.name(), info.name);
            let s = cfg.build(&schedule, Prediction::Epsilon).unwrap();
            assert_eq!((s.name(), s.nfe(), cfg.nfe()), (info.name, 7, 7));
            let json = serde_json::to_string(&cfg).unwrap();
            assert_eq!(
                serde_json::from_str::<SamplerConfig>(&json).unwrap(),
                cfg,
                "{json}"
            );
        }
        assert_eq!(
            SamplerConfig::default(),
            SamplerConfig::parse("dpm-solver++", 50, &opts()).unwrap()
        );
    }

    #[test]
    fn bad_input_gets_a_clear_error() {
        let e = SamplerConfig::parse("euler", 50, &opts())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("euler") && e.contains("dpm-solver++, dpm-solver++-2m, ddim, ddpm"),
            "{e}"
        );
        let schedule = NoiseSchedule::default();
        for name in SAMPLERS.map(|s| s.name) {
            let zero = SamplerConfig::parse(name, 0, &opts()).unwrap();
            assert_eq!(
                zero.validate(1000),
                Err(DiffusionError::ZeroSteps {
                    sampler: zero.name()
                })
            );
            assert!(zero.build(&schedule, Prediction::Epsilon).is_err());
            let many = SamplerConfig::parse(name, 1001, &opts()).unwrap();
            let e = many
                .build(&schedule, Prediction::Epsilon)
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains("1001") && e.contains("at most 1000"), "{e}");
        }
        for eta in [-0.1, 1.5, f64::NAN] {
            let cfg = SamplerConfig::parse(
                "ddim",
                50,
                &SamplerOptions {
                    eta: Some(eta),
                    ..opts()
                },
            )
            .unwrap();
            assert!(
                matches!(
                    cfg.validate(1000),
                    Err(DiffusionError::EtaOutOfRange { .. })
                ),
                "{eta}"
            );
        }
        let cfg = SamplerConfig::parse(
            "dpm-solver++",
            50,
            &SamplerOptions {
                order: Some(4),
                ..opts()
            },
        )
        .unwrap();
        assert_eq!(
            cfg.validate(1000),
            Err(DiffusionError::BadOrder { order: 4 })
        );
        let e = SamplerConfig::parse(
            "dpm-solver++",
            50,
            &SamplerOptions {
                eta: Some(0.5),
                ..opts()
            },
        );
        assert!(e.unwrap_err().to_string().contains("applies to: ddim"));
        let e = SamplerConfig::parse("dpm-solver++-2m", 1000, &opts())
            .unwrap()
            .build(&schedule, Prediction::V);
        assert!(
            e.err().unwrap().to_string().contains("repeat"),
            "linspace(0, 999, 1001) rounds to repeats"
        );
    }
}
