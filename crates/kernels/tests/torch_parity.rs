//! Parity with PyTorch (float32, CPU): inputs, outputs and gradients from
//! `scripts/parity/make_kernel_fixtures.py` (see its docstring for the shapes and the
//! distributions). Forward and backward run on Flex under autodiff, so both the fused
//! kernels and the hand-written backward passes are compared.
//!
//! Tolerances (absolute + relative to the PyTorch value): GELU 1e-6 + 1e-6 |y| (inputs up to
//! about 10 in magnitude; f32 rounding alone is ~5e-7 there); LayerNorm 1e-5 (dx 5e-6; dgamma and dbeta, which
//! sum 18 rows, add 1e-6 relative); attention 1e-5; linear 1e-5 (dw and db sum 18 rows: 2e-5).

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use common::to_vec;
use ifvit_kernels::{attention, gelu, layer_norm, linear};
use safetensors::SafeTensors;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/kernels.safetensors"
);

struct Fixture(Vec<u8>);

impl Fixture {
    fn load() -> Self {
        Self(std::fs::read(FIXTURE).unwrap_or_else(|e| {
            panic!("{FIXTURE}: {e}; regenerate with scripts/parity/make_kernel_fixtures.py")
        }))
    }

    fn get(&self, name: &str) -> (Vec<f32>, Vec<usize>) {
        let st = SafeTensors::deserialize(&self.0).expect("kernels.safetensors parses");
        let t = st
            .tensor(name)
            .unwrap_or_else(|e| panic!("{FIXTURE}: tensor `{name}`: {e}"));
        let v = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        (v, t.shape().to_vec())
    }

    fn tensor<const D: usize>(&self, name: &str, device: &Device) -> Tensor<D> {
        let (v, shape) = self.get(name);
        Tensor::from_data(TensorData::new(v, shape), device).require_grad()
    }

    fn check<const D: usize>(&self, name: &str, got: &Tensor<D>, abs: f32, rel: f32) {
        let (want, shape) = self.get(name);
        assert_eq!(got.dims().to_vec(), shape, "{name}: shape");
        let got = to_vec(got);
        let mut worst = 0.0f32;
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let d = (g - w).abs();
            let tol = abs + rel * w.abs();
            assert!(
                d <= tol,
                "{name}[{i}]: {g} vs PyTorch {w} (|diff| {d:e} > {tol:e})"
            );
            worst = worst.max(d);
        }
        eprintln!("{name}: max |diff| {worst:e}");
    }
}

fn device() -> Device {
    Device::flex().autodiff()
}

#[test]
fn gelu_matches_pytorch() {
    let (f, dev) = (Fixture::load(), device());
    let x: Tensor<3> = f.tensor("gelu.x", &dev);
    let y = gelu(x.clone());
    let grads = (y.clone() * f.tensor::<3>("gelu.dy", &dev))
        .sum()
        .backward();
    f.check("gelu.y", &y, 1e-6, 1e-6);
    f.check("gelu.dx", &x.grad(&grads).unwrap(), 1e-6, 1e-6);
}

#[test]
fn layer_norm_matches_pytorch() {
    let (f, dev) = (Fixture::load(), device());
    let x: Tensor<3> = f.tensor("ln.x", &dev);
    let gamma: Tensor<1> = f.tensor("ln.gamma", &dev);
    let beta: Tensor<1> = f.tensor("ln.beta", &dev);
    let y = layer_norm(x.clone(), gamma.clone(), beta.clone(), 1e-5);
    let grads = (y.clone() * f.tensor::<3>("ln.dy", &dev)).sum().backward();
    f.check("ln.y", &y, 1e-5, 0.0);
    f.check("ln.dx", &x.grad(&grads).unwrap(), 5e-6, 0.0);
    f.check("ln.dgamma", &gamma.grad(&grads).unwrap(), 1e-5, 1e-6);
    f.check("ln.dbeta", &beta.grad(&grads).unwrap(), 1e-5, 1e-6);
}

fn check_attention(prefix: &str) {
    let (f, dev) = (Fixture::load(), device());
    let [q, k, v]: [Tensor<4>; 3] =
        ["q", "k", "v"].map(|n| f.tensor(&format!("{prefix}.{n}"), &dev));
    let y = attention(q.clone(), k.clone(), v.clone());
    let grads = (y.clone() * f.tensor::<4>(&format!("{prefix}.dy"), &dev))
        .sum()
        .backward();
    f.check(&format!("{prefix}.y"), &y, 1e-5, 0.0);
    for (n, t) in [("dq", &q), ("dk", &k), ("dv", &v)] {
        f.check(
            &format!("{prefix}.{n}"),
            &t.grad(&grads).unwrap(),
            1e-5,
            0.0,
        );
    }
}

#[test]
fn self_attention_matches_pytorch() {
    check_attention("attn");
}

#[test]
fn cross_attention_shape_matches_pytorch() {
    check_attention("xattn");
}

fn check_linear(prefix: &str, bias: bool) {
    let (f, dev) = (Fixture::load(), device());
    let x: Tensor<3> = f.tensor(&format!("{prefix}.x"), &dev);
    let w: Tensor<2> = f.tensor(&format!("{prefix}.w"), &dev);
    let b: Option<Tensor<1>> = bias.then(|| f.tensor(&format!("{prefix}.b"), &dev));
    let y = linear(x.clone(), w.clone(), b.clone());
    let grads = (y.clone() * f.tensor::<3>(&format!("{prefix}.dy"), &dev))
        .sum()
        .backward();
    f.check(&format!("{prefix}.y"), &y, 1e-5, 0.0);
    f.check(&format!("{prefix}.dx"), &x.grad(&grads).unwrap(), 1e-5, 0.0);
    f.check(&format!("{prefix}.dw"), &w.grad(&grads).unwrap(), 2e-5, 0.0);
    if let Some(b) = b {
        f.check(&format!("{prefix}.db"), &b.grad(&grads).unwrap(), 2e-5, 0.0);
    }
}

#[test]
fn linear_matches_pytorch() {
    check_linear("linear", true);
}

#[test]
fn linear_without_bias_matches_pytorch() {
    check_linear("linear_nb", false);
}
