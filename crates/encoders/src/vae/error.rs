//! Why a pretrained network could not be loaded. Every variant names the file and the field or
//! tensor, with what was expected and what was found.

use std::path::PathBuf;

/// A loading failure of a pretrained network directory.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
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
}
