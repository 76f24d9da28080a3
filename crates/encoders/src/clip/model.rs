//! A transformers `CLIPModel` directory (`openai/clip-vit-*`: `config.json` +
//! `model.safetensors`), and the CLIP text encoder behind the project's [`TextEncoder`] trait.

use std::path::Path;

use burn::tensor::{Device, Tensor};
use ifvit_data::tokenizer::clip::ClipTokenizer;
use ifvit_data::tokenizer::{TextTokenizer, TokenizeError};

use crate::error::EncodeError;
use crate::text::{TextEncoder, TextFeatures, full_mask};

use super::config::ClipConfig;
use super::text::{ClipTextModel, ClipTextOutput};
use super::vision::ClipVisionModel;
use crate::{LoadError, Weights};

/// The weights file of a transformers model directory.
pub const CLIP_WEIGHTS_FILE: &str = "model.safetensors";

const EXPECTED_WEIGHTS: &str =
    "the CLIPModel weights (model.safetensors, e.g. from openai/clip-vit-large-patch14)";

/// Both towers and their projections.
#[derive(Debug)]
pub struct ClipModel {
    pub config: ClipConfig,
    pub text: ClipTextModel,
    pub vision: ClipVisionModel,
}

impl ClipModel {
    /// Both towers, randomly initialised (lazily: nothing is allocated until used).
    pub fn new(config: ClipConfig, device: &Device) -> Self {
        Self {
            text: ClipTextModel::new(&config, device),
            vision: ClipVisionModel::new(&config, device),
            config,
        }
    }

    /// Loads `dir/config.json` and `dir/model.safetensors`.
    pub fn load(dir: &Path, device: &Device) -> Result<Self, LoadError> {
        let config = ClipConfig::load(&dir.join("config.json"))?;
        let w = Weights::open(&dir.join(CLIP_WEIGHTS_FILE), EXPECTED_WEIGHTS, device)?;
        let mut m = Self::new(config, device);
        m.text.load(&w)?;
        m.vision.load(&w)?;
        Ok(m)
    }

    /// Only the text tower (what U-ViT conditions on); the vision weights are not read.
    pub fn load_text(
        dir: &Path,
        device: &Device,
    ) -> Result<(ClipConfig, ClipTextModel), LoadError> {
        let config = ClipConfig::load(&dir.join("config.json"))?;
        let w = Weights::open(&dir.join(CLIP_WEIGHTS_FILE), EXPECTED_WEIGHTS, device)?;
        let mut text = ClipTextModel::new(&config, device);
        text.load(&w)?;
        Ok((config, text))
    }

    /// `[B, P]` text embeddings (unnormalised) of token ids.
    pub fn text_embeds(&self, ids: &[u32], batch: usize, device: &Device) -> Tensor<2> {
        self.text.forward(ids, batch, device).text_embeds
    }

    /// `[B, P]` image embeddings (unnormalised) of preprocessed pixels `[B, 3, S, S]`.
    pub fn image_embeds(&self, pixels: Tensor<4>) -> Tensor<2> {
        self.vision.forward(pixels).image_embeds
    }
}

/// CLIP's text tower with its tokenizer: captions -> `last_hidden_state` `[B, 77, D]`, as
/// U-ViT's `FrozenCLIPEmbedder` (end-token padding to 77, no attention mask, causal only).
pub struct ClipTextEncoder<T = ClipTokenizer> {
    pub tokenizer: T,
    pub model: ClipTextModel,
    /// Directory name, recorded in [`TextEncoder::name`].
    pub source: String,
}

impl ClipTextEncoder<ClipTokenizer> {
    /// The text tower of an `openai/clip-vit-*` directory with the genuine CLIP BPE.
    pub fn load(dir: &Path, device: &Device) -> Result<Self, LoadError> {
        let (_, model) = ClipModel::load_text(dir, device)?;
        let source = dir
            .canonicalize()
            .unwrap_or_else(|_| dir.to_path_buf())
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Self::new(
            ClipTokenizer::new(),
            model,
            &source,
            &dir.join("config.json"),
        )
    }
}

impl<T: TextTokenizer> ClipTextEncoder<T> {
    /// Checks that the tokenizer fits the model (context and vocabulary); `config` names the
    /// config file in the error.
    pub fn new(
        tokenizer: T,
        model: ClipTextModel,
        source: &str,
        config: &Path,
    ) -> Result<Self, LoadError> {
        if tokenizer.context_length() > model.context_length() {
            return Err(LoadError::Config {
                path: config.to_path_buf(),
                field: "text_config.max_position_embeddings".into(),
                expected: format!(
                    "at least the tokenizer's context {}",
                    tokenizer.context_length()
                ),
                found: model.context_length().to_string(),
            });
        }
        if tokenizer.vocab_size() > model.vocab_size() {
            return Err(LoadError::Config {
                path: config.to_path_buf(),
                field: "text_config.vocab_size".into(),
                expected: format!("at least the tokenizer's {}", tokenizer.vocab_size()),
                found: model.vocab_size().to_string(),
            });
        }
        Ok(Self {
            tokenizer,
            model,
            source: source.to_string(),
        })
    }

    /// Token ids of `captions`, `[B * L]` row-major.
    pub fn ids(&self, captions: &[&str]) -> Result<Vec<u32>, TokenizeError> {
        let mut ids = Vec::with_capacity(captions.len() * self.tokenizer.context_length());
        for c in captions {
            ids.extend(self.tokenizer.encode(c)?);
        }
        Ok(ids)
    }

    /// Everything the text tower computes for `captions`.
    pub fn forward(
        &self,
        captions: &[&str],
        device: &Device,
    ) -> Result<ClipTextOutput, TokenizeError> {
        let ids = self.ids(captions)?;
        Ok(self.model.forward(&ids, captions.len(), device))
    }
}

impl<T: TextTokenizer> TextEncoder for ClipTextEncoder<T> {
    fn name(&self) -> String {
        format!(
            "clip-text(d={}, L={}):{}",
            self.model.dim(),
            self.tokenizer.context_length(),
            self.source
        )
    }

    fn context_length(&self) -> usize {
        self.tokenizer.context_length()
    }

    fn dim(&self) -> usize {
        self.model.dim()
    }

    /// `last_hidden_state` `[B, 77, D]`; every position is used (as U-ViT does), so the mask
    /// is all true.
    fn encode(&self, captions: &[&str], device: &Device) -> Result<TextFeatures, EncodeError> {
        let features = self.forward(captions, device)?.last_hidden_state; // [B, L, D]
        let [b, l, _] = features.dims();
        Ok(TextFeatures {
            features,
            mask: full_mask(b, l, device),
        })
    }
}
