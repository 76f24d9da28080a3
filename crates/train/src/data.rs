//! Training batches from the built-in `shapes` data.
//!
//! Batch `k` holds items `k*B .. (k+1)*B` of the procedural data set (item `i` is a pure
//! function of the data seed and `i`), with the classifier-free-guidance caption dropout of
//! `ifvit-data` (also a pure function of the seed and `i`). A resumed run therefore sees
//! exactly the batches an uninterrupted one would: the data position is the step.

use std::sync::Arc;

use burn::tensor::Device;
use ifvit_data::batch::{CaptionSampling, TextImageBatch, TextImageBatcher, TextImageSample, rgb_to_chw};
use ifvit_data::shapes::{ShapesConfig, ShapesGenerator, ShapesItem};
use ifvit_data::tokenizer::TextTokenizer;
use ifvit_data::tokenizer::word::WordTokenizer;

use crate::error::TrainError;

/// Deterministic, unlimited training batches of `shapes`.
pub struct ShapesTrainData {
    generator: ShapesGenerator,
    tokenizer: Arc<WordTokenizer>,
    batcher: TextImageBatcher<WordTokenizer>,
    sampling: CaptionSampling,
}

impl ShapesTrainData {
    /// `context_length`: text tokens of the model; `caption_dropout`: probability of the
    /// empty caption.
    pub fn new(config: &ShapesConfig, context_length: usize, caption_dropout: f64) -> Result<Self, TrainError> {
        let generator = ShapesGenerator::new(config.clone()).map_err(|e| TrainError::Data(e.to_string()))?;
        let tokenizer = Arc::new(WordTokenizer::shapes(context_length).map_err(|e| TrainError::Data(e.to_string()))?);
        Ok(Self {
            generator,
            batcher: TextImageBatcher::new(tokenizer.clone()),
            tokenizer,
            sampling: CaptionSampling::new(config.seed, caption_dropout),
        })
    }

    pub fn tokenizer(&self) -> &Arc<WordTokenizer> {
        &self.tokenizer
    }

    pub fn vocab_size(&self) -> usize {
        self.tokenizer.vocab_size()
    }

    pub fn item(&self, index: u64) -> ShapesItem {
        self.generator.item(index)
    }

    /// Rows `first .. first + n` of the data stream.
    pub fn rows(&self, first: u64, n: usize, device: &Device) -> Result<TextImageBatch, TrainError> {
        let samples = (first..first + n as u64)
            .map(|i| {
                let item = self.generator.item(i);
                let keep = self.sampling.choose(0, i as usize, 1).is_some();
                let (image, shape) = rgb_to_chw(&item.image);
                TextImageSample {
                    index: i as usize,
                    image,
                    shape,
                    caption: if keep { item.caption } else { String::new() },
                    dropped: !keep,
                }
            })
            .collect();
        self.batcher
            .try_batch(samples, device)
            .map_err(|e| TrainError::Data(e.to_string()))
    }

    /// Training batch of optimizer step `step`.
    pub fn batch(&self, step: u64, batch_size: usize, device: &Device) -> Result<TextImageBatch, TrainError> {
        self.rows(step * batch_size as u64, batch_size, device)
    }
}
