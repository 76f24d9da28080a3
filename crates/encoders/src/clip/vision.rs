//! CLIP's vision tower (transformers `CLIPVisionTransformer` + `visual_projection`): patch
//! convolution without bias, class token, position embedding, `pre_layrnorm`, encoder,
//! `post_layernorm` on the class token, projection.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor};

use super::config::ClipConfig;
use super::layers::{ClipEncoder, layer_norm};
use crate::{LoadError, Weights};

#[derive(Module, Debug)]
pub struct ClipVisionModel {
    /// `[D]`.
    pub class_embedding: Param<Tensor<1>>,
    pub patch_embedding: Conv2d,
    /// `[1 + grid^2, D]`.
    pub position_embedding: Embedding,
    pub pre_layrnorm: LayerNorm,
    pub encoder: ClipEncoder,
    pub post_layernorm: LayerNorm,
    /// `[D] -> [P]`, no bias.
    pub visual_projection: Linear,
    pub image_size: usize,
}

/// Output of the vision tower.
pub struct ClipVisionOutput {
    /// `[B, 1 + grid^2, D]` (before `post_layernorm`, as transformers returns it).
    pub last_hidden_state: Tensor<3>,
    /// `[B, D]`: `post_layernorm` of the class token.
    pub pooled: Tensor<2>,
    /// `[B, P]`.
    pub image_embeds: Tensor<2>,
}

impl ClipVisionModel {
    pub fn new(c: &ClipConfig, device: &Device) -> Self {
        let v = &c.vision;
        let d = v.tower.hidden_size;
        let p = v.patch_size;
        let eps = v.tower.layer_norm_eps;
        Self {
            class_embedding: Param::from_tensor(Tensor::zeros([d], device)),
            patch_embedding: Conv2dConfig::new([v.num_channels, d], [p, p])
                .with_stride([p, p])
                .with_bias(false)
                .init(device),
            position_embedding: EmbeddingConfig::new(v.grid() * v.grid() + 1, d).init(device),
            pre_layrnorm: layer_norm(d, eps, device),
            encoder: ClipEncoder::new(&v.tower, device),
            post_layernorm: layer_norm(d, eps, device),
            visual_projection: LinearConfig::new(d, c.projection_dim)
                .with_bias(false)
                .init(device),
            image_size: v.image_size,
        }
    }

    /// Names of a transformers `CLIPModel` file (`vision_model.*`, `visual_projection.weight`).
    pub fn load(&mut self, w: &Weights) -> Result<(), LoadError> {
        let p = "vision_model";
        let d = self.class_embedding.lazy_shape().dims::<1>();
        self.class_embedding =
            Param::from_tensor(w.tensor(&format!("{p}.embeddings.class_embedding"), d)?);
        w.conv2d(
            &mut self.patch_embedding,
            &format!("{p}.embeddings.patch_embedding"),
        )?;
        w.embedding(
            &mut self.position_embedding,
            &format!("{p}.embeddings.position_embedding"),
        )?;
        w.layer_norm(&mut self.pre_layrnorm, &format!("{p}.pre_layrnorm"))?;
        self.encoder.load(w, &format!("{p}.encoder"))?;
        w.layer_norm(&mut self.post_layernorm, &format!("{p}.post_layernorm"))?;
        w.linear(&mut self.visual_projection, "visual_projection")
    }

    /// `pixels`: `[B, 3, S, S]`, already preprocessed (see [`super::preprocess`]), `S` the
    /// config's `image_size`.
    pub fn forward(&self, pixels: Tensor<4>) -> ClipVisionOutput {
        let [b, _, h, w] = pixels.dims();
        assert!(
            h == self.image_size && w == self.image_size,
            "CLIP vision expects {s}x{s} pixels, got {h}x{w}; preprocess first",
            s = self.image_size
        );
        let patches = self.patch_embedding.forward(pixels); // [B, D, g, g]
        let [_, d, g, _] = patches.dims();
        let patches = patches.reshape([b, d, g * g]).swap_dims(1, 2); // [B, g^2, D]
        let cls = self
            .class_embedding
            .val()
            .reshape([1, 1, d])
            .expand([b, 1, d]);
        let n = g * g + 1;
        let device = patches.device();
        let positions = Tensor::<1, Int>::arange(0..n as i64, &device).reshape([1, n]);
        let x = Tensor::cat(vec![cls, patches], 1) + self.position_embedding.forward(positions); // [B, N, D]
        let h = self.encoder.forward(self.pre_layrnorm.forward(x), None);
        let pooled = self
            .post_layernorm
            .forward(h.clone().slice([0..b, 0..1, 0..d]).reshape([b, d]));
        ClipVisionOutput {
            last_hidden_state: h,
            image_embeds: self.visual_projection.forward(pooled.clone()),
            pooled,
        }
    }
}
