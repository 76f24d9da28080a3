//! SD3's MMDiT joint attention (Esser et al. 2024), without its adaLN modulation (the U-ViT
//! carries time as a token instead) and without QK-normalisation.
//!
//! Text and image tokens keep separate LayerNorms, qkv/proj and MLP weights and meet in one
//! softmax over `[image ; text]`; both streams are updated. In out-blocks of the U each
//! stream has its own skip linear over the matching in-block's stream. The last joint block
//! of the U has no text output (SD3's `context_pre_only`: no `proj_context`,
//! `norm2_context`, `mlp_context`), since nothing reads it.
//!
//! ```text
//! x = skip_linear(cat[x, skip.x]);  c = skip_linear_context(cat[c, skip.c])  (out-blocks)
//! [q k v]_x = attn.qkv(LN1(x));     [q k v]_c = attn.qkv_context(LN1_context(c))
//! o = softmax([q_x ; q_c] [k_x ; k_c]^T / sqrt(hd)) [v_x ; v_c]
//! x = x + attn.proj(o_x);           c = c + attn.proj_context(o_c)      (not in the last)
//! x = x + MLP(LN2(x));              c = c + MLP_context(LN2_context(c)) (not in the last)
//! ```

use burn::module::Module;
use burn::nn::{LayerNorm, Linear};
use burn::tensor::{Device, Tensor};

use crate::attention::{merge_heads, sdpa, split_heads};
use crate::block::{BlockDims, apply_skip};
use crate::init::{layer_norm, lin, linear, norm};
use crate::mlp::Mlp;
use crate::probe::{TextAttention, text_attention};
use crate::strategy::{FusionStrategy, JointBlock, JointCost, JointSlot, Placement};
use crate::stream::Streams;

/// MMDiT joint attention, early or intermediate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MmditJoint(pub Placement);

crate::constant_module!(MmditJoint);

/// The two-stream attention of MMDiT. PyTorch names: `qkv`, `proj`, `qkv_context`,
/// `proj_context` (absent in the last joint block).
#[derive(Module, Debug)]
pub struct JointAttention {
    pub qkv: Linear,
    pub proj: Linear,
    pub qkv_context: Linear,
    pub proj_context: Option<Linear>,
    pub heads: usize,
}

/// Joint block of [`MmditJoint`]. PyTorch names: `skip_linear`, `skip_linear_context`,
/// `norm1`, `norm1_context`, `attn`, `norm2`, `norm2_context`, `mlp`, `mlp_context`.
#[derive(Module, Debug)]
pub struct MmditBlock {
    pub skip_linear: Option<Linear>,
    pub skip_linear_context: Option<Linear>,
    pub norm1: LayerNorm,
    pub norm1_context: LayerNorm,
    pub attn: JointAttention,
    pub norm2: LayerNorm,
    pub norm2_context: Option<LayerNorm>,
    pub mlp: Mlp,
    pub mlp_context: Option<Mlp>,
}

impl FusionStrategy for MmditJoint {
    type Block = MmditBlock;

    fn name(&self) -> String {
        self.0.name("mmdit-joint")
    }

    fn placement(&self) -> Placement {
        self.0
    }

    fn joint_block(&self, dims: BlockDims, slot: JointSlot, device: &Device) -> MmditBlock {
        let (d, bias) = (dims.dim, dims.qkv_bias);
        let text_out = !slot.last;
        MmditBlock {
            skip_linear: slot.skip.then(|| linear(2 * d, d, true, device)),
            skip_linear_context: slot.skip.then(|| linear(2 * d, d, true, device)),
            norm1: layer_norm(d, device),
            norm1_context: layer_norm(d, device),
            attn: JointAttention {
                qkv: linear(d, 3 * d, bias, device),
                proj: linear(d, d, true, device),
                qkv_context: linear(d, 3 * d, bias, device),
                proj_context: text_out.then(|| linear(d, d, true, device)),
                heads: dims.heads,
            },
            norm2: layer_norm(d, device),
            norm2_context: text_out.then(|| layer_norm(d, device)),
            mlp: Mlp::new(d, dims.mlp_hidden, device),
            mlp_context: text_out.then(|| Mlp::new(d, dims.mlp_hidden, device)),
        }
    }

    fn joint_cost(
        &self,
        dims: BlockDims,
        n_image: usize,
        n_text: usize,
        slot: JointSlot,
    ) -> JointCost {
        let (ni, nt, d) = (n_image as u64, n_text as u64, dims.dim as u64);
        let n = ni + nt;
        let skip_macs = if slot.skip { dims.skip_macs() } else { 0 };
        let skip_params = if slot.skip { dims.skip_params() } else { 0 };
        // Per stream: qkv 3D^2 (+ skip); proj D^2 and MLP unless it is the last block's text.
        let image_macs = ni * (4 * d * d + dims.mlp_macs() + skip_macs);
        let text_out = if slot.last {
            0
        } else {
            d * d + dims.mlp_macs()
        };
        let text_macs = nt * (3 * d * d + skip_macs + text_out);
        let image_params = 2 * dims.norm_params() + dims.attn_params() + dims.mlp_params();
        let qkv_params = 3 * d * d + if dims.qkv_bias { 3 * d } else { 0 };
        let text_params = dims.norm_params()
            + qkv_params
            + if slot.last {
                0
            } else {
                dims.norm_params() + d * d + d + dims.mlp_params()
            };
        JointCost {
            label: "joint-mmdit",
            tokens: n_image + n_text,
            kv_tokens: n_image + n_text,
            linear_macs: image_macs + text_macs,
            attn_macs: 2 * n * n * d,
            params: image_params + text_params + 2 * skip_params,
        }
    }
}

impl JointBlock for MmditBlock {
    fn forward(&self, s: Streams, skip: Option<Streams>) -> Streams {
        let mut s = s.split();
        let (skip_x, skip_c) = match skip.map(Streams::split) {
            Some(k) => (Some(k.h), Some(k.text)),
            None => (None, None),
        };
        let x = apply_skip(&self.skip_linear, s.h, skip_x); // [B, Ni, D]
        let c = apply_skip(&self.skip_linear_context, s.text, skip_c); // [B, Nt, D]
        let (ox, oc) = self.attn.forward(
            norm(&self.norm1, x.clone()),
            norm(&self.norm1_context, c.clone()),
        );
        let x = x + ox;
        s.h = x.clone() + self.mlp.forward(norm(&self.norm2, x));
        s.text = match (oc, &self.norm2_context, &self.mlp_context) {
            (Some(oc), Some(norm_c), Some(mlp)) => {
                let c = c + oc;
                c.clone() + mlp.forward(norm(norm_c, c))
            }
            _ => c, // last joint block: the text stream ends here
        };
        s
    }

    /// Image(+time) query rows of the one softmax over `[image ; text]`.
    fn text_attention(&self, s: &Streams, skip: Option<&Streams>) -> Option<TextAttention> {
        let s = s.clone().split();
        let (skip_x, skip_c) = match skip.map(|k| k.clone().split()) {
            Some(k) => (Some(k.h), Some(k.text)),
            None => (None, None),
        };
        let x = apply_skip(&self.skip_linear, s.h, skip_x); // [B, Ni, D]
        let c = apply_skip(&self.skip_linear_context, s.text, skip_c); // [B, Nt, D]
        let (ni, nt) = (x.dims()[1], c.dims()[1]);
        let heads = self.attn.heads;
        let qx = split_heads(self.attn.qkv.forward(norm(&self.norm1, x)), 3, heads);
        let qc = split_heads(
            self.attn.qkv_context.forward(norm(&self.norm1_context, c)),
            3,
            heads,
        );
        let mut kv = qx
            .iter()
            .zip(&qc)
            .skip(1)
            .map(|(a, b)| Tensor::cat(vec![a.clone(), b.clone()], 2));
        let (k, v) = (kv.next()?, kv.next()?); // [B, H, Ni + Nt, hd]
        Some(text_attention(
            qx[0].clone(),
            k,
            v,
            (ni, nt),
            &self.attn.proj,
        ))
    }
}

impl JointAttention {
    /// `x: [batch, n_x, dim]`, `c: [batch, n_c, dim]` (both normalised)
    /// -> `([batch, n_x, dim], Some([batch, n_c, dim]))`: one softmax over `[x ; c]`; no
    /// text output without `proj_context`.
    pub fn forward(&self, x: Tensor<3>, c: Tensor<3>) -> (Tensor<3>, Option<Tensor<3>>) {
        let (nx, nc) = (x.dims()[1], c.dims()[1]);
        let qx = split_heads(lin(&self.qkv, x), 3, self.heads);
        let qc = split_heads(lin(&self.qkv_context, c), 3, self.heads);
        // [B, H, Nx + Nc, hd] for each of q, k, v.
        let mut qkv = qx
            .into_iter()
            .zip(qc)
            .map(|(a, b)| Tensor::cat(vec![a, b], 2));
        let (q, k, v) = (
            qkv.next().unwrap(),
            qkv.next().unwrap(),
            qkv.next().unwrap(),
        );
        let o = merge_heads(sdpa(q, k, v)); // [B, Nx + Nc, D]
        let oc = self
            .proj_context
            .as_ref()
            .map(|p| lin(p, o.clone().narrow(1, nx, nc)));
        (lin(&self.proj, o.narrow(1, 0, nx)), oc)
    }
}
