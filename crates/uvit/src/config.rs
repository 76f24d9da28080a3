//! U-ViT configuration and named presets.

use ifvit_fusion::{BlockDims, Fusion, FusionError, FusionStrategy};
use serde::{Deserialize, Serialize};

/// Everything that fixes the shape of a U-ViT. Every size in the model derives from it.
///
/// `S` is the fusion strategy: the built-in [`Fusion`] (serde names such as `EarlyConcat`)
/// unless a library user brings their own [`FusionStrategy`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UViTConfig<S = Fusion> {
    /// Side of the (square) input, in pixels or latent cells.
    pub img_size: usize,
    /// Input channels (4 for SD latents, 3 for RGB pixels).
    pub in_chans: usize,
    pub patch_size: usize,
    pub embed_dim: usize,
    /// In- plus out-blocks (even); the U has `depth/2` in, 1 mid, `depth/2` out blocks.
    pub depth: usize,
    pub num_heads: usize,
    pub mlp_ratio: f64,
    pub qkv_bias: bool,
    /// Width of the text features fed to `context_embed` (768 for CLIP ViT-L/14).
    pub context_dim: usize,
    /// Number of text tokens (77 for CLIP).
    pub num_text_tokens: usize,
    /// 3x3 conv after unpatchify (U-ViT's `conv=True`).
    pub conv_head: bool,
    pub fusion: S,
}

/// A config that cannot build a model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown preset `{name}`; available presets: {available}")]
    UnknownPreset { name: String, available: String },
    #[error("patch_size {patch} must divide img_size {img}")]
    Patch { patch: usize, img: usize },
    #[error("embed_dim {dim} must be divisible by num_heads {heads}")]
    Heads { dim: usize, heads: usize },
    #[error("{field} must be positive")]
    Zero { field: &'static str },
    #[error(transparent)]
    Fusion(#[from] FusionError),
}

/// A named model size.
#[derive(Clone, Copy, Debug)]
pub struct Preset {
    pub name: &'static str,
    pub about: &'static str,
    build: fn(Fusion) -> UViTConfig,
}

impl Preset {
    pub fn config(&self, fusion: Fusion) -> UViTConfig {
        (self.build)(fusion)
    }
}

/// U-ViT-S/2 for 256x256 MS-COCO (SD latents 4x32x32, CLIP ViT-L/14 text).
fn uvit_s2(fusion: Fusion) -> UViTConfig {
    UViTConfig {
        img_size: 32,
        in_chans: 4,
        patch_size: 2,
        embed_dim: 512,
        depth: 12,
        num_heads: 8,
        mlp_ratio: 4.0,
        qkv_bias: false,
        context_dim: 768,
        num_text_tokens: 77,
        conv_head: true,
        fusion,
    }
}

/// U-ViT-S/2-Deep: depth 16 (17 blocks).
fn uvit_s2_deep(fusion: Fusion) -> UViTConfig {
    UViTConfig {
        depth: 16,
        ..uvit_s2(fusion)
    }
}

/// The small preset for the built-in `shapes` data on CPU: 32x32 RGB pixels, patch 8
/// (16 image tokens), width 128, 2 heads of 64 (U-ViT's head width), depth 6 (3 in, mid,
/// 3 out), 8 text tokens of width 128 from a learned word embedding (the longest `shapes`
/// caption has 7 words). 1.56M parameters, 0.039 forward GMACs per image (early-concat).
/// Chosen by measurement on a 2-core CPU (docs/performance.md): patch 4 (64 tokens) trained
/// at 67 img/s, patch 8 at 216 img/s (batch 32, release build), and patch 8 learns the
/// `shapes` layouts within the 15-minute budget of the default ablation.
fn uvit_tiny(fusion: Fusion) -> UViTConfig {
    UViTConfig {
        img_size: 32,
        in_chans: 3,
        patch_size: 8,
        embed_dim: 128,
        depth: 6,
        num_heads: 2,
        mlp_ratio: 4.0,
        qkv_bias: false,
        context_dim: 128,
        num_text_tokens: 8,
        conv_head: true,
        fusion,
    }
}

/// All named presets.
pub const PRESETS: [Preset; 3] = [
    Preset {
        name: "uvit-s2",
        about: "U-ViT-S/2, MS-COCO 256 (SD latents 4x32x32, CLIP L/14 text); 44.69M params",
        build: uvit_s2,
    },
    Preset {
        name: "uvit-s2-deep",
        about: "U-ViT-S/2-Deep (depth 16); 58.35M params",
        build: uvit_s2_deep,
    },
    Preset {
        name: "uvit-tiny",
        about: "small CPU preset for the built-in shapes data (32x32 RGB, patch 8, width 128, depth 6, 8 text tokens); 1.56M params",
        build: uvit_tiny,
    },
];

impl<S: FusionStrategy> UViTConfig<S> {
    /// The preset `name` with the given fusion strategy.
    pub fn preset(name: &str, fusion: S) -> Result<Self, ConfigError> {
        let p =
            PRESETS
                .iter()
                .find(|p| p.name == name)
                .ok_or_else(|| ConfigError::UnknownPreset {
                    name: name.to_string(),
                    available: PRESETS.map(|p| p.name).join(", "),
                })?;
        let cfg = p.config(Fusion::EarlyConcat).with_fusion(fusion);
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        for (field, v) in [
            ("img_size", self.img_size),
            ("in_chans", self.in_chans),
            ("patch_size", self.patch_size),
            ("embed_dim", self.embed_dim),
            ("num_heads", self.num_heads),
            ("context_dim", self.context_dim),
            ("num_text_tokens", self.num_text_tokens),
        ] {
            if v == 0 {
                return Err(ConfigError::Zero { field });
            }
        }
        if !self.img_size.is_multiple_of(self.patch_size) {
            return Err(ConfigError::Patch {
                patch: self.patch_size,
                img: self.img_size,
            });
        }
        if !self.embed_dim.is_multiple_of(self.num_heads) {
            return Err(ConfigError::Heads {
                dim: self.embed_dim,
                heads: self.num_heads,
            });
        }
        self.fusion.plan(self.depth)?;
        Ok(())
    }

    /// The same sizes with another fusion strategy.
    pub fn with_fusion<T: FusionStrategy>(self, fusion: T) -> UViTConfig<T> {
        UViTConfig {
            img_size: self.img_size,
            in_chans: self.in_chans,
            patch_size: self.patch_size,
            embed_dim: self.embed_dim,
            depth: self.depth,
            num_heads: self.num_heads,
            mlp_ratio: self.mlp_ratio,
            qkv_bias: self.qkv_bias,
            context_dim: self.context_dim,
            num_text_tokens: self.num_text_tokens,
            conv_head: self.conv_head,
            fusion,
        }
    }

    /// Sizes of every transformer block.
    pub fn block_dims(&self) -> BlockDims {
        BlockDims {
            dim: self.embed_dim,
            heads: self.num_heads,
            mlp_hidden: self.mlp_hidden(),
            qkv_bias: self.qkv_bias,
        }
    }

    /// Image tokens: `(img_size / patch_size)^2`.
    pub fn num_patches(&self) -> usize {
        (self.img_size / self.patch_size).pow(2)
    }

    /// Image + time tokens (the image stream).
    pub fn num_image_stream_tokens(&self) -> usize {
        self.num_patches() + 1
    }

    /// Rows of the position embedding: time + text + image.
    pub fn num_tokens(&self) -> usize {
        1 + self.num_text_tokens + self.num_patches()
    }

    pub fn mlp_hidden(&self) -> usize {
        (self.embed_dim as f64 * self.mlp_ratio) as usize
    }

    /// Channels of one patch: `patch^2 * in_chans`.
    pub fn patch_dim(&self) -> usize {
        self.patch_size * self.patch_size * self.in_chans
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_preset_lists_the_known_ones() {
        let e = UViTConfig::preset("uvit-xl", Fusion::EarlyConcat).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("uvit-xl") && msg.contains("uvit-s2-deep"),
            "{msg}"
        );
    }

    #[test]
    fn bad_sizes_are_rejected() {
        let mut c = UViTConfig::preset("uvit-s2", Fusion::EarlyConcat).unwrap();
        c.patch_size = 3;
        assert_eq!(c.validate(), Err(ConfigError::Patch { patch: 3, img: 32 }));
        let mut c = UViTConfig::preset("uvit-s2", Fusion::EarlyConcat).unwrap();
        c.num_heads = 7;
        assert!(matches!(c.validate(), Err(ConfigError::Heads { .. })));
        let e = UViTConfig::preset("uvit-tiny", Fusion::IntermediateConcat { c: 1, v: 4 });
        assert!(e.unwrap_err().to_string().contains("at most 3"));
    }

    #[test]
    fn s2_token_counts() {
        let c = UViTConfig::preset("uvit-s2", Fusion::EarlyConcat).unwrap();
        assert_eq!(
            (c.num_patches(), c.num_tokens(), c.patch_dim()),
            (256, 334, 16)
        );
    }
}
