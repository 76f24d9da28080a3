//! The VAE encoder: image -> `2C` moment channels at 1/8 resolution (before `quant_conv`).

use burn::module::Module;
use burn::nn::GroupNorm;
use burn::nn::conv::Conv2d;
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor};

use super::blocks::{DownBlock, MidBlock};
use super::config::VaeConfig;
use super::resnet::{conv3x3, group_norm};
use crate::error::LoadError;
use crate::weights::Weights;

#[derive(Module, Debug)]
pub struct VaeEncoder {
    pub conv_in: Conv2d,
    pub down_blocks: Vec<DownBlock>,
    pub mid_block: MidBlock,
    pub conv_norm_out: GroupNorm,
    pub conv_out: Conv2d,
}

impl VaeEncoder {
    pub fn new(c: &VaeConfig, device: &Device) -> Self {
        let ch = &c.block_out_channels;
        let g = c.norm_num_groups;
        let last = *ch.last().expect("config checked: at least one level");
        let down_blocks = (0..ch.len())
            .map(|i| {
                let c_in = if i == 0 { ch[0] } else { ch[i - 1] };
                DownBlock::new(c_in, ch[i], c.layers_per_block, g, i + 1 < ch.len(), device)
            })
            .collect();
        Self {
            conv_in: conv3x3(c.in_channels, ch[0], device),
            down_blocks,
            mid_block: MidBlock::new(last, g, c.mid_block_add_attention, device),
            conv_norm_out: group_norm(g, last, device),
            conv_out: conv3x3(last, 2 * c.latent_channels, device),
        }
    }

    pub fn load(&mut self, w: &Weights, prefix: &str) -> Result<(), LoadError> {
        w.conv2d(&mut self.conv_in, &format!("{prefix}.conv_in"))?;
        for (i, b) in self.down_blocks.iter_mut().enumerate() {
            b.load(w, &format!("{prefix}.down_blocks.{i}"))?;
        }
        self.mid_block.load(w, &format!("{prefix}.mid_block"))?;
        w.group_norm(&mut self.conv_norm_out, &format!("{prefix}.conv_norm_out"))?;
        w.conv2d(&mut self.conv_out, &format!("{prefix}.conv_out"))
    }

    /// `[B, 3, H, W]` -> `[B, 2C, H/f, W/f]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut h = self.conv_in.forward(x);
        for b in &self.down_blocks {
            h = b.forward(h);
        }
        let h = self.mid_block.forward(h);
        self.conv_out.forward(silu(self.conv_norm_out.forward(h)))
    }
}
