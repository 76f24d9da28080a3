//! The pre-LN transformer block of U-ViT (self-attention), used for image-only and
//! text-only blocks and as the joint block of token concatenation.
//!
//! ```text
//! x = skip_linear(cat[x, skip])   (out-blocks of the U only)
//! x = x + Attn(LN1(x))
//! x = x + MLP(LN2(x))
//! ```

use burn::module::Module;
use burn::nn::{LayerNorm, Linear};
use burn::tensor::{Device, Tensor};

use crate::attention::SelfAttention;
use crate::init::{layer_norm, lin, linear, norm};
use crate::mlp::Mlp;

/// Sizes of a block, all derived from the model config.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockDims {
    pub dim: usize,
    pub heads: usize,
    pub mlp_hidden: usize,
    pub qkv_bias: bool,
}

impl BlockDims {
    /// Parameters of a LayerNorm (weight, bias).
    pub fn norm_params(&self) -> u64 {
        2 * self.dim as u64
    }

    /// Parameters of the MLP (fc1, fc2 with biases).
    pub fn mlp_params(&self) -> u64 {
        let (d, h) = (self.dim as u64, self.mlp_hidden as u64);
        d * h + h + h * d + d
    }

    /// Parameters of a skip linear `Linear(2D -> D)`.
    pub fn skip_params(&self) -> u64 {
        let d = self.dim as u64;
        2 * d * d + d
    }

    /// Parameters of an attention with `3 D^2` input projections (qkv, or q + kv) and an
    /// output projection with bias.
    pub fn attn_params(&self) -> u64 {
        let d = self.dim as u64;
        3 * d * d + if self.qkv_bias { 3 * d } else { 0 } + d * d + d
    }

    /// Per-token MACs of the MLP.
    pub fn mlp_macs(&self) -> u64 {
        2 * (self.dim * self.mlp_hidden) as u64
    }

    /// Per-token MACs of the skip linear.
    pub fn skip_macs(&self) -> u64 {
        2 * (self.dim * self.dim) as u64
    }
}

/// A U-ViT block. PyTorch names: `skip_linear`, `norm1`, `attn`, `norm2`, `mlp`.
#[derive(Module, Debug)]
pub struct Block {
    pub skip_linear: Option<Linear>,
    pub norm1: LayerNorm,
    pub attn: SelfAttention,
    pub norm2: LayerNorm,
    pub mlp: Mlp,
}

impl Block {
    pub fn new(dims: BlockDims, skip: bool, device: &Device) -> Self {
        let BlockDims {
            dim,
            heads,
            mlp_hidden,
            qkv_bias,
        } = dims;
        Self {
            skip_linear: skip.then(|| linear(2 * dim, dim, true, device)),
            norm1: layer_norm(dim, device),
            attn: SelfAttention::new(dim, heads, qkv_bias, device),
            norm2: layer_norm(dim, device),
            mlp: Mlp::new(dim, mlp_hidden, device),
        }
    }

    /// `x: [batch, n, dim]`, `skip: [batch, n, dim]` (blocks with a skip linear only)
    /// -> `[batch, n, dim]`.
    pub fn forward(&self, x: Tensor<3>, skip: Option<Tensor<3>>) -> Tensor<3> {
        let x = apply_skip(&self.skip_linear, x, skip);
        let x = x.clone() + self.attn.forward(norm(&self.norm1, x));
        x.clone() + self.mlp.forward(norm(&self.norm2, x))
    }

    /// Parameters and per-sample MACs of a self-attention block over `n` tokens.
    pub fn cost(dims: BlockDims, n: usize, skip: bool) -> (u64, u64, u64) {
        let (n64, d) = (n as u64, dims.dim as u64);
        let params = 2 * dims.norm_params()
            + dims.attn_params()
            + dims.mlp_params()
            + if skip { dims.skip_params() } else { 0 };
        let per_token = 4 * d * d + dims.mlp_macs() + if skip { dims.skip_macs() } else { 0 };
        (params, n64 * per_token, 2 * n64 * n64 * d)
    }
}

/// `skip_linear(cat[x, skip])` for out-blocks; `x` otherwise.
///
/// # Panics
/// If the block's skip linear and the skip input do not come together: a wiring bug of the
/// backbone, never a user input.
pub fn apply_skip(l: &Option<Linear>, x: Tensor<3>, skip: Option<Tensor<3>>) -> Tensor<3> {
    match (l, skip) {
        (Some(l), Some(s)) => lin(l, Tensor::cat(vec![x, s], 2)),
        (None, None) => x,
        _ => panic!("block skip wiring: skip_linear and skip input must come together"),
    }
}
