//! Initialisation in one visible place (U-ViT's `_init_weights`).
//!
//! * `Linear`: weight ~ trunc-normal(std 0.02), bias 0. timm's `trunc_normal_` truncates at
//!   the absolute values ±2, i.e. at 100 standard deviations, so it is a plain normal in
//!   practice; we clamp to ±2 all the same so the two agree exactly.
//! * `LayerNorm`: weight 1, bias 0 (burn's default).
//! * `Conv2d`: PyTorch's default (kaiming-uniform, a = sqrt(5)), which is burn's default.

use burn::module::Param;
use burn::nn::{Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

/// Standard deviation of every `Linear` weight and of the position embedding.
pub const INIT_STD: f64 = 0.02;

/// LayerNorm epsilon of PyTorch's `nn.LayerNorm` (used throughout U-ViT).
pub const LN_EPS: f64 = 1e-5;

/// A (lazily initialised) truncated-normal parameter: N(0, std^2) clamped to [-2, 2]
/// (timm's absolute bounds). Nothing is drawn until the value is first used, so building a
/// model only to count its parameters, or to load a checkpoint into it, is instant.
pub fn trunc_normal<const D: usize>(
    shape: [usize; D],
    std: f64,
    device: &Device,
) -> Param<Tensor<D>> {
    Initializer::Normal { mean: 0.0, std }
        .init(shape, device)
        .init_mapper(|t| t.clamp(-2.0, 2.0))
}

/// `nn.Linear(d_in, d_out, bias)` with U-ViT's init (weight trunc-normal 0.02, bias 0).
/// Weight layout is burn's `[d_in, d_out]`.
pub fn linear(d_in: usize, d_out: usize, bias: bool, device: &Device) -> Linear {
    let mut l = LinearConfig::new(d_in, d_out)
        .with_bias(bias)
        .with_initializer(Initializer::Zeros)
        .init(device);
    l.weight = trunc_normal([d_in, d_out], INIT_STD, device);
    l
}

/// Applies a `Linear` through the fused kernel (`ifvit_kernels::linear`: the bias written into
/// the output, no zero fill; burn's op off Flex). `[.., d_in] -> [.., d_out]`.
pub fn lin<const D: usize>(l: &Linear, x: Tensor<D>) -> Tensor<D> {
    ifvit_kernels::linear_module(l, x)
}

/// `nn.LayerNorm(dim)` with eps 1e-5, weight 1, bias 0.
pub fn layer_norm(dim: usize, device: &Device) -> LayerNorm {
    LayerNormConfig::new(dim).with_epsilon(LN_EPS).init(device)
}

/// Applies a LayerNorm made by [`layer_norm`] (epsilon [`LN_EPS`]) through the fused kernel
/// (`ifvit_kernels::layer_norm`; burn's op off Flex). `[.., dim] -> [.., dim]`.
pub fn norm<const D: usize>(n: &LayerNorm, x: Tensor<D>) -> Tensor<D> {
    ifvit_kernels::layer_norm_module(n, x, LN_EPS)
}
