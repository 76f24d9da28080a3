//! Why a pretrained network could not be loaded (every variant names the file and the field or
//! tensor, with what was expected and what was found), and why a batch could not be encoded.

use std::path::PathBuf;

use ifvit_data::tokenizer::TokenizeError;

/// A loading failure of a pretrained network directory.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file the directory must hold is absent.
    #[error("{path}: missing ({what}); {fix}")]
    MissingFile {
        path: PathBuf,
        what: String,
        fix: String,
    },
    /// A file the directory must hold is absent or unreadable.
    #[error("{path}: cannot read ({source}); expected {expected}")]
    Io {
        path: PathBuf,
        /// What the file should be, e.g. "a diffusers AutoencoderKL config (stabilityai/sd-vae-ft-mse)".
        expected: String,
        source: std::io::Error,
    },
    /// The config file is not JSON of the right form.
    #[error("{path}: not a valid config: {message}")]
    Json { path: PathBuf, message: String },
    /// A config field holds a value this implementation does not support (or does not know).
    #[error("{path}: field `{field}`: expected {expected}, found {found}")]
    Config {
        path: PathBuf,
        field: String,
        expected: String,
        found: String,
    },
    /// The weights file is not a readable safetensors file.
    #[error("{path}: not a safetensors file: {message}")]
    Safetensors { path: PathBuf, message: String },
    /// A tensor the network needs is absent.
    #[error(
        "{path}: missing tensor `{name}` (expected shape {expected:?}); is this the right model directory?"
    )]
    MissingTensor {
        path: PathBuf,
        name: String,
        expected: Vec<usize>,
    },
    /// A tensor has the wrong shape for the config.
    #[error(
        "{path}: tensor `{name}`: expected shape {expected:?}, found {found:?}; does config.json belong to these weights?"
    )]
    Shape {
        path: PathBuf,
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    /// A tensor has an element type that is not a float this loader converts.
    #[error("{path}: tensor `{name}`: expected dtype F32, F16 or BF16, found {found}")]
    Dtype {
        path: PathBuf,
        name: String,
        found: String,
    },
    /// The file holds tensors the config's network has no place for (strict loaders only).
    #[error(
        "{path}: {count} tensors are not used by the network the config describes, e.g. {examples}; does config.json belong to these weights?"
    )]
    Unused {
        path: PathBuf,
        count: usize,
        examples: String,
    },
    /// The tokenizer file cannot be used.
    #[error("{path}: tokenizer: {message}")]
    Tokenizer { path: PathBuf, message: String },
}

impl LoadError {
    /// Maps a read error of `path` (`expected`: what the file should be): a missing file
    /// becomes [`LoadError::MissingFile`].
    pub fn io<'a>(
        path: &'a std::path::Path,
        expected: &'a str,
    ) -> impl FnOnce(std::io::Error) -> LoadError + 'a {
        move |source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                LoadError::MissingFile {
                    path: path.to_path_buf(),
                    what: expected.to_string(),
                    fix: "pass the model directory that holds it".into(),
                }
            } else {
                LoadError::Io {
                    path: path.to_path_buf(),
                    expected: expected.to_string(),
                    source,
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
