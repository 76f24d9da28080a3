//! Token concatenation (U-ViT; the paper's "self-attention" form).
//!
//! In a joint block the text tokens join the sequence (`[image+time ; text]`, appended once
//! for a run of joint blocks) and the plain U-ViT [`Block`] updates all of them, text
//! included. Early concatenation keeps U-ViT's position-embedding order `[time, text,
//! image]` so that public U-ViT checkpoints load unchanged.

use burn::tensor::Device;

use crate::block::{Block, BlockDims};
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
}
