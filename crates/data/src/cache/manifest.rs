//! `manifest.json`: what the cache holds and which shards are finished. Rewritten
//! atomically (temp file + rename) after every shard, so it never lists a shard that is
//! not completely on disk.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{CacheError, io_err};

pub const FORMAT: &str = "ifvit-feature-cache";
pub const VERSION: u32 = 1;

/// Everything that decides the cache's content; a resumed run must match it exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Canonical path of the captions file.
    pub captions_file: String,
    /// Canonical path of the image folder.
    pub images_dir: String,
    pub image_size: u32,
    pub limit: Option<usize>,
    pub shard_size: usize,
    pub autoencoder: String,
    pub text_encoder: String,
    /// `[2C, h, w]` per image.
    pub moments_shape: [usize; 3],
    /// `[L, D]` per caption.
    pub context_shape: [usize; 2],
    pub on_missing: crate::coco::BadImagePolicy,
    pub on_bad: crate::coco::BadImagePolicy,
}

impl Settings {
    /// Names of the fields that differ (empty when equal).
    pub fn differences(&self, other: &Settings) -> Vec<String> {
        let a = serde_json::to_value(self).unwrap_or_default();
        let b = serde_json::to_value(other).unwrap_or_default();
        let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
            return vec!["settings".into()];
        };
        a.iter()
            .filter(|(k, v)| b.get(*k) != Some(*v))
            .map(|(k, v)| {
                format!(
                    "{k}: was {}, now {}",
                    b.get(k).cloned().unwrap_or_default(),
                    v
                )
            })
            .collect()
    }
}

/// One finished shard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardRecord {
    pub index: usize,
    pub file: String,
    /// Planned image positions `[first, first + planned)` of the captions file (after
    /// `limit` and missing files); `images` of them are in the shard.
    pub first: usize,
    pub planned: usize,
    pub images: usize,
    pub captions: usize,
    /// Byte size of the file (checked on resume and open).
    pub bytes: u64,
    /// Image ids left out because their file could not be decoded (`on_bad = skip`).
    pub bad_images: Vec<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub settings: Settings,
    /// Images planned (captioned, file present or not skipped), in captions-file order.
    pub planned_images: usize,
    pub num_shards: usize,
    /// Image ids left out because their file is absent (`on_missing = skip`).
    pub missing_images: Vec<u64>,
    pub empty_context: Option<String>,
    /// Finished shards, by index.
    pub shards: Vec<ShardRecord>,
    pub complete: bool,
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Self, CacheError> {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| CacheError::Corrupt {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if m.format != FORMAT || m.version != VERSION {
            return Err(CacheError::Corrupt {
                path: path.to_path_buf(),
                message: format!(
                    "format {} v{}, expected {FORMAT} v{VERSION}",
                    m.format, m.version
                ),
            });
        }
        Ok(m)
    }

    pub fn save(&self, path: &Path) -> Result<(), CacheError> {
        let text = serde_json::to_string_pretty(self).expect("manifest serialises");
        write_atomic(path, text.as_bytes())
    }

    pub fn images(&self) -> usize {
        self.shards.iter().map(|s| s.images).sum()
    }

    pub fn captions(&self) -> usize {
        self.shards.iter().map(|s| s.captions).sum()
    }
}

/// [`crate::fsio::write_atomic`]: readers see the old file or the new one, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CacheError> {
    crate::fsio::write_atomic(path, bytes).map_err(|e| io_err(&e.path)(e.source))
}

pub use crate::fsio::tmp_path;
