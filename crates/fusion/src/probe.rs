//! Opt-in capture of a joint block's text-to-image attention, for analysis (`ifvit analyze
//! attention`, issue 10 item 5).
//!
//! The normal forward runs the fused attention kernel and never forms the probability
//! matrix. [`JointBlock::text_attention`](crate::JointBlock::text_attention) recomputes the
//! block's attention inputs from the same streams and forms the probabilities with plain
//! tensor ops ([`attention_probs`]); only the analysis path calls it, so training and
//! sampling are unchanged.
//!
//! What is captured, per strategy:
//!
//! | strategy | queries | keys of the softmax | text keys |
//! |---|---|---|---|
//! | concat | image(+time) rows of the joint sequence | `[image+time ; text]` | the tail |
//! | crossattn (released) | image(+time) | `[image+time ; text]` (one softmax) | the tail |
//! | pixart | image(+time), cross-attention sublayer | text only | all |
//! | mmdit | image(+time) rows of the joint sequence | `[image+time ; text]` | the tail |

use burn::nn::Linear;
use burn::tensor::Tensor;
use burn::tensor::activation::softmax;

use crate::attention::merge_heads;

/// The text-to-image part of one joint block's attention in one forward pass.
#[derive(Clone, Debug)]
pub struct TextAttention {
    /// `[batch, heads, n_image, n_keys]`: probabilities of the image(+time) queries over
    /// every key of the block's softmax; each row sums to 1. The time token is the last
    /// query row (`n_image - 1`).
    pub probs: Tensor<4>,
    /// Columns `(start, len)` of `probs` that are text keys.
    pub text_keys: (usize, usize),
    /// `[batch, n_image, dim]`: the text tokens' contribution to the image tokens' update,
    /// `proj.weight` applied to `sum over text keys of p * v` (the bias belongs to no key).
    pub text_update: Tensor<3>,
}

impl TextAttention {
    /// `[batch, heads, n_image, n_text]`: the image-query x text-key probabilities.
    pub fn text_probs(&self) -> Tensor<4> {
        let (start, len) = self.text_keys;
        self.probs.clone().narrow(3, start, len)
    }
}

/// `softmax(q k^T / sqrt(head_dim))`: `q: [B, H, Nq, hd]`, `k: [B, H, Nk, hd]` ->
/// `[B, H, Nq, Nk]`, with plain tensor ops (the same scale as the fused kernel).
pub fn attention_probs(q: Tensor<4>, k: Tensor<4>) -> Tensor<4> {
    let hd = q.dims()[3];
    let scores = q.matmul(k.swap_dims(2, 3)) * (hd as f64).powf(-0.5);
    softmax(scores, 3)
}

/// The capture from image queries `q: [B, H, Ni, hd]`, keys and values `k, v: [B, H, Nk, hd]`
/// of one softmax, the text key columns `text_keys` and the block's output projection.
pub fn text_attention(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    text_keys: (usize, usize),
    proj: &Linear,
) -> TextAttention {
    let probs = attention_probs(q, k); // [B, H, Ni, Nk]
    let (start, len) = text_keys;
    let pt = probs.clone().narrow(3, start, len); // [B, H, Ni, Nt]
    let vt = v.narrow(2, start, len); // [B, H, Nt, hd]
    let o = merge_heads(pt.matmul(vt)); // [B, Ni, D]
    let [b, ni, d] = o.dims();
    let w = proj.weight.val(); // [D, D_out]
    let d_out = w.dims()[1];
    let text_update = o.reshape([b * ni, d]).matmul(w).reshape([b, ni, d_out]);
    TextAttention {
        probs,
        text_keys,
        text_update,
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution};

    use super::*;
    use crate::attention::{sdpa, split_heads};
    use crate::block::{Block, BlockDims};
    use crate::init::norm;
    use crate::strategy::{FusionStrategy, JointBlock, JointSlot, Placement};
    use crate::stream::Streams;
    use crate::{Concat, CrossAttn, MmditJoint, PixArtCrossAttn};

    const DIMS: BlockDims = BlockDims {
        dim: 8,
        heads: 2,
        mlp_hidden: 16,
        qkv_bias: false,
    };
    const NI: usize = 5;
    const NT: usize = 3;

    fn streams(device: &Device) -> Streams {
        let r = |n| Tensor::<3>::random([2, n, DIMS.dim], Distribution::Normal(0.0, 1.0), device);
        Streams::new(r(NI), r(NT))
    }

    fn assert_rows_sum_to_one(a: &TextAttention) {
        let [b, h, ni, nk] = a.probs.dims();
        assert_eq!((b, h, ni), (2, DIMS.heads, NI));
        let p = a.probs.clone().into_data().try_to_vec::<f32>().unwrap();
        for row in p.chunks(nk) {
            let s: f32 = row.iter().sum();
            assert!((s - 1.0).abs() < 1e-5, "row sums to {s}");
            assert!(row.iter().all(|x| *x >= 0.0));
        }
        let mass = a.text_probs().sum().into_scalar::<f32>() / (b * h * ni) as f32;
        assert!(mass > 0.0 && mass < 1.0 + 1e-5, "text mass {mass}");
        assert_eq!(a.text_update.dims(), [2, NI, DIMS.dim]);
    }

    fn close(a: Tensor<3>, b: Tensor<3>) {
        let (a, b) = (
            a.into_data().try_to_vec::<f32>().unwrap(),
            b.into_data().try_to_vec::<f32>().unwrap(),
        );
        let m = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(m < 1e-5, "max difference {m}");
    }

    /// For concatenation, `probs @ V` through `proj` reproduces the block's own attention
    /// output (the fused kernel) on the image rows, and the text part is `text_update`.
    #[test]
    fn concat_probe_reproduces_the_fused_attention() {
        let device = Device::flex();
        let block = Concat(Placement::Early).joint_block(DIMS, JointSlot::default(), &device);
        let s = streams(&device);
        let a = block.text_attention(&s, None).unwrap();
        assert_rows_sum_to_one(&a);
        assert_eq!(a.text_keys, (NI, NT));
        let x = norm(&block.norm1, s.clone().joined().h); // [B, Ni+Nt, D]
        let reference = block.attn.forward(x.clone()).narrow(1, 0, NI); // [B, Ni, D]
        let qkv = split_heads(block.attn.qkv.forward(x), 3, DIMS.heads);
        let v = qkv[2].clone();
        let full = block
            .attn
            .proj
            .forward(merge_heads(a.probs.clone().matmul(v.clone())));
        close(full, reference);
        // Text part: the same product over the text keys, without the bias.
        let vt = v.clone().narrow(2, NI, NT);
        let o = merge_heads(a.text_probs().matmul(vt));
        let bias = block
            .attn
            .proj
            .bias
            .as_ref()
            .unwrap()
            .val()
            .unsqueeze::<3>();
        close(a.text_update.clone(), block.attn.proj.forward(o) - bias);
        // And the fused kernel agrees with the probabilities' product.
        let q = qkv[0].clone().narrow(2, 0, NI);
        let k = qkv[1].clone();
        let fused = merge_heads(sdpa(q, k, v.clone()));
        close(fused, merge_heads(a.probs.matmul(v)));
        let _ = Block::cost(DIMS, NI, false);
    }

    #[test]
    fn crossattn_probe_reproduces_the_fused_attention() {
        let device = Device::flex();
        let block = CrossAttn(Placement::Early).joint_block(DIMS, JointSlot::default(), &device);
        let s = streams(&device);
        let a = block.text_attention(&s, None).unwrap();
        assert_rows_sum_to_one(&a);
        assert_eq!(a.text_keys, (NI, NT));
        let q = norm(&block.norm1, s.h.clone());
        let kv = Tensor::cat(vec![q.clone(), norm(&block.norm1, s.text.clone())], 1);
        let reference = block.attn.forward(q, kv.clone());
        let v = split_heads(block.attn.kv.forward(kv), 2, DIMS.heads).remove(1);
        let full = block.attn.proj.forward(merge_heads(a.probs.matmul(v)));
        close(full, reference);
    }

    #[test]
    fn every_builtin_strategy_has_a_probe_with_rows_summing_to_one() {
        let device = Device::flex();
        let s = streams(&device);
        let slot = JointSlot {
            skip: true,
            last: false,
        };
        let skip = Some(streams(&device));
        let early = Placement::Early;
        let pixart = PixArtCrossAttn(early).joint_block(DIMS, slot, &device);
        let a = pixart.text_attention(&s, skip.as_ref()).unwrap();
        assert_rows_sum_to_one(&a);
        assert_eq!(a.text_keys, (0, NT));
        let mmdit = MmditJoint(early).joint_block(DIMS, slot, &device);
        let a = mmdit.text_attention(&s, skip.as_ref()).unwrap();
        assert_rows_sum_to_one(&a);
        assert_eq!(a.text_keys, (NI, NT));
        let concat = Concat(early).joint_block(DIMS, slot, &device);
        assert_rows_sum_to_one(&concat.text_attention(&s, skip.as_ref()).unwrap());
        // Through the serde face too.
        let f = crate::Fusion::EarlyMmditJoint.joint_block(DIMS, slot, &device);
        assert_rows_sum_to_one(&f.text_attention(&s, skip.as_ref()).unwrap());
    }
}
