//! The pre-LN transformer block of U-ViT, with either attention form.
//!
//! ```text
//! x = skip_linear(cat[x, skip])        (out-blocks of the U only)
//! x = x + Attn(LN1(x) [, LN1(text)])   (self- or joint-softmax cross-attention)
//! x = x + MLP(LN2(x))
//! ```

use burn::module::Module;
use burn::nn::{LayerNorm, Linear};
use burn::tensor::{Device, Tensor};

use crate::attention::{CrossAttention, SelfAttention};
use crate::init::{layer_norm, linear};
use crate::mlp::Mlp;
use crate::state::{PtState, StateDict, StateError, join};

/// How a block mixes tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttnKind {
    /// Self-attention over the block's own tokens.
    SelfAttn,
    /// Queries from the block's tokens, keys/values over `[tokens ; text]`.
    Cross,
}

/// The attention of a block (a Module enum: one variant per form).
#[derive(Module, Debug)]
pub enum Attn {
    SelfAttn(SelfAttention),
    Cross(CrossAttention),
}

/// Sizes of a block, all derived from the model config.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockDims {
    pub dim: usize,
    pub heads: usize,
    pub mlp_hidden: usize,
    pub qkv_bias: bool,
}

/// A U-ViT block. PyTorch names: `skip_linear`, `norm1`, `attn`, `norm2`, `mlp`.
#[derive(Module, Debug)]
pub struct Block {
    pub skip_linear: Option<Linear>,
    pub norm1: LayerNorm,
    pub attn: Attn,
    pub norm2: LayerNorm,
    pub mlp: Mlp,
}

impl Block {
    pub fn new(dims: BlockDims, kind: AttnKind, skip: bool, device: &Device) -> Self {
        let BlockDims {
            dim,
            heads,
            mlp_hidden,
            qkv_bias,
        } = dims;
        let attn = match kind {
            AttnKind::SelfAttn => Attn::SelfAttn(SelfAttention::new(dim, heads, qkv_bias, device)),
            AttnKind::Cross => Attn::Cross(CrossAttention::new(dim, heads, qkv_bias, device)),
        };
        Self {
            skip_linear: skip.then(|| linear(2 * dim, dim, true, device)),
            norm1: layer_norm(dim, device),
            attn,
            norm2: layer_norm(dim, device),
            mlp: Mlp::new(dim, mlp_hidden, device),
        }
    }

    pub fn kind(&self) -> AttnKind {
        match self.attn {
            Attn::SelfAttn(_) => AttnKind::SelfAttn,
            Attn::Cross(_) => AttnKind::Cross,
        }
    }

    /// `x: [batch, n, dim]`, `text: [batch, n_text, dim]` (cross blocks only),
    /// `skip: [batch, n, dim]` (blocks with a skip linear only) -> `[batch, n, dim]`.
    ///
    /// # Panics
    /// If `text`/`skip` presence does not match the block's construction: that is a
    /// wiring bug of the caller, never a user input.
    pub fn forward(
        &self,
        x: Tensor<3>,
        text: Option<Tensor<3>>,
        skip: Option<Tensor<3>>,
    ) -> Tensor<3> {
        let x = match (&self.skip_linear, skip) {
            (Some(l), Some(s)) => l.forward(Tensor::cat(vec![x, s], 2)),
            (None, None) => x,
            _ => panic!("block skip wiring: skip_linear and skip input must come together"),
        };
        let h = self.norm1.forward(x.clone());
        let a = match (&self.attn, text) {
            (Attn::SelfAttn(a), None) => a.forward(h),
            (Attn::Cross(a), Some(t)) => a.forward(h, self.norm1.forward(t)),
            (Attn::SelfAttn(_), Some(_)) => panic!("self-attention block given text tokens"),
            (Attn::Cross(_), None) => panic!("cross-attention block needs text tokens"),
        };
        let x = x + a;
        let h = self.mlp.forward(self.norm2.forward(x.clone()));
        x + h
    }
}

impl PtState for Block {
    fn load_state(mut self, sd: &mut StateDict, prefix: &str) -> Result<Self, StateError> {
        if let Some(l) = self.skip_linear.take() {
            self.skip_linear = Some(l.load_state(sd, &join(prefix, "skip_linear"))?);
        }
        self.norm1 = self.norm1.load_state(sd, &join(prefix, "norm1"))?;
        let p = join(prefix, "attn");
        self.attn = match self.attn {
            Attn::SelfAttn(mut a) => {
                a.qkv = a.qkv.load_state(sd, &join(&p, "qkv"))?;
                a.proj = a.proj.load_state(sd, &join(&p, "proj"))?;
                Attn::SelfAttn(a)
            }
            Attn::Cross(mut a) => {
                a.q = a.q.load_state(sd, &join(&p, "q"))?;
                a.kv = a.kv.load_state(sd, &join(&p, "kv"))?;
                a.proj = a.proj.load_state(sd, &join(&p, "proj"))?;
                Attn::Cross(a)
            }
        };
        self.norm2 = self.norm2.load_state(sd, &join(prefix, "norm2"))?;
        self.mlp.fc1 = self.mlp.fc1.load_state(sd, &join(prefix, "mlp.fc1"))?;
        self.mlp.fc2 = self.mlp.fc2.load_state(sd, &join(prefix, "mlp.fc2"))?;
        Ok(self)
    }

    fn save_state(&self, sd: &mut StateDict, prefix: &str) {
        if let Some(l) = &self.skip_linear {
            l.save_state(sd, &join(prefix, "skip_linear"));
        }
        self.norm1.save_state(sd, &join(prefix, "norm1"));
        let p = join(prefix, "attn");
        match &self.attn {
            Attn::SelfAttn(a) => {
                a.qkv.save_state(sd, &join(&p, "qkv"));
                a.proj.save_state(sd, &join(&p, "proj"));
            }
            Attn::Cross(a) => {
                a.q.save_state(sd, &join(&p, "q"));
                a.kv.save_state(sd, &join(&p, "kv"));
                a.proj.save_state(sd, &join(&p, "proj"));
            }
        }
        self.norm2.save_state(sd, &join(prefix, "norm2"));
        self.mlp.fc1.save_state(sd, &join(prefix, "mlp.fc1"));
        self.mlp.fc2.save_state(sd, &join(prefix, "mlp.fc2"));
    }
}
