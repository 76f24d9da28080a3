//! How captions become the model's context: a learned word embedding trained with the
//! model (`Learned`), or a frozen pretrained text encoder (`MiniLm`, `Bert { dir }`,
//! `Clip { dir }`) whose features are computed once per distinct caption and kept for the
//! run (the `shapes` grammar has about 550 captions, plus "" for classifier-free guidance).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use burn::tensor::{Device, Tensor, TensorData};
use ifvit_data::tokenizer::TextTokenizer;
use ifvit_data::tokenizer::clip::Overflow;
use ifvit_data::tokenizer::word::WordTokenizer;
use ifvit_encoders::assets::{self, Asset};
use ifvit_encoders::clip::ClipTextEncoder;
use ifvit_encoders::{BertTextEncoder, TextEncoder};
use serde::{Deserialize, Serialize};

use crate::error::TrainError;
use crate::model::WordEmbedding;
use crate::sample::tokenize;

/// Feature width of all-MiniLM-L6-v2 (its `config.json` `hidden_size`; checked at load).
pub const MINILM_DIM: usize = 384;

/// The text encoder of an experiment (`text_encoder:` in the RON file; default `Learned`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum TextEncoderConfig {
    /// Word embedding `N(0, 1)` over the data's word vocabulary, trained with the model.
    #[default]
    Learned,
    /// Frozen all-MiniLM-L6-v2 token features (384-d), genuine weights from the asset cache
    /// (`ifvit assets fetch minilm`).
    MiniLm,
    /// Frozen token features of any BERT sentence-transformers directory.
    Bert { dir: PathBuf },
    /// Frozen CLIP text tower (`last_hidden_state`, 77 tokens) from an `openai/clip-vit-*`
    /// directory.
    Clip { dir: PathBuf },
}

impl TextEncoderConfig {
    /// The feature width when it is known without reading files.
    pub fn known_dim(&self) -> Option<usize> {
        match self {
            TextEncoderConfig::MiniLm => Some(MINILM_DIM),
            _ => None,
        }
    }

    /// One line for reports.
    pub fn describe(&self) -> String {
        match self {
            TextEncoderConfig::Learned => {
                "word embedding learned from scratch with each arm (`text_encoder: Learned`)".into()
            }
            TextEncoderConfig::MiniLm => "frozen all-MiniLM-L6-v2 token features (384-d, genuine \
                 weights), computed once per caption (`text_encoder: MiniLm`)"
                .into(),
            TextEncoderConfig::Bert { dir } => format!(
                "frozen BERT token features from {}, computed once per caption",
                dir.display()
            ),
            TextEncoderConfig::Clip { dir } => format!(
                "frozen CLIP text features from {}, computed once per caption",
                dir.display()
            ),
        }
    }

    pub fn is_learned(&self) -> bool {
        matches!(self, TextEncoderConfig::Learned)
    }

    /// Loads a frozen encoder padded to `context_length` tokens (`None` for `Learned`).
    /// Captions longer than the context are errors, not silently truncated.
    pub fn load(
        &self,
        context_length: usize,
        device: &Device,
    ) -> Result<Option<Box<dyn TextEncoder + Send + Sync>>, TrainError> {
        let bert = |dir: &std::path::Path| -> Result<_, TrainError> {
            let enc = BertTextEncoder::load(dir, context_length, Overflow::Error, device)
                .map_err(|e| TrainError::Data(format!("text_encoder: {e}")))?;
            Ok(Some(Box::new(enc) as Box<dyn TextEncoder + Send + Sync>))
        };
        match self {
            TextEncoderConfig::Learned => Ok(None),
            TextEncoderConfig::MiniLm => {
                let dir = assets::locate(Asset::MiniLmL6V2)
                    .map_err(|e| TrainError::Data(format!("text_encoder MiniLm: {e}")))?;
                bert(&dir)
            }
            TextEncoderConfig::Bert { dir } => bert(dir),
            TextEncoderConfig::Clip { dir } => {
                let enc = ClipTextEncoder::load(dir, device)
                    .map_err(|e| TrainError::Data(format!("text_encoder: {e}")))?;
                if enc.context_length() != context_length {
                    return Err(TrainError::Data(format!(
                        "text_encoder Clip(dir: {}) gives {} tokens per caption but the model \
                         has {context_length}; set model.num_text_tokens: Some({})",
                        dir.display(),
                        enc.context_length(),
                        enc.context_length()
                    )));
                }
                Ok(Some(Box::new(enc)))
            }
        }
    }
}

/// A frozen text encoder with a per-caption feature cache.
pub struct FrozenText {
    encoder: Box<dyn TextEncoder + Send + Sync>,
    device: Device,
    /// caption -> `[L * D]` features
    cache: Mutex<HashMap<String, Arc<Vec<f32>>>>,
}

/// Distinct captions encoded per encoder call.
const ENCODE_CHUNK: usize = 64;

impl FrozenText {
    /// `device`: where the encoder runs (features are kept on the host).
    pub fn new(encoder: Box<dyn TextEncoder + Send + Sync>, device: Device) -> Self {
        Self {
            encoder,
            device,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn name(&self) -> String {
        self.encoder.name()
    }

    /// `(L, D)` of the features.
    pub fn shape(&self) -> (usize, usize) {
        (self.encoder.context_length(), self.encoder.dim())
    }

    /// Distinct captions encoded so far.
    pub fn cached(&self) -> usize {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Features of `captions`, encoding only those not seen before (once each).
    fn features(&self, captions: &[&str]) -> Result<Vec<Arc<Vec<f32>>>, TrainError> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let mut missing: Vec<&str> = Vec::new();
        for c in captions {
            if !cache.contains_key(*c) && !missing.contains(c) {
                missing.push(c);
            }
        }
        let (l, d) = self.shape();
        for chunk in missing.chunks(ENCODE_CHUNK) {
            let f = self
                .encoder
                .encode(chunk, &self.device)
                .map_err(|e| TrainError::Data(format!("text encoder {}: {e}", self.name())))?
                .features; // [n, L, D]
            let v = f
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .map_err(|e| TrainError::Other(format!("{e:?}")))?;
            for (i, c) in chunk.iter().enumerate() {
                cache.insert(
                    c.to_string(),
                    Arc::new(v[i * l * d..(i + 1) * l * d].to_vec()),
                );
            }
        }
        Ok(captions.iter().map(|c| cache[*c].clone()).collect())
    }

    /// Encodes the captions not cached yet (e.g. every caption of a run before it starts, so
    /// that no training step pays for encoding).
    pub fn warm(&self, captions: &[&str]) -> Result<(), TrainError> {
        self.features(captions).map(|_| ())
    }

    /// Context `[n, L, D]` of `captions` on `device`.
    pub fn context(&self, captions: &[&str], device: &Device) -> Result<Tensor<3>, TrainError> {
        let (l, d) = self.shape();
        let rows = self.features(captions)?;
        let mut v = Vec::with_capacity(captions.len() * l * d);
        for r in rows {
            v.extend_from_slice(&r);
        }
        Ok(Tensor::from_data(
            TensorData::new(v, [captions.len(), l, d]),
            device,
        ))
    }
}

/// The text side of a token-or-caption data source.
#[derive(Clone)]
pub enum TextSide {
    /// Word ids for the model's learned embedding.
    Learned(Arc<WordTokenizer>),
    /// Cached features of a frozen encoder.
    Frozen(Arc<FrozenText>),
}

impl TextSide {
    /// Size of the model's learned embedding table (`None`: the model takes features).
    pub fn vocab_size(&self) -> Option<usize> {
        match self {
            TextSide::Learned(t) => Some(t.vocab_size()),
            TextSide::Frozen(_) => None,
        }
    }
}

/// Captions -> the model's context `[n, L, D]`.
pub trait Conditioner {
    /// Errors name the caption (e.g. an unknown word, or too many tokens).
    fn context(
        &self,
        model: &dyn WordEmbedding,
        captions: &[&str],
        device: &Device,
    ) -> Result<Tensor<3>, TrainError>;
}

impl Conditioner for WordTokenizer {
    fn context(
        &self,
        model: &dyn WordEmbedding,
        captions: &[&str],
        device: &Device,
    ) -> Result<Tensor<3>, TrainError> {
        Ok(model.embed_words(tokenize(self, captions, device)?))
    }
}

impl Conditioner for TextSide {
    fn context(
        &self,
        model: &dyn WordEmbedding,
        captions: &[&str],
        device: &Device,
    ) -> Result<Tensor<3>, TrainError> {
        match self {
            TextSide::Learned(t) => t.context(model, captions, device),
            TextSide::Frozen(f) => f.context(captions, device),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ifvit_encoders::LearnedTextEncoder;

    #[test]
    fn frozen_features_are_computed_once_per_caption() {
        let device = Device::flex();
        let tok = WordTokenizer::shapes(6).unwrap();
        let enc = LearnedTextEncoder::seeded(tok, 3, 1, &device);
        let direct = enc
            .encode(&["a red circle"], &device)
            .unwrap()
            .features
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let frozen = FrozenText::new(Box::new(enc), device.clone());
        let c = frozen
            .context(&["a red circle", "", "a red circle"], &device)
            .unwrap();
        assert_eq!(c.dims(), [3, 6, 3]);
        assert_eq!(frozen.cached(), 2);
        let v = c.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(&v[..18], &direct[..]);
        assert_eq!(&v[36..], &direct[..]);
        frozen.context(&["", "a blue square"], &device).unwrap();
        assert_eq!(frozen.cached(), 3);
    }

    #[test]
    fn a_missing_clip_directory_is_named_and_minilm_has_a_known_width() {
        let e = TextEncoderConfig::Clip {
            dir: "no-such-clip".into(),
        }
        .load(77, &Device::flex())
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("no-such-clip"), "{e}");
        assert_eq!(TextEncoderConfig::MiniLm.known_dim(), Some(384));
        assert!(TextEncoderConfig::default().is_learned());
    }
}
