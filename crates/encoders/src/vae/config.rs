//! The diffusers `AutoencoderKL` config (`config.json` of `stabilityai/sd-vae-ft-mse` and
//! friends), read field by field: every size comes from it, and a field this implementation
//! does not support is refused by name.

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::LoadError;

/// SD's latent scale (diffusers' `scaling_factor` default, `config.json` of SD v1).
pub const SD_SCALE_FACTOR: f64 = 0.18215;

/// U-ViT's latent scale for MS-COCO 256x256 (the std of the KL-f8 latents of MS-COCO; SPEC
/// section 2). U-ViT multiplies latents by this before diffusion and divides before decoding;
/// it is what this project uses, not the file's `scaling_factor`.
pub const UVIT_COCO_SCALE_FACTOR: f64 = 0.23010;

/// The sizes of an `AutoencoderKL` (only the encoder/decoder design SD uses:
/// `DownEncoderBlock2D` / `UpDecoderBlock2D`, SiLU, GroupNorm eps 1e-6).
#[derive(Clone, Debug, PartialEq)]
pub struct VaeConfig {
    pub in_channels: usize,
    pub out_channels: usize,
    /// Channels after each resolution level, e.g. `[128, 256, 512, 512]`.
    pub block_out_channels: Vec<usize>,
    /// ResNet blocks per encoder level (the decoder has one more per level).
    pub layers_per_block: usize,
    /// Channels `C` of a latent (moments have `2C`).
    pub latent_channels: usize,
    pub norm_num_groups: usize,
    /// Training resolution recorded in the file (informational).
    pub sample_size: usize,
    /// The file's scale (SD's 0.18215 by default). Recorded; U-ViT uses
    /// [`UVIT_COCO_SCALE_FACTOR`] instead.
    pub scaling_factor: f64,
    pub use_quant_conv: bool,
    pub use_post_quant_conv: bool,
    pub mid_block_add_attention: bool,
}

impl Default for VaeConfig {
    /// The SD KL-f8 autoencoder (`stabilityai/sd-vae-ft-mse`).
    fn default() -> Self {
        Self {
            in_channels: 3,
            out_channels: 3,
            block_out_channels: vec![128, 256, 512, 512],
            layers_per_block: 2,
            latent_channels: 4,
            norm_num_groups: 32,
            sample_size: 256,
            scaling_factor: SD_SCALE_FACTOR,
            use_quant_conv: true,
            use_post_quant_conv: true,
            mid_block_add_attention: true,
        }
    }
}

/// GroupNorm epsilon of every norm in the diffusers VAE.
pub const VAE_NORM_EPS: f64 = 1e-6;

impl VaeConfig {
    /// Spatial downsampling factor: `2^(levels - 1)` (8 for SD).
    pub fn downsample(&self) -> usize {
        1 << (self.block_out_channels.len() - 1)
    }

    /// Reads and checks `config.json`.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            expected: "a diffusers AutoencoderKL config.json (e.g. from stabilityai/sd-vae-ft-mse)"
                .into(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses config JSON; `path` names the file in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Self, LoadError> {
        let value: Value = serde_json::from_str(text).map_err(|e| LoadError::Json {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let Value::Object(map) = value else {
            return Err(LoadError::Json {
                path: path.to_path_buf(),
                message: "expected a JSON object".into(),
            });
        };
        Fields { path, map: &map }.config()
    }
}

struct Fields<'a> {
    path: &'a Path,
    map: &'a Map<String, Value>,
}

impl Fields<'_> {
    fn err(&self, field: &str, expected: &str, found: &Value) -> LoadError {
        LoadError::Config {
            path: self.path.to_path_buf(),
            field: field.to_string(),
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }

    fn usize(&self, field: &str, default: usize) -> Result<usize, LoadError> {
        match self.map.get(field) {
            None => Ok(default),
            Some(v) => v
                .as_u64()
                .filter(|n| *n > 0)
                .map(|n| n as usize)
                .ok_or_else(|| self.err(field, "a positive integer", v)),
        }
    }

    fn bool(&self, field: &str, default: bool) -> Result<bool, LoadError> {
        match self.map.get(field) {
            None => Ok(default),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| self.err(field, "true or false", v)),
        }
    }

    fn config(&self) -> Result<VaeConfig, LoadError> {
        const KNOWN: &[&str] = &[
            "in_channels",
            "out_channels",
            "down_block_types",
            "up_block_types",
            "block_out_channels",
            "layers_per_block",
            "act_fn",
            "latent_channels",
            "norm_num_groups",
            "sample_size",
            "scaling_factor",
            "shift_factor",
            "latents_mean",
            "latents_std",
            "force_upcast",
            "use_quant_conv",
            "use_post_quant_conv",
            "mid_block_add_attention",
        ];
        if let Some(class) = self.map.get("_class_name")
            && class.as_str() != Some("AutoencoderKL")
        {
            return Err(self.err("_class_name", "\"AutoencoderKL\"", class));
        }
        for (k, v) in self.map {
            if !k.starts_with('_') && !KNOWN.contains(&k.as_str()) {
                return Err(self.err(
                    k,
                    "no such field (this AutoencoderKL implementation does not know it)",
                    v,
                ));
            }
        }
        let d = VaeConfig::default();
        let block_out_channels = match self.map.get("block_out_channels") {
            None => vec![64], // diffusers' default
            Some(v) => v
                .as_array()
                .filter(|a| !a.is_empty())
                .and_then(|a| {
                    a.iter()
                        .map(|x| x.as_u64().filter(|n| *n > 0).map(|n| n as usize))
                        .collect::<Option<Vec<_>>>()
                })
                .ok_or_else(|| {
                    self.err(
                        "block_out_channels",
                        "a non-empty list of positive integers",
                        v,
                    )
                })?,
        };
        let levels = block_out_channels.len();
        self.block_types("down_block_types", "DownEncoderBlock2D", levels)?;
        self.block_types("up_block_types", "UpDecoderBlock2D", levels)?;
        if let Some(v) = self.map.get("act_fn")
            && v.as_str() != Some("silu")
        {
            return Err(self.err("act_fn", "\"silu\"", v));
        }
        for field in ["shift_factor", "latents_mean", "latents_std"] {
            match self.map.get(field) {
                None | Some(Value::Null) => {}
                Some(Value::Number(n)) if field == "shift_factor" && n.as_f64() == Some(0.0) => {}
                Some(v) => return Err(self.err(field, "null (SD-style latents only)", v)),
            }
        }
        if let Some(v) = self.map.get("force_upcast")
            && !v.is_boolean()
        {
            return Err(self.err(
                "force_upcast",
                "true or false (ignored: this runs in f32)",
                v,
            ));
        }
        let scaling_factor = match self.map.get("scaling_factor") {
            None => SD_SCALE_FACTOR,
            Some(v) => v
                .as_f64()
                .filter(|x| *x > 0.0)
                .ok_or_else(|| self.err("scaling_factor", "a positive number", v))?,
        };
        let cfg = VaeConfig {
            in_channels: self.usize("in_channels", 3)?,
            out_channels: self.usize("out_channels", 3)?,
            layers_per_block: self.usize("layers_per_block", 1)?,
            latent_channels: self.usize("latent_channels", d.latent_channels)?,
            norm_num_groups: self.usize("norm_num_groups", 32)?,
            sample_size: self.usize("sample_size", 32)?,
            scaling_factor,
            use_quant_conv: self.bool("use_quant_conv", true)?,
            use_post_quant_conv: self.bool("use_post_quant_conv", true)?,
            mid_block_add_attention: self.bool("mid_block_add_attention", true)?,
            block_out_channels,
        };
        let g = cfg.norm_num_groups;
        if let Some(&c) = cfg.block_out_channels.iter().find(|c| *c % g != 0) {
            return Err(LoadError::Config {
                path: self.path.to_path_buf(),
                field: "norm_num_groups".into(),
                expected: format!(
                    "a divisor of every entry of block_out_channels (channel count {c})"
                ),
                found: g.to_string(),
            });
        }
        Ok(cfg)
    }

    fn block_types(&self, field: &str, kind: &str, levels: usize) -> Result<(), LoadError> {
        let Some(v) = self.map.get(field) else {
            return Ok(());
        };
        let ok = v
            .as_array()
            .is_some_and(|a| a.len() == levels && a.iter().all(|x| x.as_str() == Some(kind)));
        if ok {
            Ok(())
        } else {
            Err(self.err(
                field,
                &format!("{levels} x \"{kind}\" (one per entry of block_out_channels)"),
                v,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `stabilityai/sd-vae-ft-mse/config.json` as published (diffusers 0.4.2 era).
    pub(crate) const SD_VAE_FT_MSE: &str = r#"{
      "_class_name": "AutoencoderKL",
      "_diffusers_version": "0.4.2",
      "act_fn": "silu",
      "block_out_channels": [128, 256, 512, 512],
      "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
      "in_channels": 3,
      "latent_channels": 4,
      "layers_per_block": 2,
      "norm_num_groups": 32,
      "out_channels": 3,
      "sample_size": 256,
      "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"]
    }"#;

    #[test]
    fn published_config_parses_to_sd_kl_f8() {
        let c = VaeConfig::parse(Path::new("config.json"), SD_VAE_FT_MSE).unwrap();
        assert_eq!(c, VaeConfig::default());
        assert_eq!(c.downsample(), 8);
    }

    #[test]
    fn unsupported_fields_are_named() {
        let p = Path::new("vae/config.json");
        let e = |text: &str| VaeConfig::parse(p, text).unwrap_err().to_string();
        let m = e(r#"{"act_fn": "gelu"}"#);
        assert!(
            m.contains("vae/config.json: field `act_fn`: expected \"silu\", found \"gelu\""),
            "{m}"
        );
        let m = e(r#"{"block_out_channels": [32, 64], "up_block_types": ["UpDecoderBlock2D"]}"#);
        assert!(
            m.contains("field `up_block_types`") && m.contains("2 x"),
            "{m}"
        );
        let m = e(r#"{"norm_type": "spatial"}"#);
        assert!(
            m.contains("field `norm_type`: expected no such field"),
            "{m}"
        );
        let m = e(r#"{"latents_mean": [0.1, 0.2]}"#);
        assert!(m.contains("field `latents_mean`"), "{m}");
        let m = e(r#"{"block_out_channels": [32, 48], "norm_num_groups": 32}"#);
        assert!(
            m.contains("field `norm_num_groups`") && m.contains("48"),
            "{m}"
        );
        let m = e(r#"{"_class_name": "AutoencoderTiny"}"#);
        assert!(m.contains("field `_class_name`"), "{m}");
        let m = VaeConfig::load(Path::new("/nonexistent/config.json"))
            .unwrap_err()
            .to_string();
        assert!(
            m.contains("/nonexistent/config.json: cannot read") && m.contains("sd-vae-ft-mse"),
            "{m}"
        );
    }
}
