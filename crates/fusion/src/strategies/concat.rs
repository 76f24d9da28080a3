//! Token concatenation (U-ViT; the paper's "self-attention" form).
//!
//! In a joint block the text tokens join the sequence (`[image+time ; text]`, appended once
//! for a run of joint blocks) and the plain U-ViT [`Block`] updates all of them, text
//! included. Early concatenation keeps U-ViT's position-embedding order `[time, text,
//! image]` so that public U-ViT checkpoints load unchanged.

use burn::tensor::Device;

use crate::attention::split_heads;
use crate::block::{Block, BlockDims, apply_skip};
use crate::init::norm;
use crate::probe::{TextAttention, text_attention};
use crate::strategy::{FusionStrategy, JointBlock, JointCost, JointSlot, Placement, TokenGroup};
use crate::stream::Streams;

/// Token concatenation, early (U-ViT) or intermediate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Concat(pub Placement);

crate::constant_module!(Concat);

impl FusionStrategy for Concat {
    type Block = Block;

    fn name(&self) -> String {
        self.0.name("concat")
    }

    fn placement(&self) -> Placement {
        self.0
    }

    fn token_order(&self) -> [TokenGroup; 3] {
        if self.0 == Placement::Early {
            [TokenGroup::Time, TokenGroup::Text, TokenGroup::Image]
        } else {
            [TokenGroup::Image, TokenGroup::Time, TokenGroup::Text]
        }
    }

    fn joint_block(&self, dims: BlockDims, slot: JointSlot, device: &Device) -> Block {
        Block::new(dims, slot.skip, device)
    }

    fn joint_cost(
        &self,
        dims: BlockDims,
        n_image: usize,
        n_text: usize,
        slot: JointSlot,
    ) -> JointCost {
        let skip = slot.skip;
        let n = n_image + n_text;
        let (params, linear_macs, attn_macs) = Block::cost(dims, n, skip);
        JointCost {
            label: "joint-concat",
            tokens: n,
            kv_tokens: n,
            linear_macs,
            attn_macs,
            params,
        }
    }
}

impl JointBlock for Block {
    fn forward(&self, s: Streams, skip: Option<Streams>) -> Streams {
        let mut s = s.joined(); // h: [B, Ni + Nt, D]
        s.h = Block::forward(self, s.h, skip.map(|k| k.joined().h));
        s
    }

    /// The image(+time) query rows of the joint softmax over `[image+time ; text]`.
    fn text_attention(&self, s: &Streams, skip: Option<&Streams>) -> Option<TextAttention> {
        let s = s.clone().joined();
        let (ni, n) = (s.n_image, s.h.dims()[1]);
        let x = apply_skip(&self.skip_linear, s.h, skip.map(|k| k.clone().joined().h));
        let x = norm(&self.norm1, x); // [B, Ni + Nt, D]
        let mut qkv = split_heads(self.attn.qkv.forward(x), 3, self.attn.heads).into_iter();
        let (q, k, v) = (qkv.next()?, qkv.next()?, qkv.next()?); // [B, H, Ni + Nt, hd]
        let q = q.narrow(2, 0, ni);
        Some(text_attention(q, k, v, (ni, n - ni), &self.attn.proj))
    }
}
