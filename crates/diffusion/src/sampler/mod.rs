//! Samplers behind one interface (diffusers' `timesteps` / `step` / `add_noise`), and the
//! one driver that runs any of them.
//!
//! A [`Sampler`] makes exactly one model evaluation per `step`: `timesteps()[i]` is the model
//! time of evaluation `i`, `step(i, ..)` takes the model output there and returns the next
//! `x`, and `nfe() == timesteps().len()`. Multi-stage solvers (DPM-Solver++ singlestep) keep
//! their intermediate state between calls, as diffusers' singlestep scheduler does, so new
//! samplers slot in without touching the driver.

pub mod config;
pub mod ddim;
pub mod ddpm;
pub mod dpm_multistep;
pub mod dpm_singlestep;
pub mod spacing;

use burn::tensor::Tensor;
use rand::rngs::StdRng;

use crate::error::DiffusionError;
use crate::noise::randn;
use crate::prediction::Prediction;
use crate::schedule::NoiseSchedule;

pub use config::{SAMPLERS, SamplerConfig, SamplerInfo, SamplerOptions};
pub use spacing::Spacing;

/// One sampling algorithm with its timestep table fixed.
pub trait Sampler {
    /// The name `SamplerConfig::parse` accepts.
    fn name(&self) -> &'static str;

    /// The model time of each model evaluation, in order (`n` for discrete samplers, `N t`
    /// for continuous-time ones).
    fn timesteps(&self) -> &[f64];

    /// Number of model evaluations (function evaluations, NFE) of a full run.
    fn nfe(&self) -> usize {
        self.timesteps().len()
    }

    /// `(alpha, sigma)` of the marginal at evaluation `i`: `x = alpha x_0 + sigma eps`.
    fn alpha_sigma(&self, i: usize) -> (f64, f64);

    /// Whether `step(i, ..)` adds fresh noise (then it needs `noise: Some(..)`).
    fn needs_noise(&self, _i: usize) -> bool {
        false
    }

    /// Advances from evaluation `i` to the next: `model_output` is the network output for
    /// `(x, timesteps()[i])`; `noise` is a standard normal like `x` when `needs_noise(i)`.
    fn step(
        &mut self,
        i: usize,
        model_output: Tensor<4>,
        x: Tensor<4>,
        noise: Option<Tensor<4>>,
    ) -> Result<Tensor<4>, DiffusionError>;

    /// The forward process to evaluation `i`'s noise level: `alpha x0 + sigma noise`
    /// (e.g. to start image-to-image sampling part-way).
    fn add_noise(&self, x0: Tensor<4>, noise: Tensor<4>, i: usize) -> Tensor<4> {
        let (a, s) = self.alpha_sigma(i);
        x0.mul_scalar(a) + noise.mul_scalar(s)
    }
}

/// Checks a step index against the table.
/// For stateful (multistep/singlestep) samplers: `i` must be the next step; advances `next`.
pub(crate) fn check_next(
    sampler: &'static str,
    i: usize,
    next: &mut usize,
    nfe: usize,
) -> Result<(), DiffusionError> {
    check_index(sampler, i, nfe)?;
    if i != *next {
        return Err(DiffusionError::StepOrder {
            sampler,
            expected: *next,
            got: i,
            nfe,
        });
    }
    *next += 1;
    Ok(())
}

pub(crate) fn check_index(
    sampler: &'static str,
    i: usize,
    nfe: usize,
) -> Result<(), DiffusionError> {
    if i < nfe {
        Ok(())
    } else {
        Err(DiffusionError::StepOutOfRange {
            sampler,
            step: i,
            nfe,
        })
    }
}

/// Runs `sampler` from `x_t: [B, C, H, W]` (normally standard normal noise) to the end.
///
/// `model(x, t)` returns the network output for `x: [B, C, H, W]` at model time `t: [B]`
/// (all entries equal). Noise, where the sampler adds any, is drawn from `rng` after each
/// model call. See [`crate::guided`] for classifier-free guidance.
pub fn run<M>(
    sampler: &mut dyn Sampler,
    x_t: Tensor<4>,
    rng: &mut StdRng,
    mut model: M,
) -> Result<Tensor<4>, DiffusionError>
where
    M: FnMut(Tensor<4>, Tensor<1>) -> Tensor<4>,
{
    let device = x_t.device();
    let dims = x_t.dims();
    let mut x = x_t;
    for i in 0..sampler.nfe() {
        let t = Tensor::<1>::full([dims[0]], sampler.timesteps()[i], &device); // [B]
        let out = model(x.clone(), t);
        if out.dims() != dims {
            return Err(DiffusionError::ModelOutputShape {
                expected: dims.to_vec(),
                got: out.dims().to_vec(),
            });
        }
        let noise = sampler.needs_noise(i).then(|| randn(dims, rng, &device));
        x = sampler.step(i, out, x, noise)?;
    }
    Ok(x)
}

/// Builds the sampler `cfg` describes and runs it (see [`run`]).
pub fn sample<M>(
    cfg: &SamplerConfig,
    schedule: &NoiseSchedule,
    prediction: Prediction,
    x_t: Tensor<4>,
    rng: &mut StdRng,
    model: M,
) -> Result<Tensor<4>, DiffusionError>
where
    M: FnMut(Tensor<4>, Tensor<1>) -> Tensor<4>,
{
    let mut sampler = cfg.build(schedule, prediction)?;
    run(sampler.as_mut(), x_t, rng, model)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::noise::seeded_rng;
    use burn::tensor::Device;

    fn ones(device: &Device) -> Tensor<4> {
        Tensor::ones([1, 1, 1, 2], device)
    }

    #[test]
    fn add_noise_uses_the_noise_level_of_the_step() {
        let device = Device::flex();
        let schedule = NoiseSchedule::default();
        let ddim = SamplerConfig::Ddim {
            steps: 50,
            eta: 0.0,
            spacing: Spacing::Leading,
        };
        let s = ddim.build(&schedule, Prediction::Epsilon).unwrap();
        let (a, sg) = schedule.alpha_sigma(961); // step 1 of leading-50
        assert_eq!(s.alpha_sigma(1), (a, sg));
        let x = s.add_noise(ones(&device), ones(&device).mul_scalar(2.0), 1);
        let v = x.into_data().try_into_vec::<f32>().unwrap();
        assert!((v[0] as f64 - (a + 2.0 * sg)).abs() < 1e-6);
        let dpm = SamplerConfig::default()
            .build(&schedule, Prediction::Epsilon)
            .unwrap();
        let (a, sg) = schedule.alpha_sigma_t(1.0);
        assert_eq!(dpm.alpha_sigma(0), (a, sg));
    }

    #[test]
    fn misuse_is_an_error_not_a_panic() {
        let device = Device::flex();
        let schedule = NoiseSchedule::default();
        let mut dpm = SamplerConfig::default()
            .build(&schedule, Prediction::Epsilon)
            .unwrap();
        let e = dpm.step(3, ones(&device), ones(&device), None).unwrap_err();
        assert!(e.to_string().contains("out of order"), "{e}");
        let e = dpm
            .step(50, ones(&device), ones(&device), None)
            .unwrap_err();
        assert!(
            matches!(
                e,
                DiffusionError::StepOutOfRange {
                    step: 50,
                    nfe: 50,
                    ..
                }
            ),
            "{e}"
        );
        let mut ddpm = SamplerConfig::Ddpm {
            steps: 10,
            spacing: Spacing::Leading,
        }
        .build(&schedule, Prediction::Epsilon)
        .unwrap();
        assert!(ddpm.needs_noise(0) && !ddpm.needs_noise(9));
        let e = ddpm
            .step(0, ones(&device), ones(&device), None)
            .unwrap_err();
        assert!(matches!(e, DiffusionError::MissingNoise { .. }), "{e}");
        let cfg = SamplerConfig::DpmSolverPp2M { steps: 3 };
        let bad_model = |x: Tensor<4>, _t: Tensor<1>| x.narrow(3, 0, 1);
        let e = sample(
            &cfg,
            &schedule,
            Prediction::Epsilon,
            ones(&device),
            &mut seeded_rng(0),
            bad_model,
        );
        assert!(
            e.unwrap_err()
                .to_string()
                .contains("must return the same shape")
        );
    }
}
