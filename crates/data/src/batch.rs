//! Batching for text-to-image training: caption choice and classifier-free-guidance
//! dropout (deterministic from a seed, the epoch and the item index), then a burn `Batcher`
//! that stacks images and tokenizes captions.

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::tensor::{Device, Int, Tensor, TensorData};
use image::RgbImage;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::tokenizer::{TextTokenizer, TokenizeError};

/// An image with one or more captions. Implemented by the COCO and Fashion-MNIST items;
/// any data set (e.g. `shapes`) plugs into [`CaptionedSamples`] by implementing it.
pub trait CaptionedImage {
    /// Pixels `[C, H, W]` (row-major, channel first) in [-1, 1], and that shape.
    fn image_chw(&self) -> (Vec<f32>, [usize; 3]);
    /// All captions of the image; at least one.
    fn captions(&self) -> &[String];
}

/// `[H, W, 3]` bytes -> `[3, H, W]` floats in [-1, 1] (`x / 127.5 - 1`, as U-ViT).
pub fn rgb_to_chw(img: &RgbImage) -> (Vec<f32>, [usize; 3]) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut out = vec![0f32; 3 * h * w];
    for (i, px) in img.as_raw().chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * h * w + i] = px[c] as f32 / 127.5 - 1.0;
        }
    }
    (out, [3, h, w])
}

/// Caption choice and classifier-free-guidance dropout.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CaptionSampling {
    pub seed: u64,
    /// Probability that the caption is replaced by the empty caption "" (0.1 in SPEC 4).
    pub p_uncond: f64,
}

impl CaptionSampling {
    pub fn new(seed: u64, p_uncond: f64) -> Self {
        Self { seed, p_uncond }
    }

    /// Which of the `n` captions item `index` uses in `epoch`; `None` = dropped (use the
    /// empty caption). A pure function of its arguments: a resumed run sees the same draws.
    pub fn choose(&self, epoch: u64, index: usize, n: usize) -> Option<usize> {
        let mut rng = StdRng::seed_from_u64(mix(self.seed, epoch, index as u64));
        let drop = rng.random::<f64>() < self.p_uncond;
        let pick = rng.random_range(0..n.max(1));
        (!drop).then_some(pick)
    }
}

/// SplitMix64 finaliser over the three keys (independent streams per item and epoch).
fn mix(seed: u64, epoch: u64, index: u64) -> u64 {
    crate::seed::mix64(
        seed ^ epoch.wrapping_mul(crate::seed::GOLDEN_GAMMA)
            ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03),
    )
}

/// One training example: an image and the one caption chosen for this access.
#[derive(Clone, Debug)]
pub struct TextImageSample {
    pub index: usize,
    /// `[C, H, W]` in [-1, 1].
    pub image: Vec<f32>,
    pub shape: [usize; 3],
    /// The chosen caption, or "" when dropped.
    pub caption: String,
    pub dropped: bool,
}

/// Wraps a data set of [`CaptionedImage`]s: `get(i)` picks item `i`'s caption for the
/// current epoch (set it with [`set_epoch`](Self::set_epoch)) and applies the dropout.
/// Give the data loader an `Arc<CaptionedSamples>` and keep a clone to set the epoch.
pub struct CaptionedSamples<D, I> {
    inner: D,
    sampling: CaptionSampling,
    epoch: Arc<AtomicU64>,
    _item: PhantomData<fn() -> I>,
}

impl<D: Dataset<I>, I: CaptionedImage> CaptionedSamples<D, I> {
    pub fn new(inner: D, sampling: CaptionSampling) -> Self {
        Self {
            inner,
            sampling,
            epoch: Arc::new(AtomicU64::new(0)),
            _item: PhantomData,
        }
    }

    /// Caption draws depend on the epoch: set it before each epoch (also after a resume).
    pub fn set_epoch(&self, epoch: u64) {
        self.epoch.store(epoch, Ordering::Relaxed);
    }

    pub fn inner(&self) -> &D {
        &self.inner
    }
}

impl<D: Dataset<I>, I: CaptionedImage> Dataset<TextImageSample> for CaptionedSamples<D, I> {
    fn get(&self, index: usize) -> Result<TextImageSample, DatasetError> {
        let item = self.inner.get(index)?;
        let captions = item.captions();
        let epoch = self.epoch.load(Ordering::Relaxed);
        let choice = self.sampling.choose(epoch, index, captions.len());
        let caption = match choice {
            Some(k) => captions.get(k).cloned().unwrap_or_default(),
            None => String::new(),
        };
        let (image, shape) = item.image_chw();
        Ok(TextImageSample {
            index,
            image,
            shape,
            caption,
            dropped: choice.is_none(),
        })
    }

    fn len(&self) -> usize {
        self.inner.len()
    }
}

/// A training batch.
#[derive(Clone, Debug)]
pub struct TextImageBatch {
    /// `[B, C, H, W]` in [-1, 1].
    pub images: Tensor<4>,
    /// `[B, L]` token ids; dropped captions hold the encoding of "".
    pub tokens: Tensor<2, Int>,
    /// Per row: was the caption dropped (classifier-free guidance)?
    pub dropped: Vec<bool>,
    /// Per row: index of the item in the data set.
    pub indices: Vec<usize>,
}

/// Why a batch could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("empty batch")]
    Empty,
    #[error("item {index}: image shape {shape:?} differs from the batch's first {first:?}")]
    Shape {
        index: usize,
        shape: [usize; 3],
        first: [usize; 3],
    },
    #[error("item {index}: {error}")]
    Tokenize { index: usize, error: TokenizeError },
}

/// Stacks [`TextImageSample`]s and tokenizes their captions with any [`TextTokenizer`].
pub struct TextImageBatcher<T> {
    tokenizer: Arc<T>,
}

impl<T: TextTokenizer> TextImageBatcher<T> {
    pub fn new(tokenizer: Arc<T>) -> Self {
        Self { tokenizer }
    }

    pub fn try_batch(
        &self,
        items: Vec<TextImageSample>,
        device: &Device,
    ) -> Result<TextImageBatch, BatchError> {
        let first = items.first().ok_or(BatchError::Empty)?.shape;
        let (b, l) = (items.len(), self.tokenizer.context_length());
        let mut pixels = Vec::with_capacity(b * first.iter().product::<usize>());
        let mut ids = Vec::with_capacity(b * l);
        for it in &items {
            if it.shape != first {
                return Err(BatchError::Shape {
                    index: it.index,
                    shape: it.shape,
                    first,
                });
            }
            pixels.extend_from_slice(&it.image);
            let tokens =
                self.tokenizer
                    .encode(&it.caption)
                    .map_err(|error| BatchError::Tokenize {
                        index: it.index,
                        error,
                    })?;
            ids.extend(tokens.into_iter().map(|t| t as i64));
        }
        let [c, h, w] = first;
        Ok(TextImageBatch {
            images: Tensor::from_data(TensorData::new(pixels, [b, c, h, w]), device),
            tokens: Tensor::from_data(TensorData::new(ids, [b, l]), device),
            dropped: items.iter().map(|it| it.dropped).collect(),
            indices: items.iter().map(|it| it.index).collect(),
        })
    }
}

impl<T: TextTokenizer + 'static> Batcher<TextImageSample, TextImageBatch> for TextImageBatcher<T> {
    /// Panics on a caption the tokenizer refuses (possible only with `Overflow::Error` or a
    /// word-level vocabulary): check captions up front with [`check_captions`], or call
    /// [`try_batch`](Self::try_batch).
    fn batch(&self, items: Vec<TextImageSample>, device: &Device) -> TextImageBatch {
        self.try_batch(items, device)
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

/// Tokenizes every caption once, so that batching cannot fail later. Returns the number
/// of captions checked.
pub fn check_captions<'a, T: TextTokenizer + ?Sized>(
    tokenizer: &T,
    captions: impl IntoIterator<Item = &'a str>,
) -> Result<usize, TokenizeError> {
    let mut n = 0;
    for c in captions {
        tokenizer.encode(c)?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb_to_chw_is_channel_first_in_unit_range() {
        let img = RgbImage::from_fn(2, 1, |x, _| {
            image::Rgb([0, 255, if x == 0 { 51 } else { 204 }])
        });
        let (v, shape) = rgb_to_chw(&img);
        assert_eq!(shape, [3, 1, 2]);
        let expected = [
            -1.0,
            -1.0,
            1.0,
            1.0,
            51.0 / 127.5 - 1.0,
            204.0 / 127.5 - 1.0,
        ];
        for (a, b) in v.iter().zip(expected) {
            assert!((a - b).abs() < 1e-6, "{v:?}");
        }
    }

    #[test]
    fn choose_is_deterministic_and_has_the_right_rates() {
        let s = CaptionSampling::new(7, 0.1);
        let draws: Vec<_> = (0..20_000).map(|i| s.choose(3, i, 5)).collect();
        let again: Vec<_> = (0..20_000).map(|i| s.choose(3, i, 5)).collect();
        assert_eq!(draws, again);
        let dropped = draws.iter().filter(|d| d.is_none()).count() as f64 / 20_000.0;
        assert!((dropped - 0.1).abs() < 0.01, "drop rate {dropped}");
        let mut counts = [0usize; 5];
        draws.iter().flatten().for_each(|&k| counts[k] += 1);
        assert!(
            counts.iter().all(|&c| (3300..3900).contains(&c)),
            "{counts:?}"
        );
        // Another epoch or seed draws differently.
        let other: Vec<_> = (0..20_000).map(|i| s.choose(4, i, 5)).collect();
        assert!(draws.iter().zip(&other).filter(|(a, b)| a != b).count() > 10_000);
        assert_eq!(CaptionSampling::new(7, 0.0).choose(0, 0, 1), Some(0));
        assert_eq!(CaptionSampling::new(7, 1.0).choose(0, 0, 1), None);
    }
}
