//! Fused CPU kernels for the U-ViT hot spots, added to burn 0.22.1 through its backend
//! extension (`#[backend_extension]`, the route burn's own `burn-signal` crate uses).
//!
//! | function | replaces | forward | backward |
//! |---|---|---|---|
//! | [`gelu`] | `burn::tensor::activation::gelu` | vectorised erf, rayon | one pass, rayon |
//! | [`layer_norm`] | `burn::tensor::module::layer_norm` / `nn::LayerNorm` | one pass per row, saves mean/rstd | one pass per row + dgamma/dbeta |
//! | [`attention`] | `burn::tensor::module::attention` (no mask) | one task per (batch, head) | one task per (batch, head) |
//! | [`linear`] | `burn::nn::Linear` / `burn::tensor::module::linear` | bias written into the output, gemm accumulates | three gemm calls, no zero fill |
//! | [`adamw_step`] | `burn::optim::AdamW`'s step | one pass, in place | (an optimizer step) |
//!
//! Each function takes the fused path when its input is an f32 tensor on the Flex device
//! (with or without autodiff) and burn's own op otherwise (wgpu, CUDA, other dtypes), so a
//! caller never needs to know which backend it runs on. The [`reference`] module holds
//! burn's path by name, for tests and benchmarks.
//!
//! Tests: `tests/gradcheck.rs` compares values and gradients with burn's decomposed ops;
//! `tests/torch_parity.rs` compares with PyTorch through fixtures made by
//! `scripts/make_kernel_fixtures.py`. `examples/bench_kernels.rs` times fused against
//! decomposed. See `docs/performance.md` ("Fused kernels").

#[cfg(feature = "flex")]
mod backends;
#[cfg(feature = "flex")]
pub mod flex;
mod ops;
pub mod reference;
mod route;

mod adamw;
mod api;

pub use adamw::{AdamWStep, adamw_step};
pub use api::{attention, gelu, layer_norm, layer_norm_module, linear, linear_module};
pub use ops::KernelOps;
pub use route::{enabled, fused_available, set_enabled};
