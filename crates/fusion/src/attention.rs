//! Multi-head attention in the two forms the paper uses.
//!
//! * [`SelfAttention`]: U-ViT's `Attention` (qkv Linear without bias, proj with bias).
//! * [`CrossAttention`]: queries from one token set, keys/values from another. The released
//!   intermediate-fusion "cross-attention" passes `[image+time ; text]` as keys/values (one
//!   softmax); PixArt's cross-attention passes the text tokens alone.
//!
//! Both use `ifvit_kernels::attention`: one fused kernel per (batch, head) with a hand-written
//! backward on Flex, burn's `attention` op elsewhere. Scale is `head_dim^-0.5`.

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor};

use crate::init::{lin, linear};

/// `[batch, tokens, k * heads * head_dim] -> k x [batch, heads, tokens, head_dim]`
/// (einops `B L (K H D) -> K B H L D`).
pub fn split_heads(x: Tensor<3>, k: usize, heads: usize) -> Vec<Tensor<4>> {
    let [b, l, d] = x.dims();
    let hd = d / (k * heads);
    // [B, L, K, H, hd] -> [K, B, H, L, hd]
    let x: Tensor<5> = x.reshape([b, l, k, heads, hd]).permute([2, 0, 3, 1, 4]);
    x.chunk(k, 0)
        .into_iter()
        .map(|t| t.reshape([b, heads, l, hd]))
        .collect()
}

/// `[batch, heads, tokens, head_dim] -> [batch, tokens, heads * head_dim]`
pub fn merge_heads(x: Tensor<4>) -> Tensor<3> {
    let [b, h, l, hd] = x.dims();
    x.swap_dims(1, 2).reshape([b, l, h * hd])
}

/// Scaled dot-product attention (scale `head_dim^-0.5`) over `[batch, heads, tokens, head_dim]`.
pub fn sdpa(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>) -> Tensor<4> {
    ifvit_kernels::attention(q, k, v)
}

/// Self-attention over one token sequence. PyTorch names: `qkv`, `proj`.
#[derive(Module, Debug)]
pub struct SelfAttention {
    pub qkv: Linear,
    pub proj: Linear,
    pub heads: usize,
}

impl SelfAttention {
    pub fn new(dim: usize, heads: usize, qkv_bias: bool, device: &Device) -> Self {
        Self {
            qkv: linear(dim, 3 * dim, qkv_bias, device),
            proj: linear(dim, dim, true, device),
            heads,
        }
    }

    /// `[batch, tokens, dim] -> [batch, tokens, dim]`
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let mut qkv = split_heads(lin(&self.qkv, x), 3, self.heads).into_iter();
        let (q, k, v) = (
            qkv.next().unwrap(),
            qkv.next().unwrap(),
            qkv.next().unwrap(),
        );
        lin(&self.proj, merge_heads(sdpa(q, k, v)))
    }
}

/// Cross-attention. PyTorch names: `q`, `kv`, `proj`.
#[derive(Module, Debug)]
pub struct CrossAttention {
    pub q: Linear,
    pub kv: Linear,
    pub proj: Linear,
    pub heads: usize,
}

impl CrossAttention {
    pub fn new(dim: usize, heads: usize, qkv_bias: bool, device: &Device) -> Self {
        Self {
            q: linear(dim, dim, qkv_bias, device),
            kv: linear(dim, 2 * dim, qkv_bias, device),
            proj: linear(dim, dim, true, device),
            heads,
        }
    }

    /// `x: [batch, n_q, dim]` (queries), `kv: [batch, n_kv, dim]` (keys/values)
    /// -> `[batch, n_q, dim]`.
    pub fn forward(&self, x: Tensor<3>, kv: Tensor<3>) -> Tensor<3> {
        let q = split_heads(lin(&self.q, x), 1, self.heads).remove(0);
        let mut kv = split_heads(lin(&self.kv, kv), 2, self.heads).into_iter();
        let (k, v) = (kv.next().unwrap(), kv.next().unwrap());
        lin(&self.proj, merge_heads(sdpa(q, k, v)))
    }
}
