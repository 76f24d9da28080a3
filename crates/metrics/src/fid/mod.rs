//! FID and KID (docs/metrics.md): Inception pool3 features, streaming f64 statistics in
//! pytorch-fid's `.npz` layout, the Frechet distance through symmetric eigendecompositions,
//! and clean-fid's unbiased polynomial-kernel KID over subsets.

mod error;
mod frechet;
mod images;
mod inputs;
mod kid;
pub mod npy;
mod stats;

pub use error::FidError;
pub use frechet::{frechet_distance, trace_sqrt_product};
pub use images::{
    FeatureConfig, FeatureSink, IMAGE_EXTENSIONS, decode_checked, list_images, preflight_folder,
    stream_folder_features,
};
pub use inputs::{FidInput, input_features, input_stats};
pub use kid::{Features, Kid, KidConfig, kernel_inception_distance, kid_on_subsets};
pub use stats::{FidStats, StatsAccumulator};
