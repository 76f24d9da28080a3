//! SD's KL-f8 autoencoder (diffusers `AutoencoderKL`) loaded from a `stabilityai/sd-vae-ft-*`
//! directory, (the safetensors loader and load errors it uses are the crate's `Weights` and `LoadError`).
//!
//! Latent convention (U-ViT, SPEC section 2): the encoder gives moments `[B, 8, h, w]`
//! (mean, log-variance); a latent is `UVIT_COCO_SCALE_FACTOR * (mean + exp(logvar/2) * noise)`;
//! decoding divides by the same factor. See `docs/encoders-clip-vae.md`.

pub mod attention;
pub mod autoencoder;
pub mod blocks;
pub mod config;
pub mod decoder;
pub mod encoder;
pub mod resnet;

pub use autoencoder::{AutoencoderKl, SdAutoencoder, VAE_WEIGHTS_FILE};
pub use config::{SD_SCALE_FACTOR, UVIT_COCO_SCALE_FACTOR, VaeConfig};
// The loader and its errors are shared by every network of this crate.
pub use crate::error::LoadError;
pub use crate::weights::Weights;
