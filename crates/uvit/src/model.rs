//! The U-ViT backbone (Bao et al. 2023) with pluggable text fusion.
//!
//! ```text
//! image [B,C,H,W] --patch_embed--> [B,Np,D] + pos ┐
//! t [B] --sinusoid--> time token [B,1,D] + pos    ├─ image stream [B,Np+1,D]
//! text [B,Nt,Dc] --context_embed--> [B,Nt,D] + pos --text_blocks (c)--> text stream
//!
//! in-blocks (push skips) -> mid -> out-blocks (pop skips, skip_linear)
//!     each block: image-only, or joint (concat / cross-attention): see ifvit_fusion
//!
//! image tokens -> norm -> decoder_pred [B,Np,p*p*C] -> unpatchify -> 3x3 conv -> [B,C,H,W]
//! ```

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{LayerNorm, Linear, PaddingConfig2d};
use burn::tensor::{Device, Tensor};
use ifvit_fusion::init::{INIT_STD, layer_norm, linear, trunc_normal};
use ifvit_fusion::state::{PtState, StateDict, StateError, join, load_param};
use ifvit_fusion::{AttnKind, Block, BlockDims, Method, Plan, Role, Streams, TokenLayout};

use crate::config::{ConfigError, UViTConfig};
use crate::embed::{PatchEmbed, timestep_embedding, unpatchify};

/// The backbone. Field names are the PyTorch `state_dict` names.
#[derive(Module, Debug)]
pub struct UViT {
    pub patch_embed: PatchEmbed,
    pub context_embed: Linear,
    /// `[1, 1 + Nt + Np, D]`, rows in the strategy's [`TokenLayout`].
    pub pos_embed: Param<Tensor<3>>,
    pub text_blocks: Vec<Block>,
    pub in_blocks: Vec<Block>,
    pub mid_block: Block,
    pub out_blocks: Vec<Block>,
    pub norm: LayerNorm,
    pub decoder_pred: Linear,
    pub final_layer: Option<Conv2d>,
    #[module(skip)]
    config: UViTConfig,
    #[module(skip)]
    plan: Plan,
}

/// Row ranges `(start, len)` of the position embedding for each token group.
struct PosRows {
    time: usize,
    text: (usize, usize),
    image: (usize, usize),
}

fn pos_rows(cfg: &UViTConfig) -> PosRows {
    let (nt, np) = (cfg.num_text_tokens, cfg.num_patches());
    match cfg.fusion.token_layout() {
        TokenLayout::UViT => PosRows {
            time: 0,
            text: (1, nt),
            image: (1 + nt, np),
        },
        TokenLayout::ImageTimeText => PosRows {
            time: np,
            text: (np + 1, nt),
            image: (0, np),
        },
    }
}

fn block_kind(role: Role, method: Method) -> AttnKind {
    match (role, method) {
        (Role::Joint, Method::CrossAttn) => AttnKind::Cross,
        _ => AttnKind::SelfAttn,
    }
}

impl UViT {
    /// Builds a freshly initialised model (U-ViT init: trunc-normal 0.02 linears, zero
    /// biases, unit LayerNorms, trunc-normal 0.02 position embedding).
    pub fn new(config: &UViTConfig, device: &Device) -> Result<Self, ConfigError> {
        config.validate()?;
        let plan = config.fusion.plan(config.depth)?;
        let method = config.fusion.method();
        let d = config.embed_dim;
        let dims = BlockDims {
            dim: d,
            heads: config.num_heads,
            mlp_hidden: config.mlp_hidden(),
            qkv_bias: config.qkv_bias,
        };
        let blocks = |roles: &[Role], skip: bool| -> Vec<Block> {
            roles
                .iter()
                .map(|&r| Block::new(dims, block_kind(r, method), skip, device))
                .collect()
        };
        let text_blocks = (0..plan.text_blocks)
            .map(|_| Block::new(dims, AttnKind::SelfAttn, false, device))
            .collect();
        let c = config.in_chans;
        Ok(Self {
            patch_embed: PatchEmbed::new(c, d, config.patch_size, device),
            context_embed: linear(config.context_dim, d, true, device),
            pos_embed: trunc_normal([1, config.num_tokens(), d], INIT_STD, device),
            text_blocks,
            in_blocks: blocks(&plan.in_roles, false),
            mid_block: Block::new(dims, block_kind(plan.mid_role, method), false, device),
            out_blocks: blocks(&plan.out_roles, true),
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

    pub fn config(&self) -> &UViTConfig {
        &self.config
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
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
        let cfg = &self.config;
        let d = cfg.embed_dim;
        let rows = pos_rows(cfg);
        let pos = self.pos_embed.val(); // [1, T, D]

        let image = self.patch_embed.forward(x) + pos.clone().narrow(1, rows.image.0, rows.image.1); // [B, Np, D]
        let time =
            timestep_embedding(t, d).unsqueeze_dim::<3>(1) + pos.clone().narrow(1, rows.time, 1); // [B, 1, D]
        let mut text =
            self.context_embed.forward(context) + pos.narrow(1, rows.text.0, rows.text.1); // [B, Nt, D]
        for blk in &self.text_blocks {
            text = blk.forward(text, None, None);
        }

        let method = cfg.fusion.method();
        let mut s = Streams::new(Tensor::cat(vec![image, time], 1), text); // h: [B, Np+1, D]
        let mut skips = Vec::with_capacity(self.in_blocks.len());
        for (blk, &role) in self.in_blocks.iter().zip(&self.plan.in_roles) {
            s = s.run(blk, role, method, None);
            skips.push(s.h.clone());
        }
        s = s.run(&self.mid_block, self.plan.mid_role, method, None);
        for (blk, &role) in self.out_blocks.iter().zip(&self.plan.out_roles) {
            s = s.run(blk, role, method, skips.pop());
        }

        let np = cfg.num_patches();
        let h = s.into_image().narrow(1, 0, np); // [B, Np, D]: time token dropped
        let h = self.decoder_pred.forward(self.norm.forward(h)); // [B, Np, p*p*C]
        let img = unpatchify(h, cfg.in_chans); // [B, C, H, W]
        match &self.final_layer {
            Some(conv) => conv.forward(img),
            None => img,
        }
    }
}

impl PtState for UViT {
    /// Loads a PyTorch `state_dict` (U-ViT names; `text_blocks.N` for the text tower).
    fn load_state(mut self, sd: &mut StateDict, prefix: &str) -> Result<Self, StateError> {
        let p = |n: &str| join(prefix, n);
        self.patch_embed.proj = self
            .patch_embed
            .proj
            .load_state(sd, &p("patch_embed.proj"))?;
        self.context_embed = self.context_embed.load_state(sd, &p("context_embed"))?;
        self.pos_embed = load_param(self.pos_embed, sd, &p("pos_embed"))?;
        let load_all = |blocks: Vec<Block>, name: &str, sd: &mut StateDict| {
            blocks
                .into_iter()
                .enumerate()
                .map(|(i, b)| b.load_state(sd, &p(&format!("{name}.{i}"))))
                .collect::<Result<Vec<_>, _>>()
        };
        self.text_blocks = load_all(self.text_blocks, "text_blocks", sd)?;
        self.in_blocks = load_all(self.in_blocks, "in_blocks", sd)?;
        self.mid_block = self.mid_block.load_state(sd, &p("mid_block"))?;
        self.out_blocks = load_all(self.out_blocks, "out_blocks", sd)?;
        self.norm = self.norm.load_state(sd, &p("norm"))?;
        self.decoder_pred = self.decoder_pred.load_state(sd, &p("decoder_pred"))?;
        if let Some(conv) = self.final_layer.take() {
            self.final_layer = Some(conv.load_state(sd, &p("final_layer"))?);
        }
        Ok(self)
    }

    fn save_state(&self, sd: &mut StateDict, prefix: &str) {
        let p = |n: &str| join(prefix, n);
        self.patch_embed.proj.save_state(sd, &p("patch_embed.proj"));
        self.context_embed.save_state(sd, &p("context_embed"));
        sd.put(&p("pos_embed"), self.pos_embed.val());
        for (name, blocks) in [
            ("text_blocks", &self.text_blocks),
            ("in_blocks", &self.in_blocks),
            ("out_blocks", &self.out_blocks),
        ] {
            for (i, b) in blocks.iter().enumerate() {
                b.save_state(sd, &p(&format!("{name}.{i}")));
            }
        }
        self.mid_block.save_state(sd, &p("mid_block"));
        self.norm.save_state(sd, &p("norm"));
        self.decoder_pred.save_state(sd, &p("decoder_pred"));
        if let Some(conv) = &self.final_layer {
            conv.save_state(sd, &p("final_layer"));
        }
    }
}

impl UViT {
    /// Builds the model for `config` and loads a PyTorch-layout safetensors file into it
    /// (strict: every tensor must be present, shaped right, and used).
    pub fn from_safetensors(
        config: &UViTConfig,
        path: impl AsRef<std::path::Path>,
        device: &Device,
    ) -> Result<Self, LoadError> {
        let model = Self::new(config, device)?;
        let mut sd = StateDict::read_safetensors(path)?;
        let model = model.load_state(&mut sd, "")?;
        sd.finish()?;
        Ok(model)
    }

    /// Writes the parameters as a PyTorch-layout safetensors file (atomically).
    pub fn save_safetensors(&self, path: impl AsRef<std::path::Path>) -> Result<(), StateError> {
        let mut sd = StateDict::new(path.as_ref().display().to_string());
        self.save_state(&mut sd, "");
        sd.write_safetensors(path)
    }
}

/// Why a checkpoint could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    State(#[from] StateError),
}
