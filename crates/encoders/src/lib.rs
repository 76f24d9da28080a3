//! Frozen pretrained networks, inference only, loaded from the files their authors publish
//! (Hugging Face style directories: `config.json` + `model.safetensors` + tokenizer files).
//!
//! Every size comes from the network's own config; nothing is hard-coded to one checkpoint.

pub mod assets;
pub mod clip;
pub mod inception;
pub mod vae;

pub use assets::{Asset, AssetError};
