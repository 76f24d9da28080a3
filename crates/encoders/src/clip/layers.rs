//! The pre-LN transformer both CLIP towers share (transformers `CLIPEncoder`):
//! `x += attn(ln1(x)); x += mlp(ln2(x))`.

use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{gelu, sigmoid, softmax};
use burn::tensor::{Bool, Device, Tensor};

use super::config::{ClipActivation, TowerConfig};
use crate::{LoadError, Weights};

pub(crate) fn layer_norm(d: usize, eps: f64, device: &Device) -> LayerNorm {
    LayerNormConfig::new(d).with_epsilon(eps).init(device)
}

/// Multi-head self-attention with biases on q, k, v and the output projection.
#[derive(Module, Debug)]
pub struct ClipAttention {
    pub q_proj: Linear,
    pub k_proj: Linear,
    pub v_proj: Linear,
    pub out_proj: Linear,
    pub heads: usize,
}

impl ClipAttention {
    pub fn new(d: usize, heads: usize, device: &Device) -> Self {
        let lin = || LinearConfig::new(d, d).init(device);
        Self {
            q_proj: lin(),
            k_proj: lin(),
            v_proj: lin(),
            out_proj: lin(),
            heads,
        }
    }

    pub fn load(&mut self, w: &Weights, prefix: &str) -> Result<(), LoadError> {
        w.linear(&mut self.q_proj, &format!("{prefix}.q_proj"))?;
        w.linear(&mut self.k_proj, &format!("{prefix}.k_proj"))?;
        w.linear(&mut self.v_proj, &format!("{prefix}.v_proj"))?;
        w.linear(&mut self.out_proj, &format!("{prefix}.out_proj"))
    }

    /// `[B, L, D]` -> `[B, L, D]`; `mask` `[L, L]` is true where a query may not look.
    pub fn forward(&self, x: Tensor<3>, mask: Option<Tensor<2, Bool>>) -> Tensor<3> {
        let [b, l, d] = x.dims();
        let (h, dh) = (self.heads, d / self.heads);
        let split = |t: Tensor<3>| t.reshape([b, l, h, dh]).swap_dims(1, 2); // [B, H, L, dh]
        let q = split(self.q_proj.forward(x.clone()) * (1.0 / (dh as f64).sqrt()));
        let k = split(self.k_proj.forward(x.clone()));
        let v = split(self.v_proj.forward(x));
        let mut scores = q.matmul(k.swap_dims(2, 3)); // [B, H, L, L]
        if let Some(m) = mask {
            let m = m.reshape([1, 1, l, l]).expand([b, h, l, l]);
            scores = scores.mask_fill(m, f32::NEG_INFINITY);
        }
        let out = softmax(scores, 3).matmul(v); // [B, H, L, dh]
        self.out_proj
            .forward(out.swap_dims(1, 2).reshape([b, l, d]))
    }
}

#[derive(Module, Debug)]
pub struct ClipMlp {
    pub fc1: Linear,
    pub fc2: Linear,
    /// true: quick GELU; false: exact GELU.
    pub quick_gelu: bool,
}

impl ClipMlp {
    /// `[B, L, D]` -> `[B, L, D]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let h = self.fc1.forward(x);
        let h = if self.quick_gelu {
            h.clone() * sigmoid(h * 1.702)
        } else {
            gelu(h)
        };
        self.fc2.forward(h)
    }
}

#[derive(Module, Debug)]
pub struct ClipEncoderLayer {
    pub layer_norm1: LayerNorm,
    pub self_attn: ClipAttention,
    pub layer_norm2: LayerNorm,
    pub mlp: ClipMlp,
}

/// `CLIPEncoder`: `num_hidden_layers` pre-LN blocks.
#[derive(Module, Debug)]
pub struct ClipEncoder {
    pub layers: Vec<ClipEncoderLayer>,
}

impl ClipEncoder {
    pub fn new(c: &TowerConfig, device: &Device) -> Self {
        let d = c.hidden_size;
        let layers = (0..c.num_hidden_layers)
            .map(|_| ClipEncoderLayer {
                layer_norm1: layer_norm(d, c.layer_norm_eps, device),
                self_attn: ClipAttention::new(d, c.num_attention_heads, device),
                layer_norm2: layer_norm(d, c.layer_norm_eps, device),
                mlp: ClipMlp {
                    fc1: LinearConfig::new(d, c.intermediate_size).init(device),
                    fc2: LinearConfig::new(c.intermediate_size, d).init(device),
                    quick_gelu: c.hidden_act == ClipActivation::QuickGelu,
                },
            })
            .collect();
        Self { layers }
    }

    pub fn load(&mut self, w: &Weights, prefix: &str) -> Result<(), LoadError> {
        for (i, layer) in self.layers.iter_mut().enumerate() {
            let p = format!("{prefix}.layers.{i}");
            w.layer_norm(&mut layer.layer_norm1, &format!("{p}.layer_norm1"))?;
            layer.self_attn.load(w, &format!("{p}.self_attn"))?;
            w.layer_norm(&mut layer.layer_norm2, &format!("{p}.layer_norm2"))?;
            w.linear(&mut layer.mlp.fc1, &format!("{p}.mlp.fc1"))?;
            w.linear(&mut layer.mlp.fc2, &format!("{p}.mlp.fc2"))?;
        }
        Ok(())
    }

    /// `[B, L, D]` -> `[B, L, D]`.
    pub fn forward(&self, mut x: Tensor<3>, mask: Option<Tensor<2, Bool>>) -> Tensor<3> {
        for layer in &self.layers {
            let a = layer
                .self_attn
                .forward(layer.layer_norm1.forward(x.clone()), mask.clone());
            x = x + a;
            x = x.clone() + layer.mlp.forward(layer.layer_norm2.forward(x));
        }
        x
    }
}
