//! The VAE mid-block's single-head spatial self-attention (diffusers `Attention` with
//! `group_norm`, one head of width C, residual connection).

use burn::module::Module;
use burn::nn::{GroupNorm, Linear, LinearConfig};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor};

use super::resnet::group_norm;
use crate::error::LoadError;
use crate::weights::Weights;

#[derive(Module, Debug)]
pub struct SpatialAttention {
    pub group_norm: GroupNorm,
    pub to_q: Linear,
    pub to_k: Linear,
    pub to_v: Linear,
    pub to_out: Linear,
}

impl SpatialAttention {
    pub fn new(channels: usize, groups: usize, device: &Device) -> Self {
        let lin = || LinearConfig::new(channels, channels).init(device);
        Self {
            group_norm: group_norm(groups, channels, device),
            to_q: lin(),
            to_k: lin(),
            to_v: lin(),
            to_out: lin(),
        }
    }

    /// Current names (`to_q`, `to_k`, `to_v`, `to_out.0`) or the deprecated ones of older
    /// diffusers checkpoints such as `sd-vae-ft-mse` (`query`, `key`, `value`, `proj_attn`).
    pub fn load(&mut self, w: &Weights, prefix: &str) -> Result<(), LoadError> {
        w.group_norm(&mut self.group_norm, &format!("{prefix}.group_norm"))?;
        let legacy = !w.contains(&format!("{prefix}.to_q.weight"))
            && w.contains(&format!("{prefix}.query.weight"));
        let names = if legacy {
            ["query", "key", "value", "proj_attn"]
        } else {
            ["to_q", "to_k", "to_v", "to_out.0"]
        };
        let layers = [
            &mut self.to_q,
            &mut self.to_k,
            &mut self.to_v,
            &mut self.to_out,
        ];
        for (layer, name) in layers.into_iter().zip(names) {
            w.linear_or_conv1x1(layer, &format!("{prefix}.{name}"))?;
        }
        Ok(())
    }

    /// `[B, C, H, W]` -> `[B, C, H, W]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let t = self
            .group_norm
            .forward(x.clone())
            .reshape([b, c, h * w])
            .swap_dims(1, 2); // [B, HW, C]
        let q = self.to_q.forward(t.clone());
        let k = self.to_k.forward(t.clone());
        let v = self.to_v.forward(t);
        let scores = q.matmul(k.swap_dims(1, 2)) * (1.0 / (c as f64).sqrt()); // [B, HW, HW]
        let out = self.to_out.forward(softmax(scores, 2).matmul(v)); // [B, HW, C]
        out.swap_dims(1, 2).reshape([b, c, h, w]) + x
    }
}
