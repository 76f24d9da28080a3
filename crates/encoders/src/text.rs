//! Captions -> token features: the [`TextEncoder`] trait.

use burn::tensor::{Bool, Device, Tensor};

use crate::error::EncodeError;

/// Token features of a batch of captions.
#[derive(Clone, Debug)]
pub struct TextFeatures {
    /// `[B, L, D]` one feature vector per token position (padding positions included).
    pub features: Tensor<3>,
    /// `[B, L]` true where the position holds a real token (special tokens included), false at
    /// padding. Encoders that do not distinguish padding (the learned stand-in, CLIP, whose
    /// 77 positions U-ViT all uses) mark every position true.
    pub mask: Tensor<2, Bool>,
}

/// Captions -> context features `[B, L, D]` for a fixed `L` (the encoder pads or truncates).
pub trait TextEncoder {
    /// Stable name recorded in cache manifests and run configs.
    fn name(&self) -> String;
    /// Tokens per caption `L` (77 for CLIP).
    fn context_length(&self) -> usize;
    /// Feature width `D` (768 for CLIP ViT-L/14, 384 for all-MiniLM-L6-v2).
    fn dim(&self) -> usize;
    /// `captions` -> features `[B, L, D]` + mask `[B, L]`.
    fn encode(&self, captions: &[&str], device: &Device) -> Result<TextFeatures, EncodeError>;
}

/// A mask with every position true: `[b, l]`.
pub fn full_mask(b: usize, l: usize, device: &Device) -> Tensor<2, Bool> {
    Tensor::<2>::ones([b, l], device).greater_elem(0.5)
}
