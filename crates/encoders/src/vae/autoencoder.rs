//! diffusers `AutoencoderKL` (SD's KL-f8 autoencoder): encoder -> `quant_conv` -> moments
//! (mean, log-variance); latent -> `post_quant_conv` -> decoder.

use std::path::{Path, PathBuf};

use crate::autoencoder::{Autoencoder, sample_latent};
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Tensor};

use super::config::VaeConfig;
use super::decoder::VaeDecoder;
use super::encoder::VaeEncoder;
use crate::error::LoadError;
use crate::weights::Weights;

/// The weights file of a diffusers model directory.
pub const VAE_WEIGHTS_FILE: &str = "diffusion_pytorch_model.safetensors";

/// The network (parameters only; sizes from a [`VaeConfig`]).
#[derive(Module, Debug)]
pub struct AutoencoderKl {
    pub encoder: VaeEncoder,
    pub quant_conv: Option<Conv2d>,
    pub post_quant_conv: Option<Conv2d>,
    pub decoder: VaeDecoder,
}

impl AutoencoderKl {
    /// Randomly initialised (lazily: parameters are materialised on first use, so building
    /// the full-size network to count its parameters is cheap).
    pub fn new(c: &VaeConfig, device: &Device) -> Self {
        let m = 2 * c.latent_channels;
        let z = c.latent_channels;
        Self {
            encoder: VaeEncoder::new(c, device),
            quant_conv: c
                .use_quant_conv
                .then(|| Conv2dConfig::new([m, m], [1, 1]).init(device)),
            post_quant_conv: c
                .use_post_quant_conv
                .then(|| Conv2dConfig::new([z, z], [1, 1]).init(device)),
            decoder: VaeDecoder::new(c, device),
        }
    }

    /// Replaces every parameter by the tensor of the same diffusers name in `w`.
    pub fn load(&mut self, w: &Weights) -> Result<(), LoadError> {
        self.encoder.load(w, "encoder")?;
        if let Some(q) = self.quant_conv.as_mut() {
            w.conv2d(q, "quant_conv")?;
        }
        if let Some(q) = self.post_quant_conv.as_mut() {
            w.conv2d(q, "post_quant_conv")?;
        }
        self.decoder.load(w, "decoder")
    }

    /// `[B, 3, H, W]` in [-1, 1] -> moments `[B, 2C, H/f, W/f]` (mean, then log-variance).
    pub fn encode_moments(&self, images: Tensor<4>) -> Tensor<4> {
        let h = self.encoder.forward(images);
        match &self.quant_conv {
            Some(q) => q.forward(h),
            None => h,
        }
    }

    /// Unscaled latents `[B, C, h, w]` -> images `[B, 3, h f, w f]`, not clamped.
    pub fn decode(&self, z: Tensor<4>) -> Tensor<4> {
        let z = match &self.post_quant_conv {
            Some(q) => q.forward(z),
            None => z,
        };
        self.decoder.forward(z)
    }
}

/// An `AutoencoderKL` loaded from a diffusers directory, with its config.
#[derive(Debug)]
pub struct SdAutoencoder {
    pub model: AutoencoderKl,
    pub config: VaeConfig,
    /// Directory name (recorded in [`Autoencoder::name`] so caches tell checkpoints apart).
    pub source: String,
}

impl SdAutoencoder {
    /// Loads `dir/config.json` and `dir/diffusion_pytorch_model.safetensors` (the layout of
    /// `stabilityai/sd-vae-ft-mse`, `sd-vae-ft-ema`, or the `vae/` folder of an SD pipeline).
    pub fn load(dir: &Path, device: &Device) -> Result<Self, LoadError> {
        let config = VaeConfig::load(&dir.join("config.json"))?;
        let weights = Weights::open(
            &dir.join(VAE_WEIGHTS_FILE),
            "the AutoencoderKL weights (diffusion_pytorch_model.safetensors, e.g. from stabilityai/sd-vae-ft-mse)",
            device,
        )?;
        Self::from_weights(config, &weights, &source_name(dir))
    }

    /// Builds the network for `config` and fills it from `weights`; every tensor of the file
    /// must find its place (a VAE file holds nothing else).
    pub fn from_weights(
        config: VaeConfig,
        weights: &Weights,
        source: &str,
    ) -> Result<Self, LoadError> {
        let mut model = AutoencoderKl::new(&config, weights.device());
        model.load(weights)?;
        weights.ensure_all_used()?;
        Ok(Self {
            model,
            config,
            source: source.to_string(),
        })
    }

    /// Draws scaled latents from moments: `scale * (mean + exp(logvar / 2) * noise)`, logvar
    /// clamped to [-30, 20]. U-ViT uses `scale` = [`super::UVIT_COCO_SCALE_FACTOR`].
    pub fn sample_scaled(moments: Tensor<4>, noise: Tensor<4>, scale: f64) -> Tensor<4> {
        sample_latent(moments, noise) * scale
    }

    /// Scaled latents -> images in [-1, 1]: `decode(z / scale)`, clamped.
    pub fn decode_scaled(&self, z: Tensor<4>, scale: f64) -> Tensor<4> {
        self.model.decode(z / scale).clamp(-1.0, 1.0)
    }
}

fn source_name(dir: &Path) -> String {
    let dir: PathBuf = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

impl Autoencoder for SdAutoencoder {
    fn name(&self) -> String {
        let ch: Vec<String> = self
            .config
            .block_out_channels
            .iter()
            .map(|c| c.to_string())
            .collect();
        format!(
            "autoencoder-kl-f{}(ch={}, z={}):{}",
            self.config.downsample(),
            ch.join(","),
            self.config.latent_channels,
            self.source
        )
    }

    fn latent_channels(&self) -> usize {
        self.config.latent_channels
    }

    fn downsample(&self) -> usize {
        self.config.downsample()
    }

    fn encode_moments(&self, images: Tensor<4>) -> Tensor<4> {
        self.model.encode_moments(images)
    }

    /// Unscaled latents -> images clamped to [-1, 1] (the trait's contract).
    fn decode(&self, latents: Tensor<4>) -> Tensor<4> {
        self.model.decode(latents).clamp(-1.0, 1.0)
    }
}
