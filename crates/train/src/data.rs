//! Training batches from the configured data source.
//!
//! Batch `k` holds rows `k*B .. (k+1)*B` of an endless, seeded stream over the data set:
//! row `g` is item `perm_e(g mod N)` of epoch `e = g div N` (a seeded bijective shuffle per
//! epoch; the procedural `shapes` stream is simply item `g`). Caption choice and the
//! classifier-free-guidance dropout come from `ifvit-data`'s `CaptionSampling`, a pure
//! function of `(seed, epoch, item)`; latents of cached moments are drawn from the step's
//! own generator. A resumed run therefore sees exactly the batches an uninterrupted one
//! would: the data position is the step.

use ifvit_data::seed::splitmix64;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use burn::data::dataset::Dataset;
use burn::tensor::{Device, Int, Tensor, TensorData};
use ifvit_data::batch::{
    CaptionSampling, CaptionedImage, TextImageBatcher, TextImageSample, rgb_to_chw,
};
use ifvit_data::cache::FeatureCache;
pub use ifvit_data::fashion_mnist::FashionConfig;
use ifvit_data::fashion_mnist::{
    FashionDataset, FashionItem, FashionMnist, FashionPairs, Split,
    vocabulary as fashion_vocabulary,
};
use ifvit_data::shapes::{ShapesConfig, ShapesGenerator, item_rng};
use ifvit_data::tokenizer::word::WordTokenizer;
use ifvit_diffusion::{StdRng, randn};
use ifvit_encoders::sample_latent;
use serde::{Deserialize, Serialize};

use crate::config::{DataConfig, ExperimentConfig};
use crate::error::TrainError;
use crate::text::{FrozenText, TextEncoderConfig, TextSide};
use ifvit_uvit::UViTConfig;

/// A feature cache written by `ifvit prepare coco` (SPEC section 5: latent moments per
/// image, text features per caption, the empty-caption context).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    pub dir: PathBuf,
    /// Latents are `sample(moments) * scale_factor` (0.23010 for MS-COCO, SPEC section 2).
    pub scale_factor: f64,
    pub seed: u64,
}

/// How the text reaches the model.
#[derive(Clone, Debug)]
pub enum Conditioning {
    /// Word ids `[B, L]` for the model's learned embedding.
    Tokens(Tensor<2, Int>),
    /// Precomputed text features `[B, L, D]`.
    Context(Tensor<3>),
}

impl Conditioning {
    pub fn rows(&self) -> usize {
        match self {
            Conditioning::Tokens(t) => t.dims()[0],
            Conditioning::Context(t) => t.dims()[0],
        }
    }

    pub fn narrow(self, start: usize, len: usize) -> Self {
        match self {
            Conditioning::Tokens(t) => Conditioning::Tokens(t.narrow(0, start, len)),
            Conditioning::Context(t) => Conditioning::Context(t.narrow(0, start, len)),
        }
    }

    pub fn to_device(self, device: &Device) -> Self {
        match self {
            Conditioning::Tokens(t) => Conditioning::Tokens(t.to_device(device)),
            Conditioning::Context(t) => Conditioning::Context(t.to_device(device)),
        }
    }
}

/// One training batch: `images` `[B, C, H, W]` (pixels in [-1, 1] or scaled latents).
pub struct TrainBatch {
    pub images: Tensor<4>,
    pub cond: Conditioning,
}

/// A seeded bijection of `0..n` for each epoch: `i -> (a i + b) mod n`, `a` coprime to `n`.
#[derive(Clone, Copy, Debug)]
struct EpochShuffle {
    n: u64,
    seed: u64,
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

impl EpochShuffle {
    /// `(epoch, item)` of stream row `g`.
    fn at(&self, g: u64) -> (u64, usize) {
        let (epoch, pos) = (g / self.n, g % self.n);
        let h = splitmix64(self.seed ^ epoch.wrapping_mul(0xA24B_AED4_963E_E407));
        let mut a = (h % self.n.max(2)) | 1;
        while gcd(a, self.n) != 1 {
            a += 2;
        }
        let b = splitmix64(h) % self.n;
        (
            epoch,
            ((a as u128 * pos as u128 + b as u128) % self.n as u128) as usize,
        )
    }
}

/// The procedural `shapes` stream (item `g` is row `g`).
pub struct ShapesSource {
    generator: ShapesGenerator,
    sampling: CaptionSampling,
}

/// Fashion-MNIST singles or pairs.
pub struct FashionSource {
    items: Box<dyn Dataset<FashionItem>>,
    shuffle: EpochShuffle,
    sampling: CaptionSampling,
}

/// A feature cache.
pub struct CacheSource {
    cache: FeatureCache,
    shuffle: EpochShuffle,
    scale: f64,
}

/// Where batches come from.
pub enum TrainData {
    Shapes(ShapesSource, TextSide),
    Fashion(FashionSource, TextSide),
    Cache(Box<CacheSource>),
}

fn data_err(e: impl std::fmt::Display) -> TrainError {
    TrainError::Data(e.to_string())
}

impl TrainData {
    /// Opens the data source of `cfg` for a model `model` (its text tokens and context width),
    /// with the configured text encoder; a frozen encoder runs on `device`.
    pub fn open<S>(
        cfg: &ExperimentConfig,
        model: &UViTConfig<S>,
        device: &Device,
    ) -> Result<Self, TrainError> {
        let (l, caption_dropout) = (model.num_text_tokens, cfg.train.caption_dropout);
        let words = |vocab: Result<WordTokenizer, _>| -> Result<TextSide, TrainError> {
            match text_side(&cfg.text_encoder, model, device)? {
                Some(frozen) => Ok(frozen),
                None => Ok(TextSide::Learned(Arc::new(vocab.map_err(data_err)?))),
            }
        };
        Ok(match &cfg.data {
            DataConfig::Shapes(s) => {
                let generator = ShapesGenerator::new(s.clone()).map_err(data_err)?;
                let text = words(WordTokenizer::shapes(l))?;
                if let TextSide::Frozen(frozen) = &text {
                    // Every caption of the run's rows (and "" for dropout), encoded before
                    // the first step.
                    let rows = (cfg.train.steps * cfg.train.batch_size as u64).min(WARM_ROWS);
                    let mut captions = vec![String::new()];
                    let mut seen = std::collections::HashSet::new();
                    for g in 0..rows {
                        let c = shapes_caption(&generator, g);
                        if seen.insert(c.clone()) {
                            captions.push(c);
                        }
                    }
                    let refs: Vec<&str> = captions.iter().map(String::as_str).collect();
                    frozen.warm(&refs)?;
                }
                TrainData::Shapes(
                    ShapesSource {
                        generator,
                        sampling: CaptionSampling::new(s.seed, caption_dropout),
                    },
                    text,
                )
            }
            DataConfig::FashionMnist(f) => {
                let data = Arc::new(
                    match &f.dir {
                        Some(d) => FashionMnist::load(d, Split::Train),
                        None => FashionMnist::load_debian(Split::Train),
                    }
                    .map_err(data_err)?,
                );
                let n = data.len();
                let items: Box<dyn Dataset<FashionItem>> = if f.pairs {
                    Box::new(FashionPairs::new(data, f.image_size, n, f.seed))
                } else {
                    Box::new(FashionDataset::new(data, f.image_size, f.fit).map_err(data_err)?)
                };
                TrainData::Fashion(
                    FashionSource {
                        shuffle: EpochShuffle {
                            n: items.len() as u64,
                            seed: f.seed,
                        },
                        items,
                        sampling: CaptionSampling::new(f.seed, caption_dropout),
                    },
                    words(WordTokenizer::new(fashion_vocabulary(), l))?,
                )
            }
            DataConfig::CocoCache(c) => {
                let cache = FeatureCache::open(&c.dir)
                    .map_err(data_err)?
                    .with_sampling(CaptionSampling::new(c.seed, caption_dropout));
                let n = cache.len() as u64;
                if n == 0 {
                    return Err(TrainError::Data(format!(
                        "{}: the feature cache is empty",
                        c.dir.display()
                    )));
                }
                TrainData::Cache(Box::new(CacheSource {
                    cache,
                    shuffle: EpochShuffle { n, seed: c.seed },
                    scale: c.scale_factor,
                }))
            }
        })
    }

    /// The text side of caption sources (`None` for a feature cache).
    pub fn text(&self) -> Option<&TextSide> {
        match self {
            TrainData::Shapes(_, t) | TrainData::Fashion(_, t) => Some(t),
            TrainData::Cache(_) => None,
        }
    }

    /// The word tokenizer of sources with a learned embedding.
    pub fn tokenizer(&self) -> Option<&Arc<WordTokenizer>> {
        match self.text() {
            Some(TextSide::Learned(t)) => Some(t),
            _ => None,
        }
    }

    /// Size of the learned embedding table (`None`: the model takes features).
    pub fn vocab_size(&self) -> Option<usize> {
        self.text().and_then(TextSide::vocab_size)
    }

    /// Training batch of optimizer step `step` (`rng`: the step's generator).
    pub fn batch(
        &self,
        step: u64,
        batch_size: usize,
        rng: &mut StdRng,
        device: &Device,
    ) -> Result<TrainBatch, TrainError> {
        let first = step * batch_size as u64;
        let rows = first..first + batch_size as u64;
        match self {
            TrainData::Shapes(src, tok) => {
                let samples = rows
                    .map(|g| {
                        let item = src.generator.item(g);
                        let keep = src.sampling.choose(0, g as usize, 1).is_some();
                        let (image, shape) = rgb_to_chw(&item.image);
                        TextImageSample {
                            index: g as usize,
                            image,
                            shape,
                            caption: if keep { item.caption } else { String::new() },
                            dropped: !keep,
                        }
                    })
                    .collect();
                text_batch(tok, samples, device)
            }
            TrainData::Fashion(src, tok) => {
                let mut samples = Vec::with_capacity(batch_size);
                for g in rows {
                    let (epoch, i) = src.shuffle.at(g);
                    let item = src.items.get(i).map_err(data_err)?;
                    let caps = item.captions();
                    let caption = match src.sampling.choose(epoch, i, caps.len()) {
                        Some(k) => caps[k].clone(),
                        None => String::new(),
                    };
                    let (image, shape) = item.image_chw();
                    samples.push(TextImageSample {
                        index: i,
                        image,
                        shape,
                        dropped: caption.is_empty(),
                        caption,
                    });
                }
                text_batch(tok, samples, device)
            }
            TrainData::Cache(src) => {
                let [c2, h, w] = src.cache.moments_shape();
                let [l, d] = src.cache.context_shape();
                let (mut moments, mut context) = (Vec::new(), Vec::new());
                for g in rows {
                    let (epoch, i) = src.shuffle.at(g);
                    src.cache.set_epoch(epoch);
                    let s = src.cache.get(i).map_err(data_err)?;
                    moments.extend(s.moments);
                    context.extend(s.context);
                }
                let moments = Tensor::<4>::from_data(
                    TensorData::new(moments, [batch_size, c2, h, w]),
                    device,
                );
                let noise = randn([batch_size, c2 / 2, h, w], rng, device);
                Ok(TrainBatch {
                    images: sample_latent(moments, noise).mul_scalar(src.scale),
                    cond: Conditioning::Context(Tensor::from_data(
                        TensorData::new(context, [batch_size, l, d]),
                        device,
                    )),
                })
            }
        }
    }

    /// `[C, H, W]` of the training images (or latents) and `(text tokens, text width)` of the
    /// features (feature sources only).
    pub fn shapes(&self) -> ([usize; 3], Option<(usize, usize)>) {
        let features = match self.text() {
            Some(TextSide::Frozen(f)) => Some(f.shape()),
            _ => None,
        };
        match self {
            TrainData::Shapes(src, _) => {
                let s = src.generator.config().image_size as usize;
                ([3, s, s], features)
            }
            TrainData::Fashion(src, _) => {
                let (_, shape) = src
                    .items
                    .get(0)
                    .map(|i| i.image_chw())
                    .unwrap_or((vec![], [3, 32, 32]));
                (shape, features)
            }
            TrainData::Cache(src) => {
                let [c2, h, w] = src.cache.moments_shape();
                (
                    [c2 / 2, h, w],
                    Some((src.cache.context_shape()[0], src.cache.context_shape()[1])),
                )
            }
        }
    }
}

/// Rows of the `shapes` stream whose captions are encoded before training (the grammar has
/// about 550 captions; later rows' captions are encoded when first met).
const WARM_ROWS: u64 = 1 << 20;

/// The caption of `shapes` row `g`, without rendering its image (the same draws as
/// `ShapesGenerator::item`).
fn shapes_caption(generator: &ShapesGenerator, g: u64) -> String {
    let mut rng = item_rng(generator.config().seed, g);
    let aspect = generator.sample_aspect(&mut rng);
    generator.sample_spec(aspect, &mut rng).to_string()
}

/// Stacks images and tokenizes captions, or looks up their frozen features (the
/// caption-dropout hook already applied: a dropped caption is "").
fn text_batch(
    text: &TextSide,
    samples: Vec<TextImageSample>,
    device: &Device,
) -> Result<TrainBatch, TrainError> {
    match text {
        TextSide::Learned(tokenizer) => {
            let b = TextImageBatcher::new(tokenizer.clone())
                .try_batch(samples, device)
                .map_err(data_err)?;
            Ok(TrainBatch {
                images: b.images,
                cond: Conditioning::Tokens(b.tokens),
            })
        }
        TextSide::Frozen(frozen) => {
            let captions: Vec<&str> = samples.iter().map(|s| s.caption.as_str()).collect();
            let context = frozen.context(&captions, device)?; // [B, L, D]
            let [c, h, w] = samples.first().map(|s| s.shape).unwrap_or([3, 1, 1]);
            let mut pixels = Vec::with_capacity(samples.len() * c * h * w);
            for s in &samples {
                if s.shape != [c, h, w] {
                    return Err(TrainError::Data(format!(
                        "item {}: image {:?} differs from the batch's {:?}",
                        s.index,
                        s.shape,
                        [c, h, w]
                    )));
                }
                pixels.extend_from_slice(&s.image);
            }
            let images =
                Tensor::<4>::from_data(TensorData::new(pixels, [samples.len(), c, h, w]), device);
            Ok(TrainBatch {
                images,
                cond: Conditioning::Context(context),
            })
        }
    }
}

/// The frozen text side of `text` for `model` (`None` for `Learned`), checked against the
/// model's context width.
pub fn text_side<S>(
    text: &TextEncoderConfig,
    model: &UViTConfig<S>,
    device: &Device,
) -> Result<Option<TextSide>, TrainError> {
    if text.is_learned() {
        return Ok(None);
    }
    // One encoder and feature cache per (encoder, context length, device) in this process:
    // the arms of an ablation share them, so each caption is encoded once per run.
    static LOADED: Mutex<Vec<(String, Arc<FrozenText>)>> = Mutex::new(Vec::new());
    let key = format!("{text:?} L={} {device:?}", model.num_text_tokens);
    let mut loaded = LOADED.lock().unwrap_or_else(|p| p.into_inner());
    let frozen = match loaded.iter().find(|(k, _)| *k == key) {
        Some((_, f)) => f.clone(),
        None => {
            let Some(encoder) = text.load(model.num_text_tokens, device)? else {
                return Ok(None);
            };
            let f = Arc::new(FrozenText::new(encoder, device.clone()));
            loaded.push((key, f.clone()));
            f
        }
    };
    let encoder = &frozen;
    let (_, dim) = encoder.shape();
    if dim != model.context_dim {
        return Err(TrainError::Data(format!(
            "text_encoder {} gives {dim}-d features but the model's context_dim is {}; set \
             model.context_dim: Some({dim})",
            encoder.name(),
            model.context_dim,
        )));
    }
    Ok(Some(TextSide::Frozen(frozen.clone())))
}

/// The `shapes` config of a data config, if it is one.
pub fn shapes_config(cfg: &crate::config::DataConfig) -> Option<&ShapesConfig> {
    match cfg {
        crate::config::DataConfig::Shapes(s) => Some(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ifvit_data::tokenizer::TextTokenizer;

    #[test]
    fn epoch_shuffle_is_a_permutation_that_changes_per_epoch() {
        let s = EpochShuffle { n: 10, seed: 3 };
        let e0: Vec<usize> = (0..10).map(|g| s.at(g).1).collect();
        let e1: Vec<usize> = (10..20).map(|g| s.at(g).1).collect();
        let mut sorted = e0.clone();
        sorted.sort();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        let mut sorted1 = e1.clone();
        sorted1.sort();
        assert_eq!(sorted1, (0..10).collect::<Vec<_>>());
        assert_ne!(e0, e1);
        assert_eq!(s.at(13).0, 1);
    }

    #[test]
    fn caption_of_a_row_is_the_rendered_items_caption() {
        let g = ShapesGenerator::new(ShapesConfig::small()).unwrap();
        for row in [0u64, 1, 17, 1000] {
            assert_eq!(shapes_caption(&g, row), g.item(row).caption);
        }
    }

    #[test]
    fn fashion_captions_fit_the_vocabulary() {
        let tok = WordTokenizer::new(fashion_vocabulary(), 8).unwrap();
        for label in 0..10u8 {
            for c in FashionDataset::captions(label) {
                tok.encode(&c).unwrap();
            }
        }
        tok.encode("a sneaker left of an ankle boot").unwrap();
    }
}
