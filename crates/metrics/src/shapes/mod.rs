//! The exact alignment scorer of the `shapes` data set: a GenEval-style check that needs no
//! pretrained network.
//!
//! An image is segmented by colour against the palette (background threshold, 4-connected
//! components, small-blob filtering with fringe absorption: [`segment`]), each object is
//! measured and classified as circle / square / triangle ([`features`]), and the objects
//! are checked against the caption per aspect: count, colour, shape, relation and
//! all-correct ([`score`]); [`AlignmentReport`] aggregates. Definitions, thresholds and
//! measured robustness: `docs/shapes.md`.

pub mod bounds;
pub mod features;
pub mod perturb;
pub mod report;
pub mod score;
pub mod scorer;
pub mod segment;

pub use bounds::{Bounds, bounds};
pub use features::DetectedObject;
pub use report::{AlignmentReport, AspectMeans, CheckIntervals};
pub use score::{AlignmentScore, score_objects};
pub use scorer::{ScoreError, ShapesScorer};
pub use segment::ScorerConfig;
