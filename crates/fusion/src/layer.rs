//! A single fusion layer, usable on its own inside any burn model.
//!
//! ```text
//! FusionLayer::Concat   (image [B,Ni,D], text [B,Nt,D]) -> (image', text')   text updated
//! FusionLayer::CrossAttn(image [B,Ni,D], text [B,Nt,D]) -> (image', text)    text unchanged
//! ```
//! Both are one pre-LN transformer block (attention + MLP) of the U-ViT family.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use crate::block::{AttnKind, Block, BlockDims};
use crate::strategy::{Method, Role};
use crate::stream::Streams;

/// One block that fuses text into image tokens by the given method.
#[derive(Module, Debug)]
pub enum FusionLayer {
    Concat(Block),
    CrossAttn(Block),
}

impl FusionLayer {
    /// `dim` must be divisible by `heads`; the MLP hidden size is `mlp_ratio * dim`.
    pub fn new(method: Method, dim: usize, heads: usize, mlp_ratio: f64, device: &Device) -> Self {
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
        match method {
            Method::Concat => Self::Concat(Block::new(dims, AttnKind::SelfAttn, false, device)),
            Method::CrossAttn => Self::CrossAttn(Block::new(dims, AttnKind::Cross, false, device)),
        }
    }

    pub fn method(&self) -> Method {
        match self {
            Self::Concat(_) => Method::Concat,
            Self::CrossAttn(_) => Method::CrossAttn,
        }
    }

    /// `image: [batch, n_image, dim]`, `text: [batch, n_text, dim]`
    /// -> `(image [batch, n_image, dim], text [batch, n_text, dim])`.
    pub fn forward(&self, image: Tensor<3>, text: Tensor<3>) -> (Tensor<3>, Tensor<3>) {
        let block = match self {
            Self::Concat(b) | Self::CrossAttn(b) => b,
        };
        let s = Streams::new(image, text).run(block, Role::Joint, self.method(), None);
        match self.method() {
            Method::Concat => {
                let n_image = s.n_image;
                let n_text = s.text.dims()[1];
                let text = s.h.clone().narrow(1, n_image, n_text);
                (s.into_image(), text)
            }
            Method::CrossAttn => (s.h, s.text),
        }
    }
}
