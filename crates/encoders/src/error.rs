//! Errors of loading a network from its files, and of encoding.

use std::path::PathBuf;

use ifvit_data::tokenizer::TokenizeError;

/// A network directory or file that cannot be used. Every variant names the file, and the
/// tensor or field, with what was expected and what was found.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: missing ({what}); {fix}")]
    MissingFile {
        path: PathBuf,
        what: String,
        fix: String,
    },
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: not valid {format}: {message}")]
    Parse {
        path: PathBuf,
        format: String,
        message: String,
    },
    #[error("{path}: field `{field}`: expected {expected}, found {found}")]
    Config {
        path: PathBuf,
        field: String,
        expected: String,
        found: String,
    },
    #[error("{path}: missing tensor `{tensor}` (expected shape {expected:?})")]
    MissingTensor {
        path: PathBuf,
        tensor: String,
        expected: Vec<usize>,
    },
    #[error("{path}: tensor `{tensor}`: expected shape {expected:?}, found {found:?}")]
    Shape {
        path: PathBuf,
        tensor: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("{path}: tensor `{tensor}`: expected dtype F32, F16 or BF16, found {found}")]
    Dtype {
        path: PathBuf,
        tensor: String,
        found: String,
    },
    #[error("{path}: tokenizer: {message}")]
    Tokenizer { path: PathBuf, message: String },
}

impl LoadError {
    /// Maps a read error of `path`: a missing file becomes [`LoadError::MissingFile`].
    pub fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> LoadError + '_ {
        move |error| {
            if error.kind() == std::io::ErrorKind::NotFound {
                LoadError::MissingFile {
                    path: path.to_path_buf(),
                    what: "file not found".into(),
                    fix: "pass the model directory that holds it".into(),
                }
            } else {
                LoadError::Io {
                    path: path.to_path_buf(),
                    error,
                }
            }
        }
    }
}

/// Why a batch could not be encoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EncodeError {
    #[error(transparent)]
    Tokenize(#[from] TokenizeError),
    #[error("{0}")]
    Input(String),
}
