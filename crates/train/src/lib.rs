//! Training, sampling and the fusion ablation.

pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod ema;
pub mod error;
pub mod lr;
pub mod model;
pub mod preflight;
pub mod step;
pub mod trainer;

pub use config::ExperimentConfig;
pub use error::TrainError;
pub use model::{LearnedText, TextToImage};
pub use trainer::{Silent, TrainOptions, TrainOutcome, TrainProgress, train};
