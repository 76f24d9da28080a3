//! A learned text encoder: tokenizer + token embedding table (`[L] ids -> [L, D]`).
//! Trainable with the diffusion model; also the stand-in text encoder of the cache tests.

use burn::module::{Module, Param};
use burn::nn::Embedding;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

use ifvit_data::tokenizer::{TextTokenizer, TokenizeError};

use crate::error::EncodeError;
use crate::text::{TextEncoder, TextFeatures, full_mask};

/// Token ids -> features. PyTorch equivalent: `nn.Embedding(vocab, dim)`.
#[derive(Module, Debug)]
pub struct TextEmbedding {
    pub embedding: Embedding,
}

impl TextEmbedding {
    /// Weights N(0, 1) (PyTorch's `nn.Embedding` default) drawn from `StdRng(seed)`, so the
    /// table does not depend on the device's global RNG.
    pub fn seeded(vocab: usize, dim: usize, seed: u64, device: &Device) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let w: Vec<f32> = (0..vocab * dim)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let weight = Tensor::<2>::from_data(TensorData::new(w, [vocab, dim]), device);
        Self {
            embedding: Embedding {
                weight: Param::from_tensor(weight),
            },
        }
    }

    /// `[B, L]` ids -> `[B, L, D]`.
    pub fn forward(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        self.embedding.forward(tokens)
    }

    pub fn dim(&self) -> usize {
        self.embedding.weight.dims()[1]
    }
}

/// Any [`TextTokenizer`] followed by a [`TextEmbedding`].
pub struct LearnedTextEncoder<T> {
    pub tokenizer: T,
    pub embed: TextEmbedding,
    seed: u64,
}

impl<T: TextTokenizer> LearnedTextEncoder<T> {
    /// A seeded embedding table sized to the tokenizer's vocabulary.
    pub fn seeded(tokenizer: T, dim: usize, seed: u64, device: &Device) -> Self {
        let embed = TextEmbedding::seeded(tokenizer.vocab_size(), dim, seed, device);
        Self {
            tokenizer,
            embed,
            seed,
        }
    }

    /// `captions` -> `[B, L]` token ids.
    pub fn tokens(
        &self,
        captions: &[&str],
        device: &Device,
    ) -> Result<Tensor<2, Int>, TokenizeError> {
        let l = self.tokenizer.context_length();
        let mut ids = Vec::with_capacity(captions.len() * l);
        for c in captions {
            ids.extend(self.tokenizer.encode(c)?.into_iter().map(|t| t as i64));
        }
        Ok(Tensor::from_data(
            TensorData::new(ids, [captions.len(), l]),
            device,
        ))
    }
}

impl<T: TextTokenizer> TextEncoder for LearnedTextEncoder<T> {
    fn name(&self) -> String {
        format!(
            "learned-embedding(vocab={}, dim={}, seed={})",
            self.tokenizer.vocab_size(),
            self.embed.dim(),
            self.seed
        )
    }

    fn context_length(&self) -> usize {
        self.tokenizer.context_length()
    }

    fn dim(&self) -> usize {
        self.embed.dim()
    }

    /// Every position is attended by the model, so the mask is all true.
    fn encode(&self, captions: &[&str], device: &Device) -> Result<TextFeatures, EncodeError> {
        let features = self.embed.forward(self.tokens(captions, device)?); // [B, L, D]
        let [b, l, _] = features.dims();
        Ok(TextFeatures {
            features,
            mask: full_mask(b, l, device),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ifvit_data::tokenizer::clip::{ClipPadding, ClipTokenizer, Overflow};

    #[test]
    fn rows_are_the_embedding_of_each_token() {
        let device = Device::flex();
        let tok =
            ClipTokenizer::with_options(4, ClipPadding::EndToken, Overflow::Truncate).unwrap();
        let enc = LearnedTextEncoder::seeded(tok, 3, 5, &device);
        let out = enc.encode(&["a cat", ""], &device).unwrap();
        assert_eq!(out.mask.dims(), [2, 4]);
        let f = out.features;
        assert_eq!(f.dims(), [2, 4, 3]);
        let f = f.into_data().try_to_vec::<f32>().unwrap();
        let w = enc
            .embed
            .embedding
            .weight
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let row = |id: usize| &w[id * 3..id * 3 + 3];
        // "a cat" = [start, 320, 2368, end]; "" = [start, end, end, end]
        assert_eq!(&f[0..3], row(49406));
        assert_eq!(&f[3..6], row(320));
        assert_eq!(&f[21..24], row(49407));
        // Same seed, same table; the empty caption is not zeros.
        let again = TextEmbedding::seeded(49408, 3, 5, &device)
            .embedding
            .weight
            .val();
        assert_eq!(again.into_data().try_to_vec::<f32>().unwrap(), w);
        assert!(f[12..15].iter().any(|v| *v != 0.0));
    }
}
