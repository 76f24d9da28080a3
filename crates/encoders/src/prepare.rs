//! `prepare_coco`: stream MS-COCO through an image autoencoder and a text encoder into
//! the feature cache. Resumable: finished shards (listed in the manifest) are kept as
//! they are; a shard is only ever visible complete (temp file + rename).
//!
//! It lives here rather than in `ifvit-data` (which owns the cache format, its writer and
//! reader) because it drives the encoders through this crate's traits, and this crate
//! depends on `ifvit-data` for tokenizers and data sets: the other way round would cycle.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use indicatif::{ProgressBar, ProgressStyle};

use ifvit_data::batch::rgb_to_chw;
use ifvit_data::cache::manifest::{FORMAT, Manifest, Settings, ShardRecord, VERSION, tmp_path};
use ifvit_data::cache::shard::{ShardData, write_shard, write_tensors};
use ifvit_data::cache::{CacheError, EMPTY_CONTEXT_FILE, MANIFEST_FILE, shard_file_name};
use ifvit_data::coco::{BadImagePolicy, CocoDataset};

use crate::autoencoder::Autoencoder;
use crate::error::EncodeError;
use crate::text::TextEncoder;

/// Why `prepare_coco` stopped.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error("image id {image_id}: {error} (long captions: truncate, or fix the caption)")]
    Caption { image_id: u64, error: EncodeError },
    #[error("empty caption: {0}")]
    EmptyCaption(EncodeError),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CacheError + '_ {
    move |error| CacheError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// How to run `prepare`.
#[derive(Clone, Debug)]
pub struct PrepareOptions {
    /// Images per shard.
    pub shard_size: usize,
    /// Images per autoencoder call (captions go through the text encoder per image group).
    pub batch_size: usize,
    /// Stop after writing this many new shards (time-boxed runs; tests of resuming).
    pub max_new_shards: Option<usize>,
    pub progress: bool,
}

impl Default for PrepareOptions {
    fn default() -> Self {
        Self {
            shard_size: 256,
            batch_size: 16,
            max_new_shards: None,
            progress: true,
        }
    }
}

/// What a `prepare` run did.
#[derive(Clone, Debug, PartialEq)]
pub struct PrepareReport {
    pub out_dir: PathBuf,
    pub shards_total: usize,
    /// Shards found finished and left untouched.
    pub shards_reused: usize,
    pub shards_written: usize,
    /// Images and captions in the whole cache so far.
    pub images: usize,
    pub captions: usize,
    /// Listed images with no file (skipped under `on_missing = skip`).
    pub missing_images: usize,
    /// Undecodable images skipped (whole cache so far).
    pub bad_images: usize,
    pub complete: bool,
}

fn canonical(p: &Path) -> Result<String, PrepareError> {
    Ok(p.canonicalize().map_err(io_err(p))?.display().to_string())
}

/// Builds or resumes the cache in `out_dir` for `dataset`.
pub fn prepare_coco(
    dataset: &CocoDataset,
    autoencoder: &dyn Autoencoder,
    text_encoder: &dyn TextEncoder,
    out_dir: &Path,
    options: &PrepareOptions,
    device: &Device,
) -> Result<PrepareReport, PrepareError> {
    if options.shard_size == 0 {
        return Err(CacheError::ShardSize.into());
    }
    std::fs::create_dir_all(out_dir).map_err(io_err(out_dir))?;
    let opts = dataset.options();
    let size = opts.image_size as usize;
    let f = autoencoder.downsample();
    let settings = Settings {
        captions_file: canonical(dataset.captions_file())?,
        images_dir: canonical(dataset.images_dir())?,
        image_size: opts.image_size,
        limit: opts.limit,
        shard_size: options.shard_size,
        autoencoder: autoencoder.name(),
        text_encoder: text_encoder.name(),
        moments_shape: [2 * autoencoder.latent_channels(), size / f, size / f],
        context_shape: [text_encoder.context_length(), text_encoder.dim()],
        on_missing: opts.on_missing,
        on_bad: opts.on_bad,
    };
    let planned = dataset.entries().len();
    let num_shards = planned.div_ceil(options.shard_size);
    let manifest_path = out_dir.join(MANIFEST_FILE);
    let mut manifest = if manifest_path.exists() {
        let mut m = Manifest::load(&manifest_path)?;
        // `on_bad` may change between sessions (an `error` stop followed by `--on-bad skip`,
        // as the error suggests): finished shards stay valid either way.
        m.settings.on_bad = settings.on_bad;
        let diff = settings.differences(&m.settings);
        if !diff.is_empty() {
            return Err(CacheError::SettingsChanged {
                dir: out_dir.to_path_buf(),
                what: diff.join("; "),
            }
            .into());
        }
        m
    } else {
        Manifest {
            format: FORMAT.into(),
            version: VERSION,
            settings: settings.clone(),
            planned_images: planned,
            num_shards,
            missing_images: dataset.missing.iter().map(|(id, _)| *id).collect(),
            empty_context: None,
            shards: Vec::new(),
            complete: false,
        }
    };
    // A shard listed as finished must still be whole; otherwise it is written again.
    let before = manifest.shards.len();
    manifest.shards.retain(|s| {
        std::fs::metadata(out_dir.join(&s.file))
            .map(|m| m.len() == s.bytes)
            .unwrap_or(false)
    });
    let damaged = before - manifest.shards.len();
    remove_stale_temp_files(out_dir)?;

    if manifest.empty_context.is_none() || !out_dir.join(EMPTY_CONTEXT_FILE).exists() {
        write_empty_context(out_dir, text_encoder, device)?;
        manifest.empty_context = Some(EMPTY_CONTEXT_FILE.into());
        manifest.save(&manifest_path)?;
    }

    let reused = manifest.shards.len();
    let bar = if options.progress {
        let bar = ProgressBar::new(planned as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:40} {pos}/{len} images [{elapsed_precise} < {eta_precise}] {msg}",
            )
            .expect("template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    bar.set_position(manifest.shards.iter().map(|s| s.planned as u64).sum());
    if damaged > 0 {
        bar.println(format!(
            "{damaged} shard(s) listed in the manifest were missing or damaged: writing them again"
        ));
    }

    let mut written = 0;
    for k in 0..num_shards {
        if manifest.shards.iter().any(|s| s.index == k) {
            continue;
        }
        if options.max_new_shards.is_some_and(|m| written >= m) {
            break;
        }
        let first = k * options.shard_size;
        let last = (first + options.shard_size).min(planned);
        let (data, bad) = encode_range(
            dataset,
            first..last,
            autoencoder,
            text_encoder,
            &settings,
            options,
            device,
            &bar,
        )?;
        let file = shard_file_name(k);
        let bytes = write_shard(&out_dir.join(&file), &data)?;
        manifest.shards.push(ShardRecord {
            index: k,
            file,
            first,
            planned: last - first,
            images: data.image_ids.len(),
            captions: data.caption_offsets.last().copied().unwrap_or(0) as usize,
            bytes,
            bad_images: bad,
        });
        manifest.shards.sort_by_key(|s| s.index);
        manifest.complete = manifest.shards.len() == num_shards;
        manifest.save(&manifest_path)?;
        written += 1;
    }
    manifest.complete = manifest.shards.len() == num_shards;
    manifest.save(&manifest_path)?;
    bar.finish_and_clear();
    Ok(PrepareReport {
        out_dir: out_dir.to_path_buf(),
        shards_total: num_shards,
        shards_reused: reused,
        shards_written: written,
        images: manifest.images(),
        captions: manifest.captions(),
        missing_images: manifest.missing_images.len(),
        bad_images: manifest.shards.iter().map(|s| s.bad_images.len()).sum(),
        complete: manifest.complete,
    })
}

fn remove_stale_temp_files(out_dir: &Path) -> Result<(), CacheError> {
    for entry in std::fs::read_dir(out_dir).map_err(io_err(out_dir))? {
        let path = entry.map_err(io_err(out_dir))?.path();
        if path.extension().is_some_and(|e| e == "tmp") {
            std::fs::remove_file(&path).map_err(io_err(&path))?;
        }
    }
    Ok(())
}

fn write_empty_context(
    out_dir: &Path,
    te: &dyn TextEncoder,
    device: &Device,
) -> Result<(), PrepareError> {
    let ctx = te
        .encode(&[""], device)
        .map_err(PrepareError::EmptyCaption)?
        .features; // [1, L, D]
    let [_, l, d] = ctx.dims();
    let v = to_vec(ctx);
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut meta = std::collections::HashMap::new();
    meta.insert("text_encoder".to_string(), te.name());
    let path = out_dir.join(EMPTY_CONTEXT_FILE);
    debug_assert!(!tmp_path(&path).exists());
    write_tensors(
        &path,
        vec![("context", vec![l, d], bytes, safetensors::Dtype::F32)],
        meta,
    )?;
    Ok(())
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 after convert")
}

/// Encodes planned positions `range` into one shard's data; returns the ids of images
/// skipped as undecodable.
#[allow(clippy::too_many_arguments)]
fn encode_range(
    dataset: &CocoDataset,
    range: std::ops::Range<usize>,
    ae: &dyn Autoencoder,
    te: &dyn TextEncoder,
    settings: &Settings,
    options: &PrepareOptions,
    device: &Device,
    bar: &ProgressBar,
) -> Result<(ShardData, Vec<u64>), PrepareError> {
    let mut d = ShardData {
        moments_shape: settings.moments_shape,
        context_shape: settings.context_shape,
        caption_offsets: vec![0],
        ..Default::default()
    };
    let mut bad = Vec::new();
    let positions: Vec<usize> = range.collect();
    for chunk in positions.chunks(options.batch_size.max(1)) {
        let mut pixels = Vec::new();
        let mut items = Vec::new();
        for &i in chunk {
            match dataset.load(i) {
                Ok(item) => {
                    pixels.extend(rgb_to_chw(&item.image).0);
                    items.push((i, item));
                }
                Err(e) if settings.on_bad == BadImagePolicy::Error => {
                    return Err(CacheError::from(e).into());
                }
                Err(e) => {
                    bar.println(format!("skipped: {e}"));
                    bad.push(dataset.entries()[i].id);
                }
            }
            bar.inc(1);
        }
        if items.is_empty() {
            continue;
        }
        let s = settings.image_size as usize;
        let images =
            Tensor::<4>::from_data(TensorData::new(pixels, [items.len(), 3, s, s]), device);
        d.moments.extend(to_vec(ae.encode_moments(images)));
        for (i, item) in &items {
            let caps: Vec<&str> = item.captions.iter().map(String::as_str).collect();
            let feats = te
                .encode(&caps, device)
                .map_err(|error| PrepareError::Caption {
                    image_id: item.id,
                    error,
                })?
                .features; // [captions, L, D]
            d.text.extend(to_vec(feats));
            let last = *d.caption_offsets.last().unwrap();
            d.caption_offsets.push(last + caps.len() as i64);
            d.image_ids.push(item.id as i64);
            d.captions.push(item.captions.clone());
            d.file_names.push(dataset.entries()[*i].file_name.clone());
        }
    }
    Ok((d, bad))
}
