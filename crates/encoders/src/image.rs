//! Images -> one feature vector each: the [`ImageEncoder`] trait (FID Inception-v3 pool3,
//! CLIP vision).

use burn::tensor::Tensor;

/// Images -> features `[B, D]`.
///
/// Input convention: RGB `[B, 3, H, W]` with values in [0, 1], any `H, W`; each encoder does
/// its own preprocessing (resize, crop, normalisation) and documents it.
pub trait ImageEncoder {
    /// Stable name recorded beside computed features.
    fn name(&self) -> String;
    /// Feature width `D` (2048 for Inception pool3, the projection width for CLIP).
    fn dim(&self) -> usize;
    /// `[B, 3, H, W]` in [0, 1] -> `[B, D]`.
    fn encode(&self, images: Tensor<4>) -> Tensor<2>;
}
