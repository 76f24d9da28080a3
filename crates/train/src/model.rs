//! The trainable text-to-image model: a text encoder feeding the U-ViT.
//!
//! The text side is either a learned word embedding (the built-in `shapes` data, trained
//! jointly) or nothing (precomputed text features, e.g. CLIP from a feature cache).

use std::sync::Mutex;

use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::{Embedding, EmbeddingConfig, Initializer};
use burn::tensor::{Device, Int, Tensor};
use ifvit_fusion::{Fusion, FusionStrategy};
use ifvit_uvit::{UViT, UViTConfig};

/// A learned word embedding: token ids `[B, L]` -> context `[B, L, context_dim]`.
/// Positions come from the U-ViT's own position embedding of the text tokens.
#[derive(Module, Debug)]
pub struct LearnedText {
    pub embed: Embedding,
}

/// Text encoder + U-ViT backbone, over any fusion strategy `S` (the built-in [`Fusion`]
/// unless a library user brings their own [`FusionStrategy`]).
#[derive(Module, Debug)]
pub struct TextToImage<S: FusionStrategy = Fusion> {
    pub text: Option<LearnedText>,
    pub uvit: UViT<S>,
}

impl<S: FusionStrategy> TextToImage<S> {
    /// `vocab`: `Some(n)` for a learned word embedding of `n` ids, `None` when the context is
    /// given as features.
    pub fn new(
        config: &UViTConfig<S>,
        vocab: Option<usize>,
        device: &Device,
    ) -> Result<Self, ifvit_uvit::ConfigError> {
        let text = vocab.map(|n| LearnedText {
            embed: EmbeddingConfig::new(n, config.context_dim)
                // N(0, 1), PyTorch's `nn.Embedding` default: with U-ViT's 0.02 linears
                // downstream, a smaller init leaves the word signal below the position
                // embedding's (docs/results.md, calibration F).
                .with_initializer(Initializer::Normal {
                    mean: 0.0,
                    std: 1.0,
                })
                .init(device),
        });
        Ok(Self {
            text,
            uvit: UViT::new(config, device)?,
        })
    }

    /// A model whose initial weights depend only on `seed`: burn draws initial values from
    /// the device's global generator, so seeding it, building the model and materialising
    /// every (lazily initialised) parameter happen under one process-wide lock.
    pub fn seeded(
        config: &UViTConfig<S>,
        vocab: Option<usize>,
        device: &Device,
        seed: u64,
    ) -> Result<Self, ifvit_uvit::ConfigError> {
        static INIT: Mutex<()> = Mutex::new(());
        let _guard = INIT.lock().unwrap_or_else(|p| p.into_inner());
        device.seed(seed);
        let model = Self::new(config, vocab, device)?;
        struct Materialise;
        impl ModuleVisitor for Materialise {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                let _ = param.val();
            }
        }
        model.visit(&mut Materialise);
        Ok(model)
    }

    /// Token ids `[B, L]` -> context `[B, L, context_dim]`.
    ///
    /// # Panics
    /// If the model has no learned text encoder (it expects features).
    pub fn context(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        self.text
            .as_ref()
            .expect("this model takes text features, not token ids")
            .embed
            .forward(tokens)
    }

    /// The context of either kind of conditioning.
    pub fn context_of(&self, cond: &crate::data::Conditioning) -> Tensor<3> {
        match cond {
            crate::data::Conditioning::Tokens(t) => self.context(t.clone()),
            crate::data::Conditioning::Context(c) => c.clone(),
        }
    }

    /// `x: [B, C, H, W]`, `t: [B]` model time, `context: [B, L, context_dim]` -> `[B, C, H, W]`.
    pub fn forward(&self, x: Tensor<4>, t: Tensor<1>, context: Tensor<3>) -> Tensor<4> {
        self.uvit.forward(x, t, context)
    }
}

/// What a [`crate::text::Conditioner`] needs of a model: its learned word embedding.
pub trait WordEmbedding {
    /// Token ids `[B, L]` -> context `[B, L, context_dim]` (panics without a learned encoder).
    fn embed_words(&self, tokens: Tensor<2, Int>) -> Tensor<3>;
}

impl<S: FusionStrategy> WordEmbedding for TextToImage<S> {
    fn embed_words(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        self.context(tokens)
    }
}
