//! The training objective (SPEC section 4): `n ~ U{1..N}`, `eps ~ N(0, I)`,
//! `x_n = sqrt(alpha_bar(n)) x_0 + sqrt(1 - alpha_bar(n)) eps`, the network sees the float `n`,
//! and the loss is the mean over C, H, W of the squared error, then the mean over the batch.
//! Optional min-SNR-gamma loss weights (Hang et al. 2023).

use burn::tensor::{Tensor, TensorData};
use rand::Rng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::error::DiffusionError;
use crate::noise::randn;
use crate::prediction::{Coef, Prediction};
use crate::schedule::NoiseSchedule;

/// One noised batch and what the network should output for it.
#[derive(Clone, Debug)]
pub struct TrainingSample {
    /// `[batch, C, H, W]` noisy input.
    pub x_t: Tensor<4>,
    /// `[batch]` the network's time input: the step `n` as a float.
    pub model_time: Tensor<1>,
    /// `[batch, C, H, W]` the regression target in the chosen parameterisation.
    pub target: Tensor<4>,
    /// The step `n` in `1..=N` of each batch element.
    pub steps: Vec<usize>,
}

/// Draws `n ~ U{1..N}` for each batch element, then the noise (`[B, C, H, W]` standard
/// normals, row-major), both from `rng` in that order, and noises `x0: [B, C, H, W]`.
pub fn training_sample(
    schedule: &NoiseSchedule,
    prediction: Prediction,
    x0: Tensor<4>,
    rng: &mut StdRng,
) -> TrainingSample {
    let dims = x0.dims();
    let n_max = schedule.num_steps();
    let steps: Vec<usize> = (0..dims[0]).map(|_| rng.random_range(1..=n_max)).collect();
    let noise = randn(dims, rng, &x0.device());
    training_sample_at(schedule, prediction, x0, noise, &steps)
}

/// [`training_sample`] with the steps and noise given (for validation losses at fixed steps).
/// Panics if a step is outside `0..=N` or `steps.len()` is not the batch size.
pub fn training_sample_at(
    schedule: &NoiseSchedule,
    prediction: Prediction,
    x0: Tensor<4>,
    noise: Tensor<4>,
    steps: &[usize],
) -> TrainingSample {
    let device = x0.device();
    assert_eq!(steps.len(), x0.dims()[0], "one step per batch element");
    let (alpha, sigma): (Vec<f64>, Vec<f64>) =
        steps.iter().map(|&n| schedule.alpha_sigma(n)).unzip();
    let (alpha, sigma) = (Coef::PerSample(alpha), Coef::PerSample(sigma));
    let x_t = alpha.mul(x0.clone()) + sigma.mul(noise.clone());
    let target = prediction.target(x0, noise, &alpha, &sigma);
    let times: Vec<f32> = steps.iter().map(|&n| n as f32).collect();
    TrainingSample {
        x_t,
        model_time: Tensor::from_data(TensorData::new(times, [steps.len()]), &device),
        target,
        steps: steps.to_vec(),
    }
}

/// `[batch]`: mean over C, H, W of `(pred - target)^2`.
pub fn per_sample_loss(pred: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
    let [b, c, h, w] = pred.dims();
    (pred - target)
        .square()
        .reshape([b, c * h * w])
        .mean_dim(1)
        .reshape([b])
}

/// SPEC's loss, `[1]`: [`per_sample_loss`] averaged over the batch.
pub fn diffusion_loss(pred: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
    per_sample_loss(pred, target).mean()
}

/// `[1]`: `mean_b(w_b * per_sample_loss_b)`.
pub fn weighted_diffusion_loss(pred: Tensor<4>, target: Tensor<4>, weights: &[f64]) -> Tensor<1> {
    let device = pred.device();
    let w: Vec<f32> = weights.iter().map(|&w| w as f32).collect();
    let w = Tensor::<1>::from_data(TensorData::new(w, [weights.len()]), &device);
    (per_sample_loss(pred, target) * w).mean()
}

/// How the per-sample losses are weighted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
/// Serialised externally tagged: `Uniform`, `MinSnr(gamma: 5.0)`.
pub enum LossWeighting {
    /// Every step counts the same (SPEC).
    #[default]
    Uniform,
    /// Min-SNR-gamma (Hang et al. 2023): the weight that turns each parameterisation's MSE into
    /// `min(SNR, gamma) * ||x0 - x0_hat||^2`: `min(SNR, gamma) / SNR` for epsilon,
    /// `min(SNR, gamma)` for sample, `min(SNR, gamma) / (SNR + 1)` for v. gamma = 5 in the paper.
    MinSnr { gamma: f64 },
}

impl LossWeighting {
    /// `uniform`, or `min-snr` (gamma 5), or `min-snr:GAMMA`.
    pub fn parse(spec: &str) -> Result<Self, DiffusionError> {
        let w = match spec.split_once(':') {
            None if spec == "uniform" => LossWeighting::Uniform,
            None if spec == "min-snr" => LossWeighting::MinSnr { gamma: 5.0 },
            Some(("min-snr", g)) => LossWeighting::MinSnr {
                gamma: g
                    .parse()
                    .map_err(|_| DiffusionError::BadGamma { gamma: f64::NAN })?,
            },
            _ => {
                return Err(DiffusionError::UnknownName {
                    what: "loss weighting",
                    name: spec.to_string(),
                    known: "uniform, min-snr, min-snr:GAMMA".to_string(),
                });
            }
        };
        w.validate()?;
        Ok(w)
    }

    pub fn validate(&self) -> Result<(), DiffusionError> {
        match *self {
            LossWeighting::MinSnr { gamma } if !(gamma.is_finite() && gamma > 0.0) => {
                Err(DiffusionError::BadGamma { gamma })
            }
            _ => Ok(()),
        }
    }

    /// One weight per step `n` (for [`weighted_diffusion_loss`]).
    pub fn weights(
        &self,
        schedule: &NoiseSchedule,
        prediction: Prediction,
        steps: &[usize],
    ) -> Vec<f64> {
        match *self {
            LossWeighting::Uniform => vec![1.0; steps.len()],
            LossWeighting::MinSnr { gamma } => steps
                .iter()
                .map(|&n| {
                    let snr = schedule.snr(n);
                    let clipped = snr.min(gamma);
                    match prediction {
                        Prediction::Epsilon => clipped / snr,
                        Prediction::Sample => clipped,
                        Prediction::V => clipped / (snr + 1.0),
                    }
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::noise::seeded_rng;
    use burn::tensor::Device;

    fn vec1(t: Tensor<1>) -> Vec<f32> {
        t.into_data().try_into_vec::<f32>().unwrap()
    }

    #[test]
    fn noises_x0_with_the_drawn_steps_and_reports_them_as_model_time() {
        let device = Device::flex();
        let schedule = NoiseSchedule::default();
        let x0 = Tensor::<4>::ones([3, 2, 2, 2], &device);
        let s = training_sample(
            &schedule,
            Prediction::Epsilon,
            x0.clone(),
            &mut seeded_rng(3),
        );
        assert_eq!(s.steps.len(), 3);
        assert!(s.steps.iter().all(|&n| (1..=1000).contains(&n)));
        assert_eq!(
            vec1(s.model_time),
            s.steps.iter().map(|&n| n as f32).collect::<Vec<_>>()
        );
        // x_t = alpha x0 + sigma eps with the returned target eps, per batch element
        let xt = s.x_t.into_data().try_into_vec::<f32>().unwrap();
        let eps = s.target.into_data().try_into_vec::<f32>().unwrap();
        for (b, &n) in s.steps.iter().enumerate() {
            let (a, sg) = schedule.alpha_sigma(n);
            for i in 0..8 {
                let k = b * 8 + i;
                assert!((xt[k] - (a as f32 + sg as f32 * eps[k])).abs() < 1e-5);
            }
        }
        // deterministic from the seed
        let again = training_sample(&schedule, Prediction::Epsilon, x0, &mut seeded_rng(3));
        assert_eq!(again.steps, s.steps);
    }

    #[test]
    fn steps_cover_1_to_n_uniformly() {
        let device = Device::flex();
        let schedule = NoiseSchedule::new(crate::BetaSchedule::default(), 4).unwrap();
        let mut rng = seeded_rng(0);
        let mut counts = [0usize; 5];
        for _ in 0..200 {
            let s = training_sample(
                &schedule,
                Prediction::Epsilon,
                Tensor::zeros([10, 1, 1, 1], &device),
                &mut rng,
            );
            for n in s.steps {
                counts[n] += 1;
            }
        }
        assert_eq!(counts[0], 0, "n = 0 is never drawn");
        // 2000 draws over 4 values: expected 500, sd 19.4
        assert!(
            counts[1..].iter().all(|&c| (400..600).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn loss_is_mean_over_chw_then_batch() {
        let device = Device::flex();
        // batch 2, 4 elements each: squared errors (1, 1, 1, 1) and (4, 0, 0, 0)
        let pred = Tensor::<4>::from_data(
            TensorData::new(vec![1f32, 1., 1., 1., 2., 0., 0., 0.], [2, 1, 2, 2]),
            &device,
        );
        let target = Tensor::<4>::zeros([2, 1, 2, 2], &device);
        assert_eq!(
            vec1(per_sample_loss(pred.clone(), target.clone())),
            vec![1.0, 1.0]
        );
        assert_eq!(
            vec1(diffusion_loss(pred.clone(), target.clone())),
            vec![1.0]
        );
        assert_eq!(
            vec1(weighted_diffusion_loss(pred, target, &[1.0, 3.0])),
            vec![2.0]
        );
    }

    #[test]
    fn loss_backpropagates_on_an_autodiff_device() {
        let device = Device::flex().autodiff();
        let pred = Tensor::<4>::from_data(
            TensorData::new(vec![1f32, 2., 3., 4.], [1, 1, 2, 2]),
            &device,
        )
        .require_grad();
        let loss = diffusion_loss(pred.clone(), Tensor::zeros([1, 1, 2, 2], &device));
        let grads = loss.backward();
        let g = pred
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        assert_eq!(g, vec![0.5, 1.0, 1.5, 2.0]); // d/dp mean(p^2) = 2p / 4
    }

    #[test]
    fn min_snr_weights() {
        let s = NoiseSchedule::default();
        let w = LossWeighting::MinSnr { gamma: 5.0 };
        // n = 1: SNR ~ 1176 > 5; n = 1000: SNR ~ 0.0047 < 5
        let (hi, lo) = (s.snr(1), s.snr(1000));
        let eps = w.weights(&s, Prediction::Epsilon, &[1, 1000]);
        assert!((eps[0] - 5.0 / hi).abs() < 1e-12 && eps[1] == 1.0);
        let x0 = w.weights(&s, Prediction::Sample, &[1, 1000]);
        assert!(x0[0] == 5.0 && (x0[1] - lo).abs() < 1e-15);
        let v = w.weights(&s, Prediction::V, &[1, 1000]);
        assert!((v[0] - 5.0 / (hi + 1.0)).abs() < 1e-12 && (v[1] - lo / (lo + 1.0)).abs() < 1e-15);
        assert_eq!(
            LossWeighting::Uniform.weights(&s, Prediction::V, &[3, 4]),
            vec![1.0, 1.0]
        );
        assert_eq!(
            LossWeighting::parse("min-snr:2.5").unwrap(),
            LossWeighting::MinSnr { gamma: 2.5 }
        );
        assert!(LossWeighting::parse("min-snr:-1").is_err());
        assert!(
            LossWeighting::parse("huber")
                .unwrap_err()
                .to_string()
                .contains("min-snr:GAMMA")
        );
    }
}
