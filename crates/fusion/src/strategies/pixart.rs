//! PixArt-alpha's cross-attention block (Chen et al. 2023), without its adaLN modulation
//! (the U-ViT carries time as a token instead).
//!
//! Self-attention over the image(+time) tokens, then a separate cross-attention sublayer
//! (queries: the image tokens after their own LayerNorm; keys/values: the text tokens alone),
//! then the MLP. Text is not updated.
//!
//! ```text
//! x = skip_linear(cat[x, skip])                        (out-blocks of the U only)
//! x = x + SelfAttn(LN1(x))
//! x = x + CrossAttn(q = LN_cross(x), kv = text)
//! x = x + MLP(LN2(x))
//! ```

use burn::module::Module;
use burn::nn::{LayerNorm, Linear};
use burn::tensor::Device;

use crate::attention::{CrossAttention, SelfAttention, split_heads};
use crate::block::{BlockDims, apply_skip};
use crate::init::{layer_norm, linear, norm};
use crate::mlp::Mlp;
use crate::probe::{TextAttention, text_attention};
use crate::strategy::{FusionStrategy, JointBlock, JointCost, JointSlot, Placement};
use crate::stream::Streams;

/// PixArt-style cross-attention, early or intermediate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PixArtCrossAttn(pub Placement);

crate::constant_module!(PixArtCrossAttn);

/// Joint block of [`PixArtCrossAttn`]. PyTorch names: `skip_linear`, `norm1`,
/// `attn.{qkv,proj}`, `norm_cross`, `cross_attn.{q,kv,proj}`, `norm2`, `mlp`.
#[derive(Module, Debug)]
pub struct PixArtBlock {
    pub skip_linear: Option<Linear>,
    pub norm1: LayerNorm,
    pub attn: SelfAttention,
    pub norm_cross: LayerNorm,
    pub cross_attn: CrossAttention,
    pub norm2: LayerNorm,
    pub mlp: Mlp,
}

impl FusionStrategy for PixArtCrossAttn {
    type Block = PixArtBlock;

    fn name(&self) -> String {
        self.0.name("pixart-crossattn")
    }

    fn placement(&self) -> Placement {
        self.0
    }

    fn joint_block(&self, dims: BlockDims, slot: JointSlot, device: &Device) -> PixArtBlock {
        let d = dims.dim;
        PixArtBlock {
            skip_linear: slot.skip.then(|| linear(2 * d, d, true, device)),
            norm1: layer_norm(d, device),
            attn: SelfAttention::new(d, dims.heads, dims.qkv_bias, device),
            norm_cross: layer_norm(d, device),
            cross_attn: CrossAttention::new(d, dims.heads, dims.qkv_bias, device),
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
        let (n, nt, d) = (n_image as u64, n_text as u64, dims.dim as u64);
        let skip_macs = if skip { dims.skip_macs() } else { 0 };
        JointCost {
            label: "joint-pixart",
            tokens: n_image,
            kv_tokens: n_image + n_text,
            // self qkv + proj (4D^2), cross q + proj (2D^2), MLP on the image stream;
            // cross kv (2D^2) on the text tokens.
            linear_macs: n * (6 * d * d + dims.mlp_macs() + skip_macs) + nt * 2 * d * d,
            attn_macs: 2 * n * n * d + 2 * n * nt * d,
            params: 3 * dims.norm_params()
                + 2 * dims.attn_params()
                + dims.mlp_params()
                + if skip { dims.skip_params() } else { 0 },
        }
    }
}

impl JointBlock for PixArtBlock {
    fn forward(&self, s: Streams, skip: Option<Streams>) -> Streams {
        let mut s = s.split();
        let x = apply_skip(&self.skip_linear, s.h, skip.map(Streams::into_image)); // [B, Ni, D]
        let x = x.clone() + self.attn.forward(norm(&self.norm1, x));
        let x = x.clone()
            + self
                .cross_attn
                .forward(norm(&self.norm_cross, x), s.text.clone());
        s.h = x.clone() + self.mlp.forward(norm(&self.norm2, x));
        s
    }

    /// The cross-attention sublayer: image(+time) queries over the text tokens alone.
    fn text_attention(&self, s: &Streams, skip: Option<&Streams>) -> Option<TextAttention> {
        let s = s.clone().split();
        let skip = skip.map(|k| k.clone().into_image());
        let x = apply_skip(&self.skip_linear, s.h, skip); // [B, Ni, D]
        let x = x.clone() + self.attn.forward(norm(&self.norm1, x));
        let nt = s.text.dims()[1];
        let ca = &self.cross_attn;
        let q = split_heads(ca.q.forward(norm(&self.norm_cross, x)), 1, ca.heads).remove(0);
        let mut kv = split_heads(ca.kv.forward(s.text), 2, ca.heads).into_iter();
        let (k, v) = (kv.next()?, kv.next()?);
        Some(text_attention(q, k, v, (0, nt), &ca.proj))
    }
}
