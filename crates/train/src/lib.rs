//! Training, sampling and the fusion ablation.

pub mod ablate;
pub mod arm;
pub mod arm_quality;
pub mod attention_rank;
pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod ema;
pub mod error;
pub mod eval;
pub mod eval_run;
mod learner;
pub mod load;
pub mod losslog;
pub mod lr;
pub mod model;
pub mod optim;
pub mod plot;
pub mod preflight;
pub mod quality;
pub mod report;
pub mod report_quality;
pub mod runlock;
pub mod sample;
pub mod signals;
pub mod step;
pub mod text;
pub mod trainer;
pub mod weights;

pub use ablate::{ablate, ablate_arms};
pub use arm::Arm;
pub use config::ExperimentConfig;
pub use error::TrainError;
pub use model::{LearnedText, TextToImage};
pub use trainer::{Silent, TrainOptions, TrainOutcome, TrainProgress, train};
