//! The BERT encoder (Hugging Face `BertModel` without the pooler), inference only.
//!
//! `embeddings`: word + absolute position + token type 0, LayerNorm. Each layer (post-norm):
//! `h = LN(x + Wo · softmax(q kᵀ / √d_h + mask) v)`, `out = LN(h + W2 · gelu(W1 h))`.

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{gelu, softmax};
use burn::tensor::{Bool, Device, Int, Tensor};

use super::config::BertConfig;
use crate::error::LoadError;
use crate::weights::Weights;

/// Additive score of a padding key (its softmax weight underflows to exactly 0).
const MASKED: f32 = -1.0e9;

#[derive(Module, Debug)]
pub struct BertEmbeddings {
    pub word: Embedding,
    pub position: Embedding,
    pub token_type: Embedding,
    pub norm: LayerNorm,
}

#[derive(Module, Debug)]
pub struct BertLayer {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub attn_out: Linear,
    pub attn_norm: LayerNorm,
    pub ff_in: Linear,
    pub ff_out: Linear,
    pub ff_norm: LayerNorm,
    pub num_heads: usize,
}

#[derive(Module, Debug)]
pub struct BertModel {
    pub embeddings: BertEmbeddings,
    pub layers: Vec<BertLayer>,
    pub max_positions: usize,
}

impl BertLayer {
    /// `x: [B, L, D]`, `bias: [B, 1, 1, L]` (0 or MASKED) -> `[B, L, D]`.
    fn forward(&self, x: Tensor<3>, bias: Tensor<4>) -> Tensor<3> {
        let [b, l, d] = x.dims();
        let h = self.num_heads;
        let dh = d / h;
        let heads = |t: Tensor<3>| t.reshape([b, l, h, dh]).swap_dims(1, 2); // [B, H, L, dh]
        let q = heads(self.query.forward(x.clone()));
        let k = heads(self.key.forward(x.clone()));
        let v = heads(self.value.forward(x.clone()));
        let scores = q.matmul(k.swap_dims(2, 3)) / (dh as f64).sqrt() + bias; // [B, H, L, L]
        let ctx = softmax(scores, 3).matmul(v); // [B, H, L, dh]
        let ctx = ctx.swap_dims(1, 2).reshape([b, l, d]);
        let x = self.attn_norm.forward(x + self.attn_out.forward(ctx));
        let ff = self.ff_out.forward(gelu(self.ff_in.forward(x.clone())));
        self.ff_norm.forward(x + ff)
    }
}

impl BertModel {
    /// Builds the encoder from `weights` (tensor names as in `BertModel.state_dict()`, with
    /// or without a `bert.` prefix), sizes from `config`.
    pub fn load(cfg: &BertConfig, w: &Weights, device: &Device) -> Result<Self, LoadError> {
        let p = if !w.contains("embeddings.word_embeddings.weight")
            && w.contains("bert.embeddings.word_embeddings.weight")
        {
            "bert."
        } else {
            ""
        };
        let (d, f, eps) = (cfg.hidden_size, cfg.intermediate_size, cfg.layer_norm_eps);
        // Layers sized by the config, then filled (shapes checked against the file).
        let embedding = |n: usize, name: &str| -> Result<Embedding, LoadError> {
            let mut e = EmbeddingConfig::new(n, d).init(device);
            w.embedding(&mut e, name)?;
            Ok(e)
        };
        let linear = |d_in: usize, d_out: usize, name: &str| -> Result<Linear, LoadError> {
            let mut l = LinearConfig::new(d_in, d_out).init(device);
            w.linear(&mut l, name)?;
            Ok(l)
        };
        let norm = |name: &str| -> Result<LayerNorm, LoadError> {
            let mut n = LayerNormConfig::new(d).with_epsilon(eps).init(device);
            w.layer_norm(&mut n, name)?;
            Ok(n)
        };
        let e = format!("{p}embeddings");
        let embeddings = BertEmbeddings {
            word: embedding(cfg.vocab_size, &format!("{e}.word_embeddings"))?,
            position: embedding(
                cfg.max_position_embeddings,
                &format!("{e}.position_embeddings"),
            )?,
            token_type: embedding(cfg.type_vocab_size, &format!("{e}.token_type_embeddings"))?,
            norm: norm(&format!("{e}.LayerNorm"))?,
        };
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| {
                let l = format!("{p}encoder.layer.{i}");
                Ok(BertLayer {
                    query: linear(d, d, &format!("{l}.attention.self.query"))?,
                    key: linear(d, d, &format!("{l}.attention.self.key"))?,
                    value: linear(d, d, &format!("{l}.attention.self.value"))?,
                    attn_out: linear(d, d, &format!("{l}.attention.output.dense"))?,
                    attn_norm: norm(&format!("{l}.attention.output.LayerNorm"))?,
                    ff_in: linear(d, f, &format!("{l}.intermediate.dense"))?,
                    ff_out: linear(f, d, &format!("{l}.output.dense"))?,
                    ff_norm: norm(&format!("{l}.output.LayerNorm"))?,
                    num_heads: cfg.num_attention_heads,
                })
            })
            .collect::<Result<Vec<_>, LoadError>>()?;
        Ok(Self {
            embeddings,
            layers,
            max_positions: cfg.max_position_embeddings,
        })
    }

    /// `ids: [B, L]`, `mask: [B, L]` (true at real tokens) -> last hidden state `[B, L, D]`.
    ///
    /// # Panics
    /// If `L` exceeds `max_position_embeddings` (the loader's tokenizer never produces that).
    pub fn forward(&self, ids: Tensor<2, Int>, mask: Tensor<2, Bool>) -> Tensor<3> {
        let [b, l] = ids.dims();
        assert!(
            l <= self.max_positions,
            "{l} tokens exceed the {} positions",
            self.max_positions
        );
        let device = ids.device();
        let positions = Tensor::<1, Int>::arange(0..l as i64, &device).reshape([1, l]);
        let types = Tensor::<2, Int>::zeros([1, l], &device);
        let e = &self.embeddings;
        let x = e.word.forward(ids) + e.position.forward(positions) + e.token_type.forward(types); // [B, L, D]
        let mut x = e.norm.forward(x);
        // [B, 1, 1, L]: 0 at real keys, MASKED at padding.
        let bias = Tensor::<2>::zeros([b, l], &device)
            .mask_fill(mask.bool_not(), MASKED)
            .reshape([b, 1, 1, l]);
        for layer in &self.layers {
            x = layer.forward(x, bias.clone());
        }
        x
    }
}
