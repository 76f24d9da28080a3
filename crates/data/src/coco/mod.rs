//! MS-COCO captions: the captions JSON, the image folder, SPEC section 5 preprocessing.

pub mod captions;
pub mod dataset;
pub mod preprocess;

pub use captions::{CocoCaptions, CocoEntry};
pub use dataset::{CocoDataset, CocoItem, CocoOptions};
pub use preprocess::{COCO_IMAGE_SIZE, center_crop_resize};

use std::path::PathBuf;

/// What to do with an image that is listed but missing, or that cannot be decoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BadImagePolicy {
    /// Stop with an error naming the file.
    #[default]
    Error,
    /// Leave the image out and count it.
    Skip,
}

impl std::str::FromStr for BadImagePolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "error" => Ok(Self::Error),
            "skip" => Ok(Self::Skip),
            _ => Err(format!("unknown policy `{s}`; use `error` or `skip`")),
        }
    }
}

/// Why MS-COCO data could not be read. Each names the file (and field) and the fix. (Inner
/// errors are fields named `error`, not `source`, so that `{e:#}` chains do not repeat them.)
#[derive(Debug, thiserror::Error)]
pub enum CocoError {
    #[error("captions file {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("captions file {path}: line {line} column {column}: {message}")]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "captions file {path}: no `{field}` array at the top level; expected COCO's layout \
         (captions_train2014.json / captions_val2014.json with `images` and `annotations`)"
    )]
    MissingField { path: PathBuf, field: &'static str },
    #[error(
        "image folder {dir}: not a directory; pass the folder holding the JPEGs \
         (e.g. train2014/)"
    )]
    NoImageDir { dir: PathBuf },
    #[error(
        "image id {id}: file {path} does not exist (listed in the captions file); \
         check --images, or leave such images out with `--on-missing skip` (on_missing: skip)"
    )]
    MissingImage { id: u64, path: PathBuf },
    #[error(
        "image {path}: cannot decode ({message}); the file is corrupt or truncated; leave such \
         images out with `--on-bad skip` (on_bad: skip)"
    )]
    BadImage { path: PathBuf, message: String },
    #[error("captions file {path}: no image has both a caption and a file")]
    Empty { path: PathBuf },
}
