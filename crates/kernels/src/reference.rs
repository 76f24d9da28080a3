//! burn's own (decomposed under autodiff) form of each op: the fallback on every device
//! other than Flex, and the reference of the gradient checks and benchmarks.

use burn::tensor::Tensor;
use burn::tensor::ops::AttentionModuleOptions;

/// `burn::tensor::activation::gelu` (exact, erf).
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    burn::tensor::activation::gelu(x)
}

/// `burn::tensor::module::layer_norm` (what `burn::nn::LayerNorm` runs for f32).
pub fn layer_norm<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    eps: f64,
) -> Tensor<D> {
    burn::tensor::module::layer_norm(x, gamma, Some(beta), eps)
}

/// `burn::tensor::module::attention` without mask or bias, scale `head_dim^-0.5`.
pub fn attention(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>) -> Tensor<4> {
    burn::tensor::module::attention(q, k, v, None, None, AttentionModuleOptions::default())
}

/// `burn::tensor::module::linear` (what `burn::nn::Linear` runs): `x W (+ b)`.
pub fn linear<const D: usize>(
    x: Tensor<D>,
    weight: Tensor<2>,
    bias: Option<Tensor<1>>,
) -> Tensor<D> {
    burn::tensor::module::linear(x, weight, bias)
}

/// One AdamW step op by op, as `burn::optim::AdamW` computes it (see [`crate::adamw_step`]).
pub fn adamw_step<const D: usize>(
    param: Tensor<D>,
    grad: Tensor<D>,
    (m, v): (Tensor<D>, Tensor<D>),
    s: crate::AdamWStep,
) -> (Tensor<D>, Tensor<D>, Tensor<D>) {
    let t = i32::try_from(s.time).unwrap_or(i32::MAX);
    let m = m
        .mul_scalar(s.beta_1)
        .add(grad.clone().mul_scalar(1.0 - s.beta_1));
    let v = v
        .mul_scalar(s.beta_2)
        .add(grad.square().mul_scalar(1.0 - s.beta_2));
    let m_hat = m.clone().div_scalar(1.0 - s.beta_1.powi(t));
    let v_hat = v.clone().div_scalar(1.0 - s.beta_2.powi(t));
    let delta = m_hat.div(v_hat.sqrt().add_scalar(s.epsilon));
    let p = param.mul_scalar(1.0 - s.lr * s.weight_decay as f64) - delta.mul_scalar(s.lr);
    (p, m, v)
}
