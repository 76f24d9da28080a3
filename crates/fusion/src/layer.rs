//! A single fusion layer, usable on its own inside any burn model.
//!
//! ```text
//! FusionLayer<J>: (image [B,Ni,D], text [B,Nt,D]) -> (image' [B,Ni,D], text' [B,Nt,D])
//! ```
//! It is one joint block of any [`FusionStrategy`]: concatenation and MMDiT update the
//! text, the cross-attention forms hand it back unchanged.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use crate::block::BlockDims;
use crate::strategy::{FusionStrategy, JointBlock, JointSlot};
use crate::stream::Streams;

/// One block that fuses text into image tokens the way its strategy does.
#[derive(Module, Debug)]
pub struct FusionLayer<J: JointBlock> {
    pub block: J,
}

impl<J: JointBlock> FusionLayer<J> {
    /// `dim` must be divisible by `heads`; the MLP hidden size is `mlp_ratio * dim`.
    pub fn new<S: FusionStrategy<Block = J>>(
        strategy: &S,
        dim: usize,
        heads: usize,
        mlp_ratio: f64,
        device: &Device,
    ) -> Self {
        assert!(
            heads > 0 && dim.is_multiple_of(heads),
            "dim {dim} must be divisible by heads {heads}"
        );
        let dims = BlockDims {
            dim,
            heads,
            mlp_hidden: (dim as f64 * mlp_ratio) as usize,
            qkv_bias: false,
        };
        Self {
            block: strategy.joint_block(dims, JointSlot::default(), device),
        }
    }

    /// `image: [batch, n_image, dim]`, `text: [batch, n_text, dim]`
    /// -> `(image [batch, n_image, dim], text [batch, n_text, dim])`.
    pub fn forward(&self, image: Tensor<3>, text: Tensor<3>) -> (Tensor<3>, Tensor<3>) {
        let s = self.block.forward(Streams::new(image, text), None).split();
        (s.h, s.text)
    }
}
