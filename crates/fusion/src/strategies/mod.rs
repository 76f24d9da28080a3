//! The built-in fusion strategies, one file each.

pub mod concat;
pub mod crossattn;
pub mod mmdit;
pub mod pixart;

pub use concat::Concat;
pub use crossattn::{CrossAttn, CrossBlock};
pub use mmdit::{JointAttention, MmditBlock, MmditJoint};
pub use pixart::{PixArtBlock, PixArtCrossAttn};
