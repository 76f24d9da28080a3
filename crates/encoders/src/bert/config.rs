//! `config.json` of a Hugging Face BERT model (`BertModel`), read for its sizes. Fields this
//! implementation does not support are refused by name rather than ignored.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::LoadError;

/// The sizes and options of a BERT encoder (Hugging Face `BertConfig` field names).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default = "default_pos")]
    pub position_embedding_type: String,
    #[serde(default = "default_model_type")]
    pub model_type: String,
    #[serde(default)]
    pub is_decoder: bool,
    #[serde(default)]
    pub add_cross_attention: bool,
}

fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_act() -> String {
    "gelu".into()
}
fn default_pos() -> String {
    "absolute".into()
}
fn default_model_type() -> String {
    "bert".into()
}

impl BertConfig {
    /// Reads and checks `path` (a `config.json`).
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let text =
            std::fs::read_to_string(path).map_err(LoadError::io(path, "a BERT config.json"))?;
        Self::parse(&text, path)
    }

    /// Parses the JSON text of a `config.json`; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, LoadError> {
        let cfg: Self = serde_json::from_str(text).map_err(|e| LoadError::Json {
            path: path.to_path_buf(),
            message: format!("as a BERT config: {e}"),
        })?;
        cfg.check(path)?;
        Ok(cfg)
    }

    fn check(&self, path: &Path) -> Result<(), LoadError> {
        let bad = |field: &str, expected: &str, found: String| LoadError::Config {
            path: PathBuf::from(path),
            field: field.into(),
            expected: expected.into(),
            found,
        };
        if self.model_type != "bert" {
            return Err(bad(
                "model_type",
                "\"bert\"",
                format!("{:?}", self.model_type),
            ));
        }
        if self.hidden_act != "gelu" {
            return Err(bad(
                "hidden_act",
                "\"gelu\" (exact erf GELU)",
                format!("{:?}", self.hidden_act),
            ));
        }
        if self.position_embedding_type != "absolute" {
            return Err(bad(
                "position_embedding_type",
                "\"absolute\"",
                format!("{:?}", self.position_embedding_type),
            ));
        }
        if self.is_decoder || self.add_cross_attention {
            return Err(bad(
                "is_decoder / add_cross_attention",
                "false (an encoder)",
                "true".into(),
            ));
        }
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return Err(bad(
                "num_attention_heads",
                &format!("a divisor of hidden_size {}", self.hidden_size),
                self.num_attention_heads.to_string(),
            ));
        }
        Ok(())
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINILM: &str = r#"{"architectures": ["BertModel"], "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu", "hidden_size": 384, "intermediate_size": 1536,
        "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "model_type": "bert",
        "num_attention_heads": 12, "num_hidden_layers": 6, "pad_token_id": 0,
        "position_embedding_type": "absolute", "type_vocab_size": 2, "vocab_size": 30522}"#;

    #[test]
    fn reads_minilm_sizes_and_refuses_unsupported_fields() {
        let p = Path::new("m/config.json");
        let c = BertConfig::parse(MINILM, p).unwrap();
        assert_eq!(
            (c.hidden_size, c.num_hidden_layers, c.head_dim()),
            (384, 6, 32)
        );
        let e = BertConfig::parse(&MINILM.replace("\"gelu\"", "\"relu\""), p)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("m/config.json") && e.contains("hidden_act"),
            "{e}"
        );
        assert!(e.contains("\"relu\""), "{e}");
        let e = BertConfig::parse(&MINILM.replace("\"absolute\"", "\"relative_key\""), p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("position_embedding_type"), "{e}");
        let e = BertConfig::parse(&MINILM.replace("\"hidden_size\": 384,", ""), p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("hidden_size"), "{e}");
    }
}
