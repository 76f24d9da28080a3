//! Frozen pretrained networks, inference only, loaded from the files their authors publish
//! (Hugging Face style directories: `config.json` + `model.safetensors` + tokenizer files).
//!
//! Every size comes from the network's own config; nothing is hard-coded to one checkpoint.
//! Each network sits behind one of three small traits: [`TextEncoder`] (captions -> token
//! features + mask), [`ImageEncoder`] (images -> one vector each) and [`Autoencoder`]
//! (images <-> latent moments). The test-sized stand-ins ([`PixelAutoencoder`],
//! [`LearnedTextEncoder`]) implement the same traits. Conventions: docs/encoders.md.

pub mod assets;
pub mod autoencoder;
pub mod bert;
pub mod clip;
pub mod error;
pub mod image;
pub mod inception;
pub mod learned_text;
pub mod pixel;
pub mod prepare;
pub mod text;
pub mod vae;
pub mod weights;

pub use assets::{Asset, AssetError};
pub use autoencoder::{Autoencoder, LOGVAR_RANGE, sample_latent};
pub use bert::BertTextEncoder;
pub use error::{EncodeError, LoadError};
pub use image::ImageEncoder;
pub use learned_text::{LearnedTextEncoder, TextEmbedding};
pub use pixel::PixelAutoencoder;
pub use prepare::{PrepareError, PrepareOptions, PrepareReport, prepare_coco};
pub use text::{TextEncoder, TextFeatures, full_mask};
pub use weights::Weights;
