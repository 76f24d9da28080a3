//! U-ViT backbone generic over the fusion strategy, named presets, cost accounting and
//! PyTorch-checkpoint IO.
//!
//! ```no_run
//! use burn::tensor::{Device, Tensor};
//! use ifvit_fusion::Fusion;
//! use ifvit_uvit::{UViT, UViTConfig};
//!
//! let device = Device::flex();
//! let cfg = UViTConfig::preset("uvit-tiny", Fusion::IntermediateConcat { c: 1, v: 1 }).unwrap();
//! let model = UViT::new(&cfg, &device).unwrap();
//! let x = Tensor::<4>::zeros([2, 3, 32, 32], &device);
//! let t = Tensor::<1>::from_floats([10.0, 500.0], &device);
//! let text = Tensor::<3>::zeros([2, cfg.num_text_tokens, cfg.context_dim], &device);
//! let eps = model.forward(x, t, text); // [2, 3, 32, 32]
//! ```
//!
//! `UViT<S>` takes any [`ifvit_fusion::FusionStrategy`]; `UViT` alone is `UViT<Fusion>`,
//! the built-in strategies chosen at run time.

pub mod checkpoint;
pub mod config;
pub mod convert;
pub mod cost;
pub mod embed;
pub mod layout;
pub mod model;

pub use checkpoint::CheckpointError;
pub use config::{ConfigError, PRESETS, Preset, UViTConfig};
pub use convert::{ConvertError, from_released_fusion};
pub use cost::{BlockCost, Cost, forward_cost, param_count};
pub use layout::TokenLayout;
pub use model::{BlockProbe, UBlock, UViT};

use burn::tensor::Device;
use ifvit_fusion::FusionStrategy;

/// Why a checkpoint could not be loaded into a model.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

impl<S: FusionStrategy> UViT<S> {
    /// Builds the model for `config` and loads a PyTorch-layout safetensors file into it
    /// (strict: every tensor must be present, shaped right, and used).
    pub fn from_safetensors(
        config: &UViTConfig<S>,
        path: impl AsRef<std::path::Path>,
        device: &Device,
    ) -> Result<Self, LoadError> {
        let model = Self::new(config, device)?;
        Ok(checkpoint::load_safetensors(model, path)?)
    }

    /// Writes the parameters as a PyTorch-layout safetensors file (atomically).
    pub fn save_safetensors(
        &self,
        path: impl AsRef<std::path::Path>,
    ) -> Result<(), CheckpointError> {
        checkpoint::save_safetensors(self, path)
    }
}
