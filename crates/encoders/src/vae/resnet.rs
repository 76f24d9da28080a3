//! diffusers `ResnetBlock2D` without a time embedding (the VAE's block):
//! `shortcut(x) + conv2(silu(norm2(conv1(silu(norm1(x))))))`.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, PaddingConfig2d};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor};

use super::config::VAE_NORM_EPS;
use crate::error::LoadError;
use crate::weights::Weights;

/// 3x3 convolution with padding 1 (the VAE's default conv).
pub(crate) fn conv3x3(c_in: usize, c_out: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([c_in, c_out], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}

/// GroupNorm with the VAE's epsilon (1e-6).
pub(crate) fn group_norm(groups: usize, channels: usize, device: &Device) -> GroupNorm {
    GroupNormConfig::new(groups, channels)
        .with_epsilon(VAE_NORM_EPS)
        .init(device)
}

#[derive(Module, Debug)]
pub struct ResnetBlock {
    pub norm1: GroupNorm,
    pub conv1: Conv2d,
    pub norm2: GroupNorm,
    pub conv2: Conv2d,
    /// 1x1 projection of the input when the channel count changes.
    pub conv_shortcut: Option<Conv2d>,
}

impl ResnetBlock {
    pub fn new(c_in: usize, c_out: usize, groups: usize, device: &Device) -> Self {
        Self {
            norm1: group_norm(groups, c_in, device),
            conv1: conv3x3(c_in, c_out, device),
            norm2: group_norm(groups, c_out, device),
            conv2: conv3x3(c_out, c_out, device),
            conv_shortcut: (c_in != c_out)
                .then(|| Conv2dConfig::new([c_in, c_out], [1, 1]).init(device)),
        }
    }

    pub fn load(&mut self, w: &Weights, prefix: &str) -> Result<(), LoadError> {
        w.group_norm(&mut self.norm1, &format!("{prefix}.norm1"))?;
        w.conv2d(&mut self.conv1, &format!("{prefix}.conv1"))?;
        w.group_norm(&mut self.norm2, &format!("{prefix}.norm2"))?;
        w.conv2d(&mut self.conv2, &format!("{prefix}.conv2"))?;
        if let Some(c) = self.conv_shortcut.as_mut() {
            w.conv2d(c, &format!("{prefix}.conv_shortcut"))?;
        }
        Ok(())
    }

    /// `[B, C_in, H, W]` -> `[B, C_out, H, W]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = self.conv1.forward(silu(self.norm1.forward(x.clone())));
        let h = self.conv2.forward(silu(self.norm2.forward(h)));
        let skip = match &self.conv_shortcut {
            Some(c) => c.forward(x),
            None => x,
        };
        skip + h
    }
}
