//! U-ViT backbone with pluggable text fusion, named presets, cost accounting and
//! PyTorch-checkpoint loading.
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

pub mod config;
pub mod cost;
pub mod embed;
pub mod model;

pub use config::{ConfigError, PRESETS, Preset, UViTConfig};
pub use cost::{BlockCost, Cost, forward_cost, param_count};
pub use model::{LoadError, UViT};
