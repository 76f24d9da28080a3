//! The VAE decoder: `C` latent channels -> image (after `post_quant_conv`).

use burn::module::Module;
use burn::nn::GroupNorm;
use burn::nn::conv::Conv2d;
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor};

use super::blocks::{MidBlock, UpBlock};
use super::config::VaeConfig;
use super::resnet::{conv3x3, group_norm};
use crate::error::LoadError;
use crate::weights::Weights;

#[derive(Module, Debug)]
pub struct VaeDecoder {
    pub conv_in: Conv2d,
    pub mid_block: MidBlock,
    /// Lowest resolution first (diffusers' order: channels of `block_out_channels` reversed).
    pub up_blocks: Vec<UpBlock>,
    pub conv_norm_out: GroupNorm,
    pub conv_out: Conv2d,
}

impl VaeDecoder {
    pub fn new(c: &VaeConfig, device: &Device) -> Self {
        let rev: Vec<usize> = c.block_out_channels.iter().rev().copied().collect();
        let g = c.norm_num_groups;
        let up_blocks = (0..rev.len())
            .map(|i| {
                let c_in = if i == 0 { rev[0] } else { rev[i - 1] };
                let last = i + 1 == rev.len();
                UpBlock::new(c_in, rev[i], c.layers_per_block + 1, g, !last, device)
            })
            .collect();
        let first = c.block_out_channels[0];
        Self {
            conv_in: conv3x3(c.latent_channels, rev[0], device),
            mid_block: MidBlock::new(rev[0], g, c.mid_block_add_attention, device),
            up_blocks,
            conv_norm_out: group_norm(g, first, device),
            conv_out: conv3x3(first, c.out_channels, device),
        }
    }

    pub fn load(&mut self, w: &Weights, prefix: &str) -> Result<(), LoadError> {
        w.conv2d(&mut self.conv_in, &format!("{prefix}.conv_in"))?;
        self.mid_block.load(w, &format!("{prefix}.mid_block"))?;
        for (i, b) in self.up_blocks.iter_mut().enumerate() {
            b.load(w, &format!("{prefix}.up_blocks.{i}"))?;
        }
        w.group_norm(&mut self.conv_norm_out, &format!("{prefix}.conv_norm_out"))?;
        w.conv2d(&mut self.conv_out, &format!("{prefix}.conv_out"))
    }

    /// `[B, C, h, w]` -> `[B, 3, h f, w f]` (not clamped).
    pub fn forward(&self, z: Tensor<4>) -> Tensor<4> {
        let h = self.mid_block.forward(self.conv_in.forward(z));
        let mut h = h;
        for b in &self.up_blocks {
            h = b.forward(h);
        }
        self.conv_out.forward(silu(self.conv_norm_out.forward(h)))
    }
}
