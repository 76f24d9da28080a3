//! The VAE's resolution levels: `DownEncoderBlock2D`, `UpDecoderBlock2D`, and the
//! `UNetMidBlock2D` (resnet, attention, resnet) that both halves share.

use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Tensor};

use super::attention::SpatialAttention;
use super::resnet::{ResnetBlock, conv3x3};
use crate::error::LoadError;
use crate::weights::Weights;

/// `layers` ResNet blocks, then (except at the last level) a stride-2 3x3 conv after padding
/// right and bottom by one (diffusers `Downsample2D(padding=0)`).
#[derive(Module, Debug)]
pub struct DownBlock {
    pub resnets: Vec<ResnetBlock>,
    pub downsample: Option<Conv2d>,
}

impl DownBlock {
    pub fn new(
        c_in: usize,
        c_out: usize,
        layers: usize,
        groups: usize,
        downsample: bool,
        device: &Device,
    ) -> Self {
        let resnets = (0..layers)
            .map(|i| ResnetBlock::new(if i == 0 { c_in } else { c_out }, c_out, groups, device))
            .collect();
        let downsample = downsample.then(|| {
            Conv2dConfig::new([c_out, c_out], [3, 3])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(0, 0, 1, 1)) // top, left, bottom, right
                .init(device)
        });
        Self {
            resnets,
            downsample,
        }
    }

    pub fn load(&mut self, w: &Weights, prefix: &str) -> Result<(), LoadError> {
        for (i, r) in self.resnets.iter_mut().enumerate() {
            r.load(w, &format!("{prefix}.resnets.{i}"))?;
        }
        if let Some(d) = self.downsample.as_mut() {
            w.conv2d(d, &format!("{prefix}.downsamplers.0.conv"))?;
        }
        Ok(())
    }

    /// `[B, C_in, H, W]` -> `[B, C_out, H/2, W/2]` (or `H, W` at the last level).
    pub fn forward(&self, mut x: Tensor<4>) -> Tensor<4> {
        for r in &self.resnets {
            x = r.forward(x);
        }
        match &self.downsample {
            Some(d) => d.forward(x),
            None => x,
        }
    }
}

/// `layers` ResNet blocks, then (except at the last level) nearest 2x upsampling and a 3x3 conv
/// (diffusers `Upsample2D(use_conv=True)`).
#[derive(Module, Debug)]
pub struct UpBlock {
    pub resnets: Vec<ResnetBlock>,
    pub upsample: Option<Conv2d>,
}

impl UpBlock {
    pub fn new(
        c_in: usize,
        c_out: usize,
        layers: usize,
        groups: usize,
        upsample: bool,
        device: &Device,
    ) -> Self {
        let resnets = (0..layers)
            .map(|i| ResnetBlock::new(if i == 0 { c_in } else { c_out }, c_out, groups, device))
            .collect();
        Self {
            resnets,
            upsample: upsample.then(|| conv3x3(c_out, c_out, device)),
        }
    }

    pub fn load(&mut self, w: &Weights, prefix: &str) -> Result<(), LoadError> {
        for (i, r) in self.resnets.iter_mut().enumerate() {
            r.load(w, &format!("{prefix}.resnets.{i}"))?;
        }
        if let Some(u) = self.upsample.as_mut() {
            w.conv2d(u, &format!("{prefix}.upsamplers.0.conv"))?;
        }
        Ok(())
    }

    /// `[B, C_in, H, W]` -> `[B, C_out, 2H, 2W]` (or `H, W` at the last level).
    pub fn forward(&self, mut x: Tensor<4>) -> Tensor<4> {
        for r in &self.resnets {
            x = r.forward(x);
        }
        match &self.upsample {
            Some(u) => u.forward(nearest_2x(x)),
            None => x,
        }
    }
}

/// Nearest-neighbour 2x upsampling (`F.interpolate(scale_factor=2, mode="nearest")`).
pub fn nearest_2x(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h, 1, w, 1])
        .expand([b, c, h, 2, w, 2])
        .reshape([b, c, 2 * h, 2 * w])
}

/// Resnet, optional attention, resnet, all at the lowest resolution.
#[derive(Module, Debug)]
pub struct MidBlock {
    pub resnet0: ResnetBlock,
    pub attention: Option<SpatialAttention>,
    pub resnet1: ResnetBlock,
}

impl MidBlock {
    pub fn new(channels: usize, groups: usize, attention: bool, device: &Device) -> Self {
        Self {
            resnet0: ResnetBlock::new(channels, channels, groups, device),
            attention: attention.then(|| SpatialAttention::new(channels, groups, device)),
            resnet1: ResnetBlock::new(channels, channels, groups, device),
        }
    }

    pub fn load(&mut self, w: &Weights, prefix: &str) -> Result<(), LoadError> {
        self.resnet0.load(w, &format!("{prefix}.resnets.0"))?;
        if let Some(a) = self.attention.as_mut() {
            a.load(w, &format!("{prefix}.attentions.0"))?;
        }
        self.resnet1.load(w, &format!("{prefix}.resnets.1"))
    }

    /// `[B, C, H, W]` -> `[B, C, H, W]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.resnet0.forward(x);
        let x = match &self.attention {
            Some(a) => a.forward(x),
            None => x,
        };
        self.resnet1.forward(x)
    }
}
