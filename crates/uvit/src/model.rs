//! The U-ViT backbone (Bao et al. 2023), generic over the fusion strategy.
//!
//! ```text
//! image [B,C,H,W] --patch_embed--> [B,Np,D] + pos ┐
//! t [B] --sinusoid--> time token [B,1,D] + pos    ├─ image stream [B,Np+1,D]
//! text [B,Nt,Dc] --context_embed--> [B,Nt,D] + pos --text_blocks (c)--> text stream
//!
//! in-blocks (push skips) -> mid -> out-blocks (pop skips, skip_linear)
//!     each block: image-only (U-ViT block), or joint (the strategy's block)
//!
//! image tokens -> norm -> decoder_pred [B,Np,p*p*C] -> unpatchify -> 3x3 conv -> [B,C,H,W]
//! ```

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{LayerNorm, Linear, PaddingConfig2d};
use burn::tensor::{Device, Tensor};
use ifvit_fusion::init::{INIT_STD, layer_norm, lin, linear, norm, trunc_normal};
use ifvit_fusion::{
    Block, Fusion, FusionStrategy, JointBlock, JointSlot, Plan, Role, Streams, TextAttention,
};

use crate::config::{ConfigError, UViTConfig};
use crate::embed::{PatchEmbed, timestep_embedding, unpatchify};
use crate::layout::TokenLayout;

/// A block of the U: image-only (a U-ViT block on the image stream) or joint (the strategy's
/// block over both streams). Checkpoint names do not include the variant.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum UBlock<J: JointBlock> {
    Image(Block),
    Joint(J),
}

impl<J: JointBlock> UBlock<J> {
    /// Runs the block; `skip` is the matching in-block's streams for out-blocks.
    pub fn forward(&self, s: Streams, skip: Option<Streams>) -> Streams {
        match self {
            UBlock::Image(b) => {
                let mut s = s.image_only();
                s.h = b.forward(s.h, skip.map(Streams::into_image));
                s
            }
            UBlock::Joint(j) => j.forward(s, skip),
        }
    }
}

/// One block's text-to-image attention, from [`UViT::forward_with_attention`].
#[derive(Clone, Debug)]
pub struct BlockProbe {
    /// Position in execution order: in-blocks, mid, out-blocks (text-only blocks not counted).
    pub index: usize,
    pub role: Role,
    /// `None` for image-only blocks and for joint blocks of a strategy without a probe.
    pub attention: Option<TextAttention>,
}

impl BlockProbe {
    fn of<J: JointBlock>(
        index: usize,
        blk: &UBlock<J>,
        s: &Streams,
        skip: Option<&Streams>,
    ) -> Self {
        let (role, attention) = match blk {
            UBlock::Image(_) => (Role::ImageOnly, None),
            UBlock::Joint(j) => (Role::Joint, j.text_attention(s, skip)),
        };
        Self {
            index,
            role,
            attention,
        }
    }
}

/// The backbone. Field names are the PyTorch `state_dict` names.
#[derive(Module, Debug)]
pub struct UViT<S: FusionStrategy = Fusion> {
    pub patch_embed: PatchEmbed,
    pub context_embed: Linear,
    /// `[1, 1 + Nt + Np, D]`, rows in the strategy's token order ([`TokenLayout`]).
    pub pos_embed: Param<Tensor<3>>,
    pub text_blocks: Vec<Block>,
    pub in_blocks: Vec<UBlock<S::Block>>,
    pub mid_block: UBlock<S::Block>,
    pub out_blocks: Vec<UBlock<S::Block>>,
    pub norm: LayerNorm,
    pub decoder_pred: Linear,
    pub final_layer: Option<Conv2d>,
    #[module(skip)]
    config: UViTConfig<S>,
    #[module(skip)]
    plan: Plan,
}

impl<S: FusionStrategy> UViT<S> {
    /// Builds a freshly initialised model (U-ViT init: trunc-normal 0.02 linears, zero
    /// biases, unit LayerNorms, trunc-normal 0.02 position embedding). Parameters are drawn
    /// lazily: building a model only to count or load its parameters is instant.
    pub fn new(config: &UViTConfig<S>, device: &Device) -> Result<Self, ConfigError> {
        config.validate()?;
        let plan = config.fusion.plan(config.depth)?;
        let dims = config.block_dims();
        let last = plan.last_joint();
        // `i`: index in execution order (in-blocks, mid, out-blocks).
        let block = |i: usize, role: Role, skip: bool| match role {
            Role::ImageOnly => UBlock::Image(Block::new(dims, skip, device)),
            Role::Joint => {
                let slot = JointSlot {
                    skip,
                    last: Some(i) == last,
                };
                UBlock::Joint(config.fusion.joint_block(dims, slot, device))
            }
        };
        let n_in = plan.in_roles.len();
        let (d, c) = (config.embed_dim, config.in_chans);
        Ok(Self {
            patch_embed: PatchEmbed::new(c, d, config.patch_size, device),
            context_embed: linear(config.context_dim, d, true, device),
            pos_embed: trunc_normal([1, config.num_tokens(), d], INIT_STD, device),
            text_blocks: (0..plan.text_blocks)
                .map(|_| Block::new(dims, false, device))
                .collect(),
            in_blocks: (plan.in_roles.iter().enumerate())
                .map(|(i, &r)| block(i, r, false))
                .collect(),
            mid_block: block(n_in, plan.mid_role, false),
            out_blocks: (plan.out_roles.iter().enumerate())
                .map(|(i, &r)| block(n_in + 1 + i, r, true))
                .collect(),
            norm: layer_norm(d, device),
            decoder_pred: linear(d, config.patch_dim(), true, device),
            final_layer: config.conv_head.then(|| {
                Conv2dConfig::new([c, c], [3, 3])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(device)
            }),
            config: config.clone(),
            plan,
        })
    }

    pub fn config(&self) -> &UViTConfig<S> {
        &self.config
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Rows of the position embedding for each token group.
    pub fn token_layout(&self) -> TokenLayout {
        let cfg = &self.config;
        TokenLayout::new(
            cfg.fusion.token_order(),
            cfg.num_patches(),
            cfg.num_text_tokens,
        )
    }

    /// Predicts the network target (epsilon, x0 or v: the model does not know).
    ///
    /// * `x`: `[batch, in_chans, img, img]` noisy input
    /// * `t`: `[batch]` model time (integer step `n` in 0..1000, or `1000 t` for
    ///   continuous-time samplers)
    /// * `context`: `[batch, num_text_tokens, context_dim]` text features
    ///
    /// Returns `[batch, in_chans, img, img]`.
    pub fn forward(&self, x: Tensor<4>, t: Tensor<1>, context: Tensor<3>) -> Tensor<4> {
        self.run(x, t, context, None)
    }

    /// [`UViT::forward`], also capturing every block's text-to-image attention (analysis
    /// only: the probes recompute each joint block's attention with plain tensor ops).
    /// Returns the prediction and one [`BlockProbe`] per block in execution order (in-blocks,
    /// mid, out-blocks; text-only blocks not counted).
    pub fn forward_with_attention(
        &self,
        x: Tensor<4>,
        t: Tensor<1>,
        context: Tensor<3>,
    ) -> (Tensor<4>, Vec<BlockProbe>) {
        let mut probes = Vec::new();
        let out = self.run(x, t, context, Some(&mut probes));
        (out, probes)
    }

    /// The forward pass; `probes`: where to record each block's attention (analysis).
    fn run(
        &self,
        x: Tensor<4>,
        t: Tensor<1>,
        context: Tensor<3>,
        mut probes: Option<&mut Vec<BlockProbe>>,
    ) -> Tensor<4> {
        let cfg = &self.config;
        let rows = self.token_layout();
        let pos = self.pos_embed.val(); // [1, T, D]
        let pos_rows = |(start, len): (usize, usize)| pos.clone().narrow(1, start, len);

        let image = self.patch_embed.forward(x) + pos_rows(rows.image); // [B, Np, D]
        let time = timestep_embedding(t, cfg.embed_dim).unsqueeze_dim::<3>(1) + pos_rows(rows.time); // [B, 1, D]
        let mut text = lin(&self.context_embed, context) + pos_rows(rows.text); // [B, Nt, D]
        for blk in &self.text_blocks {
            text = blk.forward(text, None);
        }

        let mut s = Streams::new(Tensor::cat(vec![image, time], 1), text); // h: [B, Np+1, D]
        let mut skips = Vec::with_capacity(self.in_blocks.len());
        let mut record = |blk: &UBlock<S::Block>, s: &Streams, skip: Option<&Streams>| {
            if let Some(p) = probes.as_deref_mut() {
                p.push(BlockProbe::of(p.len(), blk, s, skip));
            }
        };
        for blk in &self.in_blocks {
            record(blk, &s, None);
            s = blk.forward(s, None);
            skips.push(s.clone());
        }
        record(&self.mid_block, &s, None);
        s = self.mid_block.forward(s, None);
        for blk in &self.out_blocks {
            let skip = skips.pop();
            record(blk, &s, skip.as_ref());
            s = blk.forward(s, skip);
        }

        let np = cfg.num_patches();
        let h = s.into_image().narrow(1, 0, np); // [B, Np, D]: time token dropped
        let h = lin(&self.decoder_pred, norm(&self.norm, h)); // [B, Np, p*p*C]
        let img = unpatchify(h, cfg.in_chans); // [B, C, H, W]
        match &self.final_layer {
            Some(conv) => conv.forward(img),
            None => img,
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;

    use super::*;

    /// The probed forward returns the plain forward's prediction and one probe per block,
    /// with attention exactly for the joint blocks.
    #[test]
    fn forward_with_attention_matches_forward_and_probes_joint_blocks() {
        let device = Device::flex();
        let fusion = Fusion::IntermediateConcat { c: 1, v: 1 };
        let mut cfg = UViTConfig::preset("uvit-tiny", fusion).unwrap();
        (cfg.embed_dim, cfg.depth, cfg.mlp_ratio) = (16, 4, 2.0);
        let model = UViT::new(&cfg, &device).unwrap();
        let x = Tensor::<4>::random([1, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
        let t = Tensor::<1>::from_floats([500.0], &device);
        let (nt, dc) = (cfg.num_text_tokens, cfg.context_dim);
        let c = Tensor::<3>::random([1, nt, dc], Distribution::Normal(0.0, 1.0), &device);
        let plain = model.forward(x.clone(), t.clone(), c.clone());
        let (probed, probes) = model.forward_with_attention(x, t, c);
        let d = (plain - probed).abs().max().into_scalar::<f32>();
        assert!(d < 1e-6, "{d}");
        let roles: Vec<Role> = probes.iter().map(|p| p.role).collect();
        assert_eq!(roles, model.plan().roles().collect::<Vec<_>>());
        for p in &probes {
            assert_eq!(p.attention.is_some(), p.role == Role::Joint);
        }
        let a = probes[2].attention.as_ref().unwrap();
        assert_eq!(a.text_keys, (cfg.num_patches() + 1, nt));
    }
}
