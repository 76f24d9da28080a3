//! What the network predicts, and the conversions between the parameterisations.
//!
//! With `x_t = alpha x_0 + sigma eps` (`alpha^2 + sigma^2 = 1`):
//!
//! | prediction | target                       | x_0 from output `o`     | eps from output `o`     |
//! |------------|------------------------------|-------------------------|-------------------------|
//! | `epsilon`  | `eps`                        | `(x_t - sigma o) / alpha` | `o`                   |
//! | `sample`   | `x_0`                        | `o`                     | `(x_t - alpha o) / sigma` |
//! | `v`        | `alpha eps - sigma x_0`      | `alpha x_t - sigma o`   | `sigma x_t + alpha o`   |
//!
//! Every conversion is affine in `o` with weights that do not depend on `o`, so classifier-free
//! guidance (an affine combination of two outputs) gives the same result in any of them.

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::error::DiffusionError;

/// The network's output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Prediction {
    /// The noise (SPEC, U-ViT).
    #[default]
    Epsilon,
    /// The clean sample `x_0`.
    Sample,
    /// `v = alpha eps - sigma x_0` (Salimans & Ho 2022).
    V,
}

/// A coefficient per batch element, or one for the whole batch.
#[derive(Clone, Debug, PartialEq)]
pub enum Coef {
    Scalar(f64),
    /// One value per batch element.
    PerSample(Vec<f64>),
}

impl From<f64> for Coef {
    fn from(v: f64) -> Self {
        Coef::Scalar(v)
    }
}

impl From<Vec<f64>> for Coef {
    fn from(v: Vec<f64>) -> Self {
        Coef::PerSample(v)
    }
}

impl From<&[f64]> for Coef {
    fn from(v: &[f64]) -> Self {
        Coef::PerSample(v.to_vec())
    }
}

impl Coef {
    /// `x * c`, broadcasting a per-sample coefficient over `[C, H, W]`.
    pub fn mul(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Coef::Scalar(c) => x.mul_scalar(*c),
            Coef::PerSample(c) => {
                let v: Vec<f32> = c.iter().map(|&c| c as f32).collect();
                let c = Tensor::<4>::from_data(TensorData::new(v, [c.len(), 1, 1, 1]), &x.device()); // [B, 1, 1, 1]
                x * c
            }
        }
    }
}

/// All predictions with their names, aliases and a line of help.
pub const PREDICTIONS: [(Prediction, &str, &str); 3] = [
    (
        Prediction::Epsilon,
        "epsilon (eps)",
        "the noise eps (SPEC / U-ViT default)",
    ),
    (Prediction::Sample, "sample (x0)", "the clean sample x_0"),
    (
        Prediction::V,
        "v",
        "v = alpha eps - sigma x_0 (Salimans & Ho 2022)",
    ),
];

impl Prediction {
    /// `epsilon`/`eps`, `sample`/`x0`, `v`/`v-prediction`.
    pub fn parse(name: &str) -> Result<Self, DiffusionError> {
        match name {
            "epsilon" | "eps" => Ok(Prediction::Epsilon),
            "sample" | "x0" => Ok(Prediction::Sample),
            "v" | "v-prediction" => Ok(Prediction::V),
            _ => Err(DiffusionError::UnknownName {
                what: "prediction",
                name: name.to_string(),
                known: "epsilon (eps), sample (x0), v (v-prediction)".to_string(),
            }),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Prediction::Epsilon => "epsilon",
            Prediction::Sample => "sample",
            Prediction::V => "v",
        }
    }

    /// The regression target for `x_t = alpha x0 + sigma noise`.
    pub fn target(self, x0: Tensor<4>, noise: Tensor<4>, alpha: &Coef, sigma: &Coef) -> Tensor<4> {
        match self {
            Prediction::Epsilon => noise,
            Prediction::Sample => x0,
            Prediction::V => alpha.mul(noise) - sigma.mul(x0),
        }
    }

    /// `(x0, eps)` implied by the network output `out` at `x_t`.
    pub fn to_x0_eps(
        self,
        out: Tensor<4>,
        x_t: Tensor<4>,
        alpha: &Coef,
        sigma: &Coef,
    ) -> (Tensor<4>, Tensor<4>) {
        match self {
            Prediction::Epsilon => {
                let x0 = div(x_t - sigma.mul(out.clone()), alpha);
                (x0, out)
            }
            Prediction::Sample => {
                let eps = div(x_t - alpha.mul(out.clone()), sigma);
                (out, eps)
            }
            Prediction::V => {
                let x0 = alpha.mul(x_t.clone()) - sigma.mul(out.clone());
                let eps = sigma.mul(x_t) + alpha.mul(out);
                (x0, eps)
            }
        }
    }

    /// `x0` implied by the network output (what DPM-Solver++ integrates).
    pub fn to_x0(self, out: Tensor<4>, x_t: Tensor<4>, alpha: &Coef, sigma: &Coef) -> Tensor<4> {
        match self {
            Prediction::Epsilon => div(x_t - sigma.mul(out), alpha),
            Prediction::Sample => out,
            Prediction::V => alpha.mul(x_t) - sigma.mul(out),
        }
    }

    /// The output this parameterisation gives for noise prediction `eps` at `x_t` (turns an
    /// epsilon model, e.g. an analytic one, into a sample or v model).
    pub fn from_eps(self, eps: Tensor<4>, x_t: Tensor<4>, alpha: &Coef, sigma: &Coef) -> Tensor<4> {
        match self {
            Prediction::Epsilon => eps,
            Prediction::Sample => div(x_t - sigma.mul(eps), alpha),
            Prediction::V => {
                // v = alpha eps - sigma x0 = alpha eps - sigma (x_t - sigma eps) / alpha = (eps - sigma x_t) / alpha
                div(eps - sigma.mul(x_t), alpha)
            }
        }
    }
}

fn div(x: Tensor<4>, c: &Coef) -> Tensor<4> {
    match c {
        Coef::Scalar(c) => x.mul_scalar(1.0 / c),
        Coef::PerSample(c) => Coef::PerSample(c.iter().map(|c| 1.0 / c).collect()).mul(x),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn t(v: &[f32], device: &Device) -> Tensor<4> {
        Tensor::from_data(TensorData::new(v.to_vec(), [v.len(), 1, 1, 1]), device)
    }

    fn close(a: Tensor<4>, b: Tensor<4>) -> f32 {
        let (a, b) = (
            a.into_data().try_into_vec::<f32>().unwrap(),
            b.into_data().try_into_vec::<f32>().unwrap(),
        );
        a.iter()
            .zip(&b)
            .fold(0f32, |m, (x, y)| m.max((x - y).abs()))
    }

    #[test]
    fn conversions_recover_x0_and_eps_in_every_parameterisation() {
        let device = Device::flex();
        let (x0, eps) = (t(&[0.5, -1.0, 2.0], &device), t(&[1.0, 0.3, -0.7], &device));
        let alpha_bar = [0.9f64, 0.2, 0.01];
        let alpha: Coef = alpha_bar
            .iter()
            .map(|a| a.sqrt())
            .collect::<Vec<_>>()
            .into();
        let sigma: Coef = alpha_bar
            .iter()
            .map(|a| (1.0 - a).sqrt())
            .collect::<Vec<_>>()
            .into();
        let x_t = alpha.mul(x0.clone()) + sigma.mul(eps.clone());
        for p in [Prediction::Epsilon, Prediction::Sample, Prediction::V] {
            let out = p.target(x0.clone(), eps.clone(), &alpha, &sigma);
            let (x0_hat, eps_hat) = p.to_x0_eps(out.clone(), x_t.clone(), &alpha, &sigma);
            assert!(close(x0_hat, x0.clone()) < 1e-4, "{p:?} x0");
            assert!(close(eps_hat, eps.clone()) < 1e-5, "{p:?} eps");
            assert!(
                close(
                    p.to_x0(out.clone(), x_t.clone(), &alpha, &sigma),
                    x0.clone()
                ) < 1e-4,
                "{p:?}"
            );
            assert!(
                close(p.from_eps(eps.clone(), x_t.clone(), &alpha, &sigma), out) < 1e-4,
                "{p:?} from_eps"
            );
        }
    }

    #[test]
    fn names_parse_back_and_unknown_ones_are_listed() {
        for p in [Prediction::Epsilon, Prediction::Sample, Prediction::V] {
            assert_eq!(Prediction::parse(p.name()).unwrap(), p);
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.name()));
        }
        assert_eq!(Prediction::parse("x0").unwrap(), Prediction::Sample);
        let e = Prediction::parse("score").unwrap_err().to_string();
        assert!(e.contains("score") && e.contains("v-prediction"), "{e}");
    }
}
