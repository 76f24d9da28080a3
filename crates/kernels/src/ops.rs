//! The backend-extension trait: one method per fused op.
//!
//! Only Flex (and autodiff over Flex) implement it; [`crate::route`] keeps every other
//! backend on burn's own ops, so the generated dispatch never reaches an unlisted backend.

use burn::backend::{Backend, backend_extension, tensor::FloatTensor};

/// Fused operations supplied by a backend extension.
#[backend_extension(
    Flex: cfg(feature = "flex"),
    Autodiff: cfg(all(feature = "flex", feature = "autodiff")),
)]
pub trait KernelOps: Backend {
    /// Exact (erf) GELU, elementwise. Any shape.
    #[allow(unused_variables)] // unused when no backend arm is compiled in
    fn fused_gelu(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// LayerNorm over the last dimension: `x: [.., d]`, `gamma, beta: [d]` -> `[.., d]`.
    #[allow(unused_variables)] // unused when no backend arm is compiled in
    fn fused_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f64,
    ) -> FloatTensor<Self>;

    /// `softmax(q k^T / sqrt(head_dim)) v` without a mask.
    /// `q: [b, h, lq, dh]`, `k: [b, h, lk, dh]`, `v: [b, h, lk, dv]` -> `[b, h, lq, dv]`.
    #[allow(unused_variables)] // unused when no backend arm is compiled in
    fn fused_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// `x W + b`: `x: [.., d_in]`, `weight: [d_in, d_out]` (burn's layout), `bias: [d_out]`
    /// -> `[.., d_out]`.
    #[allow(unused_variables)] // unused when no backend arm is compiled in
    fn fused_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// `x W` (a linear layer without bias), shapes as [`KernelOps::fused_linear`].
    #[allow(unused_variables)] // unused when no backend arm is compiled in
    fn fused_linear_no_bias(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self>;

    /// One AdamW step (burn's `AdamW` formula, see `flex::adamw`) on untracked tensors of
    /// one shape: returns the updated `(param, moment_1, moment_2)`, written in place where
    /// the inputs are not shared. `time` is the step count including this one.
    #[allow(unused_variables, clippy::too_many_arguments)] // unused when no arm is compiled in
    fn fused_adamw(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        lr: f64,
        beta_1: f64,
        beta_2: f64,
        epsilon: f64,
        weight_decay: f64,
        time: u64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}
