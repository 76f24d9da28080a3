//! CLIP (transformers `CLIPModel`) loaded from an `openai/clip-vit-*` directory: the text tower
//! U-ViT conditions on (`last_hidden_state`, 77 x D), the pooled and projected embeddings of
//! both towers, CLIP image preprocessing, and the CLIP score. See `docs/encoders-clip-vae.md`.

pub mod config;
pub mod layers;
pub mod model;
pub mod preprocess;
pub mod score;
pub mod text;
pub mod vision;

pub use config::{ClipActivation, ClipConfig, ClipTextConfig, ClipVisionConfig, TowerConfig};
pub use model::{CLIP_WEIGHTS_FILE, ClipModel, ClipTextEncoder};
pub use preprocess::{CLIP_MEAN, CLIP_STD, Rgb8, images_from_tensor, preprocess};
pub use score::{ClipScorer, ClipScores, HESSEL_PREFIX, HESSEL_WEIGHT};
pub use text::{ClipTextModel, ClipTextOutput};
pub use vision::{ClipVisionModel, ClipVisionOutput};
