//! `shapes`: the built-in procedural text-image data set.
//!
//! RGB images (32x32 by default) of 1-4 flat, saturated circles, squares and triangles on
//! black, each with a caption from a small grammar that tests one compositional skill:
//!
//! | aspect   | example caption                        |
//! |----------|----------------------------------------|
//! | count    | "three green squares"                  |
//! | binding  | "a red circle and a blue triangle"     |
//! | relation | "a yellow square above a red circle"   |
//!
//! Item `i` of a config with seed `s` is a pure function of `(s, i)` ([`ShapesGenerator`],
//! [`ShapesDataset`]); [`eval_prompts`] gives fixed evaluation captions, seen
//! or holding compositions training never shows ([`Holdout`]); captions
//! parse back into a [`CaptionSpec`] (the exact scorer in `ifvit-metrics` uses that).
//! Design notes and the grammar: `docs/shapes.md`.

pub mod caption;
pub mod config;
pub mod dataset;
pub mod error;
pub mod generate;
pub mod holdout;
pub mod image_tensor;
pub mod layout;
pub mod prompts;
pub mod scene;
pub mod vocab;

pub use caption::{Aspect, CaptionError, CaptionSpec, Group};
pub use config::{AspectWeights, MinMax, Placement, ShapesConfig};
pub use dataset::ShapesDataset;
pub use error::ShapesError;
pub use generate::{ShapesGenerator, ShapesItem, item_rng};
pub use holdout::{HeldOut, Holdout, Novelty};
pub use image_tensor::{ImageTensorError, images_to_tensor, tensor_to_images};
pub use prompts::{HELD_OUT_SEED, Prompt, Split, eval_prompts, held_out_prompts};
pub use scene::{Scene, SceneObject};
pub use vocab::{Color, Relation, Shape};
