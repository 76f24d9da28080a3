//! FID/KID errors: each names the file (or input) and says what to do.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum FidError {
    /// A file could not be read, written or understood.
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    /// Inputs are inconsistent (dimension mismatch, too few samples, NaN).
    #[error("{what}: {message}")]
    Invalid { what: String, message: String },
    #[error("linear algebra failed: {0}")]
    Linalg(String),
}

impl FidError {
    pub fn file(path: &Path, message: impl Into<String>) -> Self {
        FidError::File {
            path: path.to_owned(),
            message: message.into(),
        }
    }
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        FidError::Invalid {
            what: what.into(),
            message: message.into(),
        }
    }
}
