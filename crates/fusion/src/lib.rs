//! Text-image fusion for U-shaped Vision Transformers.
//!
//! The paper "An Intermediate Fusion ViT Enables Efficient Text-Image Alignment in Diffusion
//! Models" compares where text enters a U-ViT (first block vs middle blocks) and how
//! (token concatenation vs a cross-attention form). This crate holds:
//!
//! * [`Fusion`]: the four strategies (`early-concat`, `early-crossattn`,
//!   `intermediate-concat {c, v}`, `intermediate-crossattn {c, v}`) and the block
//!   [`Plan`] each implies for a U of a given depth;
//! * [`Block`]: the pre-LN transformer block, with self- or cross-attention;
//! * [`Streams`]: how text enters each block (the backbone composes blocks, the strategy
//!   decides the fusion);
//! * [`FusionLayer`]: one fusion block to drop into your own burn model;
//! * [`state`]: PyTorch-named parameter import/export (safetensors).

pub mod attention;
pub mod block;
pub mod init;
pub mod layer;
pub mod mlp;
pub mod state;
pub mod strategy;
pub mod stream;

pub use block::{AttnKind, Block, BlockDims};
pub use layer::FusionLayer;
pub use strategy::{DEFAULT_C, DEFAULT_V, Fusion, FusionError, Method, Plan, Role, TokenLayout};
pub use stream::Streams;
