//! Reading the feature cache: a burn `Dataset` of (latent moments, one caption's context)
//! with the same caption choice and classifier-free-guidance dropout as
//! [`CaptionedSamples`](crate::batch::CaptionedSamples): a dropped caption gets the cached
//! empty-caption context.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::tensor::{Device, Tensor, TensorData};

use super::manifest::Manifest;
use super::shard::{Header, TensorEntry, read_f32, read_i64};
use super::{CacheError, EMPTY_CONTEXT_FILE, MANIFEST_FILE};
use crate::batch::CaptionSampling;

struct ShardIndex {
    path: PathBuf,
    moments: TensorEntry,
    text: TensorEntry,
    offsets: Vec<i64>,
    ids: Vec<i64>,
}

/// An open cache folder. Reads each item's bytes on demand (seek + read).
pub struct FeatureCache {
    dir: PathBuf,
    manifest: Manifest,
    shards: Vec<ShardIndex>,
    /// Global index of each shard's first image, plus the total at the end.
    starts: Vec<usize>,
    empty_context: Vec<f32>,
    sampling: CaptionSampling,
    epoch: AtomicU64,
}

impl FeatureCache {
    /// Opens a finished cache (an unfinished one is an error saying how to finish it).
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, CacheError> {
        let c = Self::open_partial(dir)?;
        if !c.manifest.complete {
            return Err(CacheError::Incomplete {
                dir: c.dir.clone(),
                done: c.manifest.shards.len(),
                total: c.manifest.num_shards,
            });
        }
        Ok(c)
    }

    /// Opens whatever shards are finished.
    pub fn open_partial(dir: impl AsRef<Path>) -> Result<Self, CacheError> {
        let dir = dir.as_ref().to_path_buf();
        let manifest = Manifest::load(&dir.join(MANIFEST_FILE))?;
        let [c2, h, w] = manifest.settings.moments_shape;
        let [l, d] = manifest.settings.context_shape;
        let mut shards = Vec::with_capacity(manifest.shards.len());
        let mut starts = vec![0];
        for rec in &manifest.shards {
            let path = dir.join(&rec.file);
            let header = Header::read(&path)?;
            let moments = header.entry(&path, "moments", "F32")?.clone();
            let text = header.entry(&path, "text", "F32")?.clone();
            let offsets = read_i64(&path, header.entry(&path, "caption_offsets", "I64")?)?;
            let ids = read_i64(&path, header.entry(&path, "image_ids", "I64")?)?;
            let n = ids.len();
            let m = offsets.last().copied().unwrap_or(-1);
            if moments.shape != [n, c2, h, w]
                || text.shape != [m.max(0) as usize, l, d]
                || offsets.len() != n + 1
                || n != rec.images
            {
                return Err(CacheError::Corrupt {
                    path,
                    message: format!(
                        "shapes moments {:?} text {:?} offsets {} disagree with the manifest",
                        moments.shape,
                        text.shape,
                        offsets.len()
                    ),
                });
            }
            starts.push(starts.last().unwrap() + n);
            shards.push(ShardIndex {
                path,
                moments,
                text,
                offsets,
                ids,
            });
        }
        let empty_path = dir.join(EMPTY_CONTEXT_FILE);
        let header = Header::read(&empty_path)?;
        let entry = header.entry(&empty_path, "context", "F32")?;
        let empty_context = read_f32(&empty_path, entry, 0, l * d)?;
        Ok(Self {
            dir,
            manifest,
            shards,
            starts,
            empty_context,
            sampling: CaptionSampling::new(0, 0.0),
            epoch: AtomicU64::new(0),
        })
    }

    /// Caption choice and dropout used by `Dataset::get`.
    pub fn with_sampling(mut self, sampling: CaptionSampling) -> Self {
        self.sampling = sampling;
        self
    }

    pub fn set_epoch(&self, epoch: u64) {
        self.epoch.store(epoch, Ordering::Relaxed);
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// `[2C, h, w]`.
    pub fn moments_shape(&self) -> [usize; 3] {
        self.manifest.settings.moments_shape
    }

    /// `[L, D]`.
    pub fn context_shape(&self) -> [usize; 2] {
        self.manifest.settings.context_shape
    }

    /// The empty caption's context `[L, D]`, flattened.
    pub fn empty_context(&self) -> &[f32] {
        &self.empty_context
    }

    fn locate(&self, index: usize) -> (usize, usize) {
        let s = self.starts.partition_point(|&st| st <= index) - 1;
        (s, index - self.starts[s])
    }

    pub fn image_id(&self, index: usize) -> u64 {
        let (s, i) = self.locate(index);
        self.shards[s].ids[i] as u64
    }

    pub fn num_captions(&self, index: usize) -> usize {
        let (s, i) = self.locate(index);
        (self.shards[s].offsets[i + 1] - self.shards[s].offsets[i]) as usize
    }

    /// Latent moments `[2C, h, w]` of image `index`, flattened.
    pub fn moments(&self, index: usize) -> Result<Vec<f32>, CacheError> {
        let (s, i) = self.locate(index);
        let per: usize = self.moments_shape().iter().product();
        read_f32(
            &self.shards[s].path,
            &self.shards[s].moments,
            i * per,
            (i + 1) * per,
        )
    }

    /// Context `[L, D]` of caption `k` of image `index`, flattened.
    pub fn context(&self, index: usize, k: usize) -> Result<Vec<f32>, CacheError> {
        let (s, i) = self.locate(index);
        let sh = &self.shards[s];
        let row = sh.offsets[i] as usize + k;
        if row >= sh.offsets[i + 1] as usize {
            return Err(CacheError::Corrupt {
                path: sh.path.clone(),
                message: format!("image {index} has no caption {k}"),
            });
        }
        let per: usize = self.context_shape().iter().product();
        read_f32(&sh.path, &sh.text, row * per, (row + 1) * per)
    }
}

/// One cached training example.
#[derive(Clone, Debug)]
pub struct CachedSample {
    pub index: usize,
    pub image_id: u64,
    /// `[2C, h, w]`.
    pub moments: Vec<f32>,
    /// `[L, D]`: the chosen caption's, or the empty caption's when dropped.
    pub context: Vec<f32>,
    pub dropped: bool,
}

impl Dataset<CachedSample> for FeatureCache {
    fn get(&self, index: usize) -> Result<CachedSample, DatasetError> {
        assert!(
            index < self.len(),
            "index {index} out of range for {} cached images",
            self.len()
        );
        let epoch = self.epoch.load(Ordering::Relaxed);
        let choice = self.sampling.choose(epoch, index, self.num_captions(index));
        let context = match choice {
            Some(k) => self.context(index, k).map_err(DatasetError::new)?,
            None => self.empty_context.clone(),
        };
        Ok(CachedSample {
            index,
            image_id: self.image_id(index),
            moments: self.moments(index).map_err(DatasetError::new)?,
            context,
            dropped: choice.is_none(),
        })
    }

    fn len(&self) -> usize {
        *self.starts.last().unwrap()
    }
}

/// A batch of cached features.
#[derive(Clone, Debug)]
pub struct FeatureBatch {
    /// `[B, 2C, h, w]`: draw latents with `ifvit_encoders::sample_latent`.
    pub moments: Tensor<4>,
    /// `[B, L, D]`.
    pub context: Tensor<3>,
    pub dropped: Vec<bool>,
    pub indices: Vec<usize>,
}

/// Stacks [`CachedSample`]s of one cache.
#[derive(Clone, Copy, Debug)]
pub struct FeatureBatcher {
    pub moments_shape: [usize; 3],
    pub context_shape: [usize; 2],
}

impl FeatureBatcher {
    pub fn for_cache(cache: &FeatureCache) -> Self {
        Self {
            moments_shape: cache.moments_shape(),
            context_shape: cache.context_shape(),
        }
    }
}

impl Batcher<CachedSample, FeatureBatch> for FeatureBatcher {
    fn batch(&self, items: Vec<CachedSample>, device: &Device) -> FeatureBatch {
        let b = items.len();
        let [c2, h, w] = self.moments_shape;
        let [l, d] = self.context_shape;
        let moments: Vec<f32> = items
            .iter()
            .flat_map(|s| s.moments.iter().copied())
            .collect();
        let context: Vec<f32> = items
            .iter()
            .flat_map(|s| s.context.iter().copied())
            .collect();
        FeatureBatch {
            moments: Tensor::from_data(TensorData::new(moments, [b, c2, h, w]), device),
            context: Tensor::from_data(TensorData::new(context, [b, l, d]), device),
            dropped: items.iter().map(|s| s.dropped).collect(),
            indices: items.iter().map(|s| s.index).collect(),
        }
    }
}
