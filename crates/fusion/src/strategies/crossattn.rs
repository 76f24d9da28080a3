//! The released intermediate-fusion code's "cross-attention" (NOT PixArt's).
//!
//! In a joint block the queries come from the image(+time) tokens only and the keys/values
//! from `[image+time ; text]`, in one softmax; `q: Linear(D, D)`, `kv: Linear(D, 2D)` on all
//! tokens, one LayerNorm shared by both. Only the image tokens are put out, so the text
//! tokens (the output of the `c` text blocks) are never updated and feed every joint block.
//!
//! ```text
//! x = skip_linear(cat[x, skip])                      (out-blocks of the U only)
//! x = x + Attn(q = LN1(x), kv = [LN1(x) ; LN1(text)])
//! x = x + MLP(LN2(x))
//! ```

use burn::module::Module;
use burn::nn::{LayerNorm, Linear};
use burn::tensor::{Device, Tensor};

use crate::attention::{CrossAttention, split_heads};
use crate::block::{BlockDims, apply_skip};
use crate::init::{layer_norm, linear, norm};
use crate::mlp::Mlp;
use crate::probe::{TextAttention, text_attention};
use crate::strategy::{FusionStrategy, JointBlock, JointCost, JointSlot, Placement};
use crate::stream::Streams;

/// The released joint-softmax cross-attention, early or intermediate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CrossAttn(pub Placement);

crate::constant_module!(CrossAttn);

/// Joint block of [`CrossAttn`]. PyTorch names: `skip_linear`, `norm1`, `attn.{q,kv,proj}`,
/// `norm2`, `mlp`.
#[derive(Module, Debug)]
pub struct CrossBlock {
    pub skip_linear: Option<Linear>,
    pub norm1: LayerNorm,
    pub attn: CrossAttention,
    pub norm2: LayerNorm,
    pub mlp: Mlp,
}

impl FusionStrategy for CrossAttn {
    type Block = CrossBlock;

    fn name(&self) -> String {
        self.0.name("crossattn")
    }

    fn placement(&self) -> Placement {
        self.0
    }

    fn joint_block(&self, dims: BlockDims, slot: JointSlot, device: &Device) -> CrossBlock {
        let d = dims.dim;
        CrossBlock {
            skip_linear: slot.skip.then(|| linear(2 * d, d, true, device)),
            norm1: layer_norm(d, device),
            attn: CrossAttention::new(d, dims.heads, dims.qkv_bias, device),
            norm2: layer_norm(d, device),
            mlp: Mlp::new(d, dims.mlp_hidden, device),
        }
    }

    fn joint_cost(
        &self,
        dims: BlockDims,
        n_image: usize,
        n_text: usize,
        slot: JointSlot,
    ) -> JointCost {
        let skip = slot.skip;
        let (n, kv, d) = (n_image as u64, (n_image + n_text) as u64, dims.dim as u64);
        let skip_macs = if skip { dims.skip_macs() } else { 0 };
        JointCost {
            label: "joint-cross",
            tokens: n_image,
            kv_tokens: n_image + n_text,
            // q, proj, MLP (and skip) on the image stream; kv on [image ; text].
            linear_macs: n * (2 * d * d + dims.mlp_macs() + skip_macs) + kv * 2 * d * d,
            attn_macs: 2 * n * kv * d,
            params: 2 * dims.norm_params()
                + dims.attn_params()
                + dims.mlp_params()
                + if skip { dims.skip_params() } else { 0 },
        }
    }
}

impl JointBlock for CrossBlock {
    fn forward(&self, s: Streams, skip: Option<Streams>) -> Streams {
        let mut s = s.split();
        let x = apply_skip(&self.skip_linear, s.h, skip.map(Streams::into_image)); // [B, Ni, D]
        let q = norm(&self.norm1, x.clone());
        let kv = Tensor::cat(vec![q.clone(), norm(&self.norm1, s.text.clone())], 1); // [B, Ni+Nt, D]
        let x = x + self.attn.forward(q, kv);
        s.h = x.clone() + self.mlp.forward(norm(&self.norm2, x));
        s
    }

    /// Image(+time) queries over `[image+time ; text]` in the one softmax.
    fn text_attention(&self, s: &Streams, skip: Option<&Streams>) -> Option<TextAttention> {
        let s = s.clone().split();
        let skip = skip.map(|k| k.clone().into_image());
        let x = apply_skip(&self.skip_linear, s.h, skip); // [B, Ni, D]
        let (ni, nt) = (x.dims()[1], s.text.dims()[1]);
        let q = norm(&self.norm1, x);
        let kv = Tensor::cat(vec![q.clone(), norm(&self.norm1, s.text)], 1); // [B, Ni+Nt, D]
        let heads = self.attn.heads;
        let q = split_heads(self.attn.q.forward(q), 1, heads).remove(0);
        let mut kv = split_heads(self.attn.kv.forward(kv), 2, heads).into_iter();
        let (k, v) = (kv.next()?, kv.next()?);
        Some(text_attention(q, k, v, (ni, nt), &self.attn.proj))
    }
}
