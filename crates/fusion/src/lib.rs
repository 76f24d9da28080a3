//! Text-image fusion for U-shaped Vision Transformers.
//!
//! The paper "An Intermediate Fusion ViT Enables Efficient Text-Image Alignment in Diffusion
//! Models" compares where text enters a U-ViT (first block vs middle blocks) and how
//! (token concatenation vs a cross-attention form). This crate holds:
//!
//! * [`FusionStrategy`]: the trait every strategy implements (block roles for a U of depth
//!   `d`, the joint block and its forward over the [`Streams`], the position-embedding token
//!   order, its cost); the backbone is generic over it;
//! * the strategies, one file each under [`strategies`]: [`Concat`] and [`CrossAttn`] (the
//!   paper's, early or intermediate), [`PixArtCrossAttn`] and [`MmditJoint`];
//! * [`Fusion`]: the serde/CLI names of the built-in strategies, itself a strategy that
//!   dispatches to the one it names;
//! * [`Block`]: the pre-LN U-ViT transformer block, and the attention layers;
//! * [`FusionLayer`]: one fusion block to drop into your own burn model;
//! * [`probe`]: opt-in capture of a joint block's text-to-image attention (analysis);
//! * [`state`]: reading and writing named tensors in safetensors files.

pub mod attention;
pub mod block;
pub mod fusion;
pub mod init;
pub mod layer;
pub mod mlp;
pub mod probe;
pub mod state;
pub mod strategies;
pub mod strategy;
pub mod stream;

pub use block::{Block, BlockDims};
pub use fusion::{Fusion, FusionBlock};
pub use layer::FusionLayer;
pub use probe::TextAttention;
pub use strategies::{Concat, CrossAttn, MmditJoint, PixArtCrossAttn};
pub use strategy::{
    DEFAULT_C, DEFAULT_V, FusionError, FusionStrategy, JointBlock, JointCost, JointSlot, Placement,
    Plan, Role, TokenGroup,
};
pub use stream::Streams;
