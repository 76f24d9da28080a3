//! Hugging Face `CLIPConfig` (`config.json` of `openai/clip-vit-*`): the text and vision
//! towers' sizes, read with transformers' defaults and its `text_config_dict` /
//! `vision_config_dict` overrides (present in the published OpenAI files). Values this
//! implementation does not support are refused by field name; the many generic
//! `PretrainedConfig` fields of those files (sampling options and the like) are ignored.

use std::path::Path;

use serde_json::{Map, Value};

use crate::LoadError;

/// Which activation the MLPs use (`hidden_act`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClipActivation {
    /// `x * sigmoid(1.702 x)` (the OpenAI checkpoints).
    QuickGelu,
    /// Exact (erf) GELU.
    Gelu,
}

/// One transformer tower's sizes.
#[derive(Clone, Debug, PartialEq)]
pub struct TowerConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub hidden_act: ClipActivation,
    pub layer_norm_eps: f64,
}

/// `CLIPTextConfig`.
#[derive(Clone, Debug, PartialEq)]
pub struct ClipTextConfig {
    pub tower: TowerConfig,
    pub vocab_size: usize,
    /// Context length (77).
    pub max_position_embeddings: usize,
    /// 2 in the original OpenAI configs, which transformers reads as "pool at the argmax of
    /// the token ids" (the end token has the largest id); any other value pools at the first
    /// occurrence of that id.
    pub eos_token_id: u32,
}

/// `CLIPVisionConfig`.
#[derive(Clone, Debug, PartialEq)]
pub struct ClipVisionConfig {
    pub tower: TowerConfig,
    pub image_size: usize,
    pub patch_size: usize,
    pub num_channels: usize,
}

/// `CLIPConfig`: both towers and the shared embedding width.
#[derive(Clone, Debug, PartialEq)]
pub struct ClipConfig {
    pub text: ClipTextConfig,
    pub vision: ClipVisionConfig,
    /// Width of `text_projection` / `visual_projection` outputs.
    pub projection_dim: usize,
}

impl ClipVisionConfig {
    /// Patches per side.
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size
    }
}

/// `openai/clip-vit-large-patch14`'s `config.json`, as published.
const VIT_L14: &str = include_str!("vit_l14_config.json");

impl ClipConfig {
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            expected:
                "a transformers CLIPModel config.json (e.g. from openai/clip-vit-large-patch14)"
                    .into(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// The published `openai/clip-vit-large-patch14` `config.json` (the encoder U-ViT
    /// conditions on), for building the network at its real sizes without its weights:
    /// benchmarks and size checks.
    pub fn vit_l14() -> Self {
        Self::parse(
            Path::new("<built-in openai/clip-vit-large-patch14 config.json>"),
            VIT_L14,
        )
        .expect("the built-in ViT-L/14 config parses")
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, LoadError> {
        let value: Value = serde_json::from_str(text).map_err(|e| LoadError::Json {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let top = value.as_object().ok_or_else(|| LoadError::Json {
            path: path.to_path_buf(),
            message: "expected a JSON object".into(),
        })?;
        let f = Fields { path, prefix: "" };
        if let Some(m) = top.get("model_type")
            && m.as_str() != Some("clip")
        {
            return Err(f.err("model_type", "\"clip\" (a CLIPModel config)", m));
        }
        let text_map = merged(top, "text_config", path)?;
        let vision_map = merged(top, "vision_config", path)?;
        let t = Fields {
            path,
            prefix: "text_config.",
        };
        let v = Fields {
            path,
            prefix: "vision_config.",
        };
        let text = ClipTextConfig {
            tower: t.tower(&text_map, (512, 2048, 12, 8))?,
            vocab_size: t.usize(&text_map, "vocab_size", 49408)?,
            max_position_embeddings: t.usize(&text_map, "max_position_embeddings", 77)?,
            eos_token_id: t.usize(&text_map, "eos_token_id", 2)? as u32,
        };
        let vision = ClipVisionConfig {
            tower: v.tower(&vision_map, (768, 3072, 12, 12))?,
            image_size: v.usize(&vision_map, "image_size", 224)?,
            patch_size: v.usize(&vision_map, "patch_size", 32)?,
            num_channels: v.usize(&vision_map, "num_channels", 3)?,
        };
        if vision.num_channels != 3 {
            return Err(v.err("num_channels", "3 (RGB)", &vision.num_channels.into()));
        }
        if !vision.image_size.is_multiple_of(vision.patch_size) {
            return Err(v.err(
                "image_size",
                &format!("a multiple of patch_size {}", vision.patch_size),
                &vision.image_size.into(),
            ));
        }
        Ok(Self {
            text,
            vision,
            projection_dim: f.usize(top, "projection_dim", 512)?,
        })
    }
}

/// `top[key]` overlaid with `top[key + "_dict"]`, as transformers' `CLIPConfig` does.
fn merged(
    top: &Map<String, Value>,
    key: &str,
    path: &Path,
) -> Result<Map<String, Value>, LoadError> {
    let mut out = Map::new();
    for k in [key.to_string(), format!("{key}_dict")] {
        match top.get(&k) {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => out.extend(m.clone()),
            Some(other) => {
                return Err(LoadError::Config {
                    path: path.to_path_buf(),
                    field: k,
                    expected: "an object".into(),
                    found: other.to_string(),
                });
            }
        }
    }
    Ok(out)
}

struct Fields<'a> {
    path: &'a Path,
    prefix: &'a str,
}

impl Fields<'_> {
    fn err(&self, field: &str, expected: &str, found: &Value) -> LoadError {
        LoadError::Config {
            path: self.path.to_path_buf(),
            field: format!("{}{field}", self.prefix),
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }

    fn usize(
        &self,
        map: &Map<String, Value>,
        field: &str,
        default: usize,
    ) -> Result<usize, LoadError> {
        match map.get(field) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_u64()
                .map(|n| n as usize)
                .filter(|n| *n > 0 || field == "eos_token_id")
                .ok_or_else(|| self.err(field, "a positive integer", v)),
        }
    }

    /// Defaults: (hidden, intermediate, layers, heads).
    fn tower(
        &self,
        map: &Map<String, Value>,
        d: (usize, usize, usize, usize),
    ) -> Result<TowerConfig, LoadError> {
        let hidden_act = match map.get("hidden_act") {
            None => ClipActivation::QuickGelu,
            Some(v) => match v.as_str() {
                Some("quick_gelu") => ClipActivation::QuickGelu,
                Some("gelu") => ClipActivation::Gelu,
                _ => return Err(self.err("hidden_act", "\"quick_gelu\" or \"gelu\"", v)),
            },
        };
        let layer_norm_eps = match map.get("layer_norm_eps") {
            None => 1e-5,
            Some(v) => v
                .as_f64()
                .filter(|x| *x > 0.0)
                .ok_or_else(|| self.err("layer_norm_eps", "a positive number", v))?,
        };
        let t = TowerConfig {
            hidden_size: self.usize(map, "hidden_size", d.0)?,
            intermediate_size: self.usize(map, "intermediate_size", d.1)?,
            num_hidden_layers: self.usize(map, "num_hidden_layers", d.2)?,
            num_attention_heads: self.usize(map, "num_attention_heads", d.3)?,
            hidden_act,
            layer_norm_eps,
        };
        if !t.hidden_size.is_multiple_of(t.num_attention_heads) {
            return Err(self.err(
                "num_attention_heads",
                &format!("a divisor of hidden_size {}", t.hidden_size),
                &t.num_attention_heads.into(),
            ));
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_vit_l14_has_the_published_sizes() {
        let c = ClipConfig::vit_l14();
        assert_eq!(c.text.tower.hidden_size, 768);
        assert_eq!(c.text.tower.num_hidden_layers, 12);
        assert_eq!(c.text.max_position_embeddings, 77);
        assert_eq!(c.vision.tower.hidden_size, 1024);
        assert_eq!(c.vision.tower.num_hidden_layers, 24);
        assert_eq!((c.vision.image_size, c.vision.patch_size), (224, 14));
        assert_eq!(c.projection_dim, 768);
        assert_eq!(c.vision.grid(), 16);
    }
}
