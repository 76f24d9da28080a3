//! Errors of the shapes data set.

use std::path::PathBuf;

use super::caption::CaptionError;

/// Why a shapes config, caption or layout was refused.
#[derive(Debug, thiserror::Error)]
pub enum ShapesError {
    /// A config value that cannot work; the message says which values would.
    #[error("shapes config: `{field}`: {message}")]
    Config {
        field: &'static str,
        message: String,
    },
    #[error("shapes config {path}: cannot read the file: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// RON syntax or schema error (the message has line:column).
    #[error("shapes config {origin}: {message}")]
    ConfigSyntax { origin: String, message: String },
    #[error("unknown shapes preset `{0}`; known presets: default (32 px), small (16 px)")]
    UnknownPreset(String),
    #[error(transparent)]
    Caption(#[from] CaptionError),
    /// The caption's objects do not fit the config's layout.
    #[error("cannot lay out \"{caption}\": {message}")]
    Layout { caption: String, message: String },
}
