//! CLIP's text tower (transformers `CLIPTextTransformer` + `text_projection`): token and
//! position embeddings, causal pre-LN encoder, final LayerNorm -> `last_hidden_state`; the
//! sentence embedding is the end token's row, projected.

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, Linear, LinearConfig};
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use super::config::{ClipConfig, ClipTextConfig};
use super::layers::{ClipEncoder, layer_norm};
use crate::{LoadError, Weights};

/// The legacy `eos_token_id` of the OpenAI configs, which means "pool at argmax(ids)".
pub const LEGACY_EOS_TOKEN_ID: u32 = 2;

#[derive(Module, Debug)]
pub struct ClipTextModel {
    pub token_embedding: Embedding,
    pub position_embedding: Embedding,
    pub encoder: ClipEncoder,
    pub final_layer_norm: LayerNorm,
    /// `[D] -> [P]`, no bias.
    pub text_projection: Linear,
    /// See [`ClipTextConfig::eos_token_id`].
    pub eos_token_id: usize,
}

/// Output of the text tower.
pub struct ClipTextOutput {
    /// `[B, L, D]` after the final LayerNorm (what U-ViT conditions on).
    pub last_hidden_state: Tensor<3>,
    /// `[B, D]`: the row of the pooling token.
    pub pooled: Tensor<2>,
    /// `[B, P]`: `text_projection(pooled)`.
    pub text_embeds: Tensor<2>,
}

impl ClipTextModel {
    pub fn new(c: &ClipConfig, device: &Device) -> Self {
        let t: &ClipTextConfig = &c.text;
        let d = t.tower.hidden_size;
        Self {
            token_embedding: EmbeddingConfig::new(t.vocab_size, d).init(device),
            position_embedding: EmbeddingConfig::new(t.max_position_embeddings, d).init(device),
            encoder: ClipEncoder::new(&t.tower, device),
            final_layer_norm: layer_norm(d, t.tower.layer_norm_eps, device),
            text_projection: LinearConfig::new(d, c.projection_dim)
                .with_bias(false)
                .init(device),
            eos_token_id: t.eos_token_id as usize,
        }
    }

    /// Names of a transformers `CLIPModel` file (`text_model.*`, `text_projection.weight`).
    pub fn load(&mut self, w: &Weights) -> Result<(), LoadError> {
        let p = "text_model";
        w.embedding(
            &mut self.token_embedding,
            &format!("{p}.embeddings.token_embedding"),
        )?;
        w.embedding(
            &mut self.position_embedding,
            &format!("{p}.embeddings.position_embedding"),
        )?;
        self.encoder.load(w, &format!("{p}.encoder"))?;
        w.layer_norm(&mut self.final_layer_norm, &format!("{p}.final_layer_norm"))?;
        w.linear(&mut self.text_projection, "text_projection")
    }

    /// Context length (77).
    pub fn context_length(&self) -> usize {
        self.position_embedding.weight.lazy_shape().dims::<2>()[0]
    }

    pub fn vocab_size(&self) -> usize {
        self.token_embedding.weight.lazy_shape().dims::<2>()[0]
    }

    pub fn dim(&self) -> usize {
        self.token_embedding.weight.lazy_shape().dims::<2>()[1]
    }

    /// `ids`: `batch` rows of `L <= context_length` token ids (row-major).
    ///
    /// # Panics
    /// If an id is outside the vocabulary or `L` exceeds the context (callers tokenize to
    /// the model's context; [`super::ClipTextEncoder`] checks the vocabulary once).
    pub fn forward(&self, ids: &[u32], batch: usize, device: &Device) -> ClipTextOutput {
        let l = ids.len() / batch;
        assert_eq!(l * batch, ids.len(), "ids must hold `batch` equal rows");
        assert!(
            l <= self.context_length(),
            "{l} tokens > context {}",
            self.context_length()
        );
        let vocab = self.vocab_size();
        assert!(
            ids.iter().all(|&i| (i as usize) < vocab),
            "token id outside the vocabulary of {vocab}"
        );
        let tokens = Tensor::<2, Int>::from_data(
            TensorData::new(ids.iter().map(|&i| i as i64).collect(), [batch, l]),
            device,
        );
        let positions = Tensor::<1, Int>::arange(0..l as i64, device).reshape([1, l]);
        let x = self.token_embedding.forward(tokens) + self.position_embedding.forward(positions); // [B, L, D]
        let causal = Tensor::<2, Bool>::tril_mask([l, l], 0, device); // true above the diagonal
        let h = self
            .final_layer_norm
            .forward(self.encoder.forward(x, Some(causal)));
        let d = self.dim();
        let rows: Vec<i64> = ids
            .chunks(l)
            .enumerate()
            .map(|(b, row)| (b * l + pool_index(row, self.eos_token_id as u32)) as i64)
            .collect();
        let pooled = h.clone().reshape([batch * l, d]).select(
            0,
            Tensor::<1, Int>::from_data(TensorData::new(rows, [batch]), device),
        ); // [B, D]
        ClipTextOutput {
            last_hidden_state: h,
            text_embeds: self.text_projection.forward(pooled.clone()),
            pooled,
        }
    }
}

/// Which token's hidden state is the sentence embedding: transformers' rule. With the legacy
/// `eos_token_id` 2, the first maximum of the ids (the end token has the largest id); otherwise
/// the first occurrence of `eos_token_id` (position 0 if absent, as transformers' argmax).
pub fn pool_index(row: &[u32], eos_token_id: u32) -> usize {
    if eos_token_id == LEGACY_EOS_TOKEN_ID {
        let mut best = 0;
        for (i, &id) in row.iter().enumerate() {
            if id > row[best] {
                best = i;
            }
        }
        best
    } else {
        row.iter().position(|&id| id == eos_token_id).unwrap_or(0) // argmax of an all-false comparison
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_follows_transformers() {
        // start, a, cat, end, end(pad)...: the first end token.
        let row = [49406, 320, 2368, 49407, 49407, 49407];
        assert_eq!(pool_index(&row, 2), 3);
        assert_eq!(pool_index(&row, 49407), 3);
        // open_clip zero padding: same position.
        assert_eq!(pool_index(&[49406, 320, 49407, 0, 0], 2), 2);
        // A non-legacy eos id that is not the maximum.
        assert_eq!(pool_index(&[5, 9, 7, 1, 1], 7), 2);
        assert_eq!(pool_index(&[5, 9, 7, 1, 1], 2), 1);
    }
}
