//! The public functions: the fused kernel where [`fused_available`] says so, burn's own op
//! ([`crate::reference`]) everywhere else.

use burn::backend::Dispatch;
use burn::tensor::Tensor;

use crate::{KernelOps, fused_available, reference};

/// Exact (erf) GELU, as `burn::tensor::activation::gelu` and PyTorch's `F.gelu`.
/// Any shape, e.g. `[batch, tokens, hidden]`.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !fused_available(&x) {
        return reference::gelu(x);
    }
    Tensor::from_dispatch(<Dispatch as KernelOps>::fused_gelu(x.into_dispatch()))
}

/// LayerNorm over the last dimension (biased variance, `eps` inside the square root), as
/// `burn::nn::LayerNorm` and PyTorch's `nn.LayerNorm`.
/// `x: [.., d]`, `gamma: [d]`, `beta: [d]` -> `[.., d]`.
pub fn layer_norm<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    eps: f64,
) -> Tensor<D> {
    if !(fused_available(&x) && fused_available(&gamma) && fused_available(&beta)) {
        return reference::layer_norm(x, gamma, beta, eps);
    }
    Tensor::from_dispatch(<Dispatch as KernelOps>::fused_layer_norm(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        eps,
    ))
}

/// Scaled dot-product attention without a mask, scale `head_dim^-0.5`, as
/// `burn::tensor::module::attention(q, k, v, None, None, Default::default())` and PyTorch's
/// `F.scaled_dot_product_attention(q, k, v)`.
/// `q: [batch, heads, lq, head_dim]`, `k: [batch, heads, lk, head_dim]`,
/// `v: [batch, heads, lk, dv]` -> `[batch, heads, lq, dv]`.
///
/// On Flex the output is laid out as `[batch, lq, heads, dv]` in memory, so merging the heads
/// afterwards (`swap_dims(1, 2).reshape([batch, lq, heads * dv])`) copies nothing; and q, k, v
/// may be strided views of a `[batch, tokens, (k heads head_dim)]` projection (no copy either).
pub fn attention(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>) -> Tensor<4> {
    if !(fused_available(&q) && fused_available(&k) && fused_available(&v)) {
        return reference::attention(q, k, v);
    }
    Tensor::from_dispatch(<Dispatch as KernelOps>::fused_attention(
        q.into_dispatch(),
        k.into_dispatch(),
        v.into_dispatch(),
    ))
}

/// A linear layer, `x W + b`, as `burn::nn::Linear::forward` (burn's weight layout
/// `[d_in, d_out]`, i.e. PyTorch's `weight.T`) and PyTorch's `F.linear(x, weight.T, bias)`.
/// `x: [.., d_in]`, `weight: [d_in, d_out]`, `bias: [d_out]` -> `[.., d_out]`.
///
/// On Flex the bias is written into the output before the product is accumulated onto it
/// (no zero-filled buffer, no separate bias pass).
pub fn linear<const D: usize>(
    x: Tensor<D>,
    weight: Tensor<2>,
    bias: Option<Tensor<1>>,
) -> Tensor<D> {
    let fused = fused_available(&x)
        && fused_available(&weight)
        && bias.as_ref().is_none_or(fused_available);
    if !fused {
        return reference::linear(x, weight, bias);
    }
    let (x, w) = (x.into_dispatch(), weight.into_dispatch());
    Tensor::from_dispatch(match bias {
        Some(b) => <Dispatch as KernelOps>::fused_linear(x, w, b.into_dispatch()),
        None => <Dispatch as KernelOps>::fused_linear_no_bias(x, w),
    })
}

/// `burn::nn::Linear::forward` through [`linear`].
pub fn linear_module<const D: usize>(layer: &burn::nn::Linear, x: Tensor<D>) -> Tensor<D> {
    linear(x, layer.weight.val(), layer.bias.as_ref().map(|b| b.val()))
}

/// `burn::nn::LayerNorm::forward` through [`layer_norm`]. `eps` must be the module's epsilon
/// (burn keeps that field private; U-ViT uses 1e-5). A LayerNorm without bias takes burn's
/// own path.
pub fn layer_norm_module<const D: usize>(
    norm: &burn::nn::LayerNorm,
    x: Tensor<D>,
    eps: f64,
) -> Tensor<D> {
    match &norm.beta {
        Some(beta) => layer_norm(x, norm.gamma.val(), beta.val(), eps),
        None => norm.forward(x),
    }
}
