//! A sentence-transformers BERT model (e.g. all-MiniLM-L6-v2) as a [`TextEncoder`]: token
//! features are the last hidden state; the sentence embedding is the mask-weighted mean of
//! the token features, L2-normalised (sentence-transformers' `Pooling(mean)` + `Normalize`).

use std::path::{Path, PathBuf};

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use ifvit_data::tokenizer::TextTokenizer;
use ifvit_data::tokenizer::bert::BertTokenizer;
use ifvit_data::tokenizer::clip::Overflow;
use serde::Deserialize;

use super::config::BertConfig;
use super::model::BertModel;
use crate::error::{EncodeError, LoadError};
use crate::text::{TextEncoder, TextFeatures};
use crate::weights::Weights;

/// The files of a model directory.
pub const CONFIG_FILE: &str = "config.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// sentence-transformers' pooling settings (optional; mean pooling when absent).
pub const POOLING_FILE: &str = "1_Pooling/config.json";

/// BERT + its WordPiece tokenizer, padded (or truncated) to a fixed context length.
pub struct BertTextEncoder {
    pub model: BertModel,
    tokenizer: BertTokenizer,
    name: String,
    dim: usize,
}

fn require(dir: &Path, file: &str) -> Result<PathBuf, LoadError> {
    let path = dir.join(file);
    if path.is_file() {
        Ok(path)
    } else {
        Err(LoadError::MissingFile {
            path,
            what: format!("{file} of a BERT / sentence-transformers model directory"),
            fix: "pass a directory holding config.json, model.safetensors and tokenizer.json \
                  (all-MiniLM-L6-v2: `ifvit assets fetch minilm`)"
                .into(),
        })
    }
}

#[derive(Deserialize)]
struct Pooling {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

fn check_pooling(dir: &Path) -> Result<(), LoadError> {
    let path = dir.join(POOLING_FILE);
    if !path.is_file() {
        return Ok(());
    }
    let text = std::fs::read_to_string(&path).map_err(LoadError::io(
        &path,
        "a sentence-transformers pooling config",
    ))?;
    let p: Pooling = serde_json::from_str(&text).map_err(|e| LoadError::Json {
        path: path.clone(),
        message: format!("as a sentence-transformers pooling config: {e}"),
    })?;
    let modes = [
        ("pooling_mode_cls_token", p.pooling_mode_cls_token),
        ("pooling_mode_max_tokens", p.pooling_mode_max_tokens),
        (
            "pooling_mode_mean_sqrt_len_tokens",
            p.pooling_mode_mean_sqrt_len_tokens,
        ),
    ];
    if let Some((field, _)) = modes.iter().find(|(_, on)| *on) {
        return Err(LoadError::Config {
            path,
            field: (*field).into(),
            expected: "false (only mean pooling is implemented)".into(),
            found: "true".into(),
        });
    }
    if !p.pooling_mode_mean_tokens {
        return Err(LoadError::Config {
            path,
            field: "pooling_mode_mean_tokens".into(),
            expected: "true".into(),
            found: "false".into(),
        });
    }
    Ok(())
}

impl BertTextEncoder {
    /// Loads `dir` (`config.json`, `model.safetensors`, `tokenizer.json`); captions are
    /// padded to `context_length` tokens (`[CLS] … [SEP] [PAD]…`), longer ones truncated or
    /// refused per `overflow`.
    pub fn load(
        dir: &Path,
        context_length: usize,
        overflow: Overflow,
        device: &Device,
    ) -> Result<Self, LoadError> {
        let config_path = require(dir, CONFIG_FILE)?;
        let weights_path = require(dir, WEIGHTS_FILE)?;
        let tokenizer_path = require(dir, TOKENIZER_FILE)?;
        let cfg = BertConfig::load(&config_path)?;
        if context_length > cfg.max_position_embeddings {
            return Err(LoadError::Config {
                path: config_path,
                field: "max_position_embeddings".into(),
                expected: format!("at least the context length {context_length}"),
                found: cfg.max_position_embeddings.to_string(),
            });
        }
        check_pooling(dir)?;
        let tokenizer = BertTokenizer::from_file(&tokenizer_path, context_length, overflow)
            .map_err(|e| LoadError::Tokenizer {
                path: tokenizer_path.clone(),
                message: e.to_string(),
            })?;
        if tokenizer.vocab_size() > cfg.vocab_size {
            return Err(LoadError::Config {
                path: config_path,
                field: "vocab_size".into(),
                expected: format!(
                    "at least the {} ids of {}",
                    tokenizer.vocab_size(),
                    tokenizer_path.display()
                ),
                found: cfg.vocab_size.to_string(),
            });
        }
        let weights = Weights::open(&weights_path, "BERT weights (model.safetensors)", device)?;
        let model = BertModel::load(&cfg, &weights, device)?;
        let dir_name = dir
            .canonicalize()
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| dir.display().to_string());
        Ok(Self {
            model,
            tokenizer,
            name: format!("bert({dir_name})"),
            dim: cfg.hidden_size,
        })
    }

    /// Token ids of one caption, exactly `context_length` of them.
    pub fn token_ids(&self, caption: &str) -> Result<Vec<u32>, EncodeError> {
        Ok(self.tokenizer.encode(caption)?)
    }

    /// `captions` -> ids `[B, L]` and mask `[B, L]` (true at non-padding tokens).
    pub fn tokens(
        &self,
        captions: &[&str],
        device: &Device,
    ) -> Result<(Tensor<2, Int>, Tensor<2, Bool>), EncodeError> {
        let l = self.context_length();
        let pad = self.tokenizer.pad_id();
        let mut ids = Vec::with_capacity(captions.len() * l);
        for c in captions {
            ids.extend(self.token_ids(c)?.into_iter().map(i64::from));
        }
        let mask: Vec<bool> = ids.iter().map(|&t| t != i64::from(pad)).collect();
        let b = captions.len();
        Ok((
            Tensor::from_data(TensorData::new(ids, [b, l]), device),
            Tensor::from_data(TensorData::new(mask, [b, l]), device),
        ))
    }

    /// Mean-pooled, L2-normalised sentence embeddings `[B, D]` (sentence-transformers'
    /// `model.encode(captions)` for captions that fit the context length).
    pub fn sentence_embedding(
        &self,
        captions: &[&str],
        device: &Device,
    ) -> Result<Tensor<2>, EncodeError> {
        let f = self.encode(captions, device)?;
        Ok(mean_pool_normalized(f.features, f.mask))
    }
}

/// `features: [B, L, D]`, `mask: [B, L]` -> `[B, D]`: mean over masked-in tokens, then divided
/// by its L2 norm (clamped at 1e-12, as `torch.nn.functional.normalize`).
pub fn mean_pool_normalized(features: Tensor<3>, mask: Tensor<2, Bool>) -> Tensor<2> {
    let [b, l, d] = features.dims();
    let m = mask.float().reshape([b, l, 1]); // [B, L, 1]
    let sum = (features * m.clone()).sum_dim(1).reshape([b, d]); // [B, D]
    let count = m.sum_dim(1).reshape([b, 1]).clamp_min(1e-9); // [B, 1]
    let mean = sum / count;
    let norm = mean
        .clone()
        .powi_scalar(2)
        .sum_dim(1)
        .sqrt()
        .clamp_min(1e-12); // [B, 1]
    mean / norm
}

impl TextEncoder for BertTextEncoder {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn context_length(&self) -> usize {
        self.tokenizer.context_length()
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn encode(&self, captions: &[&str], device: &Device) -> Result<TextFeatures, EncodeError> {
        let (ids, mask) = self.tokens(captions, device)?;
        Ok(TextFeatures {
            features: self.model.forward(ids, mask.clone()), // [B, L, D]
            mask,
        })
    }
}
