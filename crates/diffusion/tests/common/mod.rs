//! Shared by the integration tests: fixtures and exact ("analytic") models.
#![allow(dead_code)]

use std::path::PathBuf;

use burn::tensor::{Device, Tensor, TensorData};
use ifvit_diffusion::{NoiseSchedule, Prediction};

pub fn fixture(name: &str) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; regenerate with `python3 scripts/golden/make_diffusion_fixtures.py`",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

pub fn f64s(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

pub fn usizes(v: &serde_json::Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

pub fn tensor(v: &[f64], shape: [usize; 4], device: &Device) -> Tensor<4> {
    let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    Tensor::from_data(TensorData::new(v, shape), device)
}

pub fn host<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data()
        .try_into_vec::<f32>()
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect()
}

pub fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

/// `(alpha, sigma)` for a model time (`n`, or `N t` for continuous time): the same
/// continuous-time lookup both ways, exact at integer `n`.
pub fn alpha_sigma_at(schedule: &NoiseSchedule, model_time: f64) -> (f64, f64) {
    schedule.alpha_sigma_t(model_time / schedule.num_steps() as f64)
}

/// Exact network outputs for data drawn elementwise from a Gaussian mixture: element `i`
/// of the flattened `[B, C, H, W]` has components `(weight, mean, std)` in `comps[i % comps.len()]`.
/// Computed on the host in f64, like the Python reference.
pub struct Mixture {
    pub comps: Vec<Vec<(f64, f64, f64)>>,
}

impl Mixture {
    /// A single Gaussian per element.
    pub fn gaussian(mu: &[f64], std: &[f64]) -> Self {
        Self {
            comps: mu
                .iter()
                .zip(std)
                .map(|(&m, &s)| vec![(1.0, m, s)])
                .collect(),
        }
    }

    /// `E[eps | x_t]` = `sigma * sum_k r_k (x - alpha mu_k) / (alpha^2 s_k^2 + sigma^2)`.
    pub fn eps(&self, x: f64, i: usize, alpha: f64, sigma: f64) -> f64 {
        let comps = &self.comps[i % self.comps.len()];
        let mut terms = Vec::with_capacity(comps.len());
        for &(w, m, s) in comps {
            let var = alpha * alpha * s * s + sigma * sigma;
            let d = x - alpha * m;
            let log_p = w.ln() - 0.5 * var.ln() - 0.5 * d * d / var;
            terms.push((log_p, sigma * d / var));
        }
        let top = terms.iter().fold(f64::NEG_INFINITY, |m, t| m.max(t.0));
        let (num, den) = terms.iter().fold((0.0, 0.0), |(n, d), &(lp, e)| {
            let r = (lp - top).exp();
            (n + r * e, d + r)
        });
        num / den
    }

    /// The model `(x, t) -> output` in `prediction`'s parameterisation.
    pub fn model<'a>(
        &'a self,
        schedule: &'a NoiseSchedule,
        prediction: Prediction,
    ) -> impl FnMut(Tensor<4>, Tensor<1>) -> Tensor<4> + 'a {
        move |x: Tensor<4>, t: Tensor<1>| {
            let dims = x.dims();
            let device = x.device();
            let times = host(t);
            assert!(times.iter().all(|&v| v == times[0]), "one time per call");
            let (a, s) = alpha_sigma_at(schedule, times[0]);
            let out: Vec<f32> = host(x)
                .into_iter()
                .enumerate()
                .map(|(k, x)| {
                    let e = self.eps(x, k, a, s);
                    let x0 = (x - s * e) / a;
                    (match prediction {
                        Prediction::Epsilon => e,
                        Prediction::Sample => x0,
                        Prediction::V => a * e - s * x0,
                    }) as f32
                })
                .collect();
            Tensor::from_data(TensorData::new(out, dims), &device)
        }
    }
}

/// The fixtures store schedules and samplers in the Python script's internally tagged form
/// (`{"kind": "scaled-linear", ...}`, `{"sampler": "ddim", ...}`); our serde form is
/// externally tagged (`{"ScaledLinear": {...}}`). This converts one to the other.
pub fn externally_tagged(v: &serde_json::Value, tag: &str) -> serde_json::Value {
    let mut obj = v.as_object().expect("fixture entry is an object").clone();
    let name = obj
        .remove(tag)
        .and_then(|t| t.as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("fixture entry lacks `{tag}`: {v}"));
    let variant = match name.as_str() {
        "scaled-linear" => "ScaledLinear",
        "linear" => "Linear",
        "cosine" => "Cosine",
        "uniform" => "Uniform",
        "min-snr" => "MinSnr",
        "ddpm" => "Ddpm",
        "ddim" => "Ddim",
        "dpm-solver++-2m" => "DpmSolverPp2M",
        "dpm-solver++" => "DpmSolverPp",
        other => panic!("unknown fixture tag `{other}`"),
    };
    if obj.is_empty() {
        serde_json::Value::String(variant.to_string())
    } else {
        serde_json::json!({ variant: serde_json::Value::Object(obj) })
    }
}
