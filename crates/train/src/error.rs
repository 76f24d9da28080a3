//! Errors of training, sampling and the ablation.

use crate::checkpoint::CheckpointError;
use crate::config::ConfigError;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("model config: {0}")]
    Model(#[from] ifvit_uvit::ConfigError),
    #[error("diffusion: {0}")]
    Diffusion(#[from] ifvit_diffusion::DiffusionError),
    #[error("data: {0}")]
    Data(String),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(
        "loss became {value} at step {step}; training stopped. The last good checkpoint is \
         {last_good}. Lower optim.lr, enable optim.grad_clip_norm, or check the data."
    )]
    NonFiniteLoss {
        step: u64,
        value: f64,
        last_good: String,
    },
    #[error("{path}: {message}")]
    Output { path: String, message: String },
    #[error("{0}")]
    Other(String),
}
