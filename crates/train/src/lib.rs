//! Training, sampling and the fusion ablation.

pub mod ablate;
pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod ema;
pub mod error;
pub mod eval;
pub mod load;
pub mod lr;
pub mod model;
pub mod optim;
pub mod plot;
pub mod preflight;
pub mod report;
pub mod runlock;
pub mod sample;
pub mod signals;
pub mod step;
pub mod text;
pub mod trainer;
pub mod weights;

pub use config::ExperimentConfig;
pub use error::TrainError;
pub use model::{LearnedText, TextToImage};
pub use trainer::{Silent, TrainOptions, TrainOutcome, TrainProgress, train};
