//! ifvit-metrics: evaluation.
//!
//! * [`shapes`]: the exact alignment scorer of the built-in `shapes` data set;
//! * [`fid`]: FID and KID (Inception pool3 statistics, `.npz` files);
//! * [`rank`]: effective rank and energy ranks of a matrix's spectrum;
//! * [`grid`]: captioned image grids (data previews, sample sheets);
//! * [`stats`]: binomial intervals, paired comparisons, spread over seeds.

pub mod fid;
mod font;
pub mod grid;
pub mod rank;
pub mod shapes;
pub mod stats;

pub use grid::{GridStyle, caption_grid, caption_grid_with};
pub use shapes::{AlignmentReport, AlignmentScore, ShapesScorer};
pub use stats::{Paired, Proportion, Spread};
