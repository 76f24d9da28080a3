//! The SPEC section 5 feature cache: latent moments per image, text features per caption,
//! one empty-caption context; safetensors shards plus a JSON manifest (layout in
//! docs/data.md). Written by `ifvit_encoders::prepare::prepare_coco` (it drives the
//! encoders, which live in `ifvit-encoders`, a crate that depends on this one), read by
//! [`FeatureCache`].

pub mod manifest;
pub mod reader;
pub mod shard;

pub use manifest::{Manifest, Settings, ShardRecord};
pub use reader::{CachedSample, FeatureBatch, FeatureBatcher, FeatureCache};

use std::path::PathBuf;

use crate::coco::CocoError;

/// File name of the manifest inside a cache folder.
pub const MANIFEST_FILE: &str = "manifest.json";
/// File name of the empty-caption context.
pub const EMPTY_CONTEXT_FILE: &str = "empty_context.safetensors";

/// `shard-00042.safetensors`.
pub fn shard_file_name(index: usize) -> String {
    format!("shard-{index:05}.safetensors")
}

/// Why a cache could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "cache folder {dir} was made with different settings ({what}); \
         use another --out folder, or delete this one to start over"
    )]
    SettingsChanged { dir: PathBuf, what: String },
    #[error(
        "{path}: not a readable cache file ({message}); delete it and run `ifvit prepare` again"
    )]
    Corrupt { path: PathBuf, message: String },
    #[error(transparent)]
    Coco(#[from] CocoError),
    #[error(
        "cache {dir} is incomplete ({done} of {total} shards); run `ifvit prepare` again to finish it"
    )]
    Incomplete {
        dir: PathBuf,
        done: usize,
        total: usize,
    },
    #[error("shard size must be positive")]
    ShardSize,
}

pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> CacheError + '_ {
    move |error| CacheError::Io {
        path: path.to_path_buf(),
        error,
    }
}
