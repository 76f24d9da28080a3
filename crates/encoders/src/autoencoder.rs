//! Images <-> latents: the [`Autoencoder`] trait (SD's KL-f8 and the pixel stand-in implement
//! it) and drawing a latent from stored moments.

use burn::tensor::Tensor;

/// LDM's clamp on stored log-variances.
pub const LOGVAR_RANGE: (f32, f32) = (-30.0, 20.0);

/// An image autoencoder with a diagonal-Gaussian latent (LDM's `DiagonalGaussianDistribution`).
pub trait Autoencoder {
    /// Stable name recorded in cache manifests, e.g. `pixel-f8`.
    fn name(&self) -> String;
    /// Channels `C` of a latent.
    fn latent_channels(&self) -> usize;
    /// Spatial downsampling factor (8 for SD's KL-f8).
    fn downsample(&self) -> usize;
    /// `[B, 3, H, W]` in [-1, 1] -> moments `[B, 2C, H/f, W/f]`: mean (channels `0..C`) then
    /// log-variance (channels `C..2C`).
    fn encode_moments(&self, images: Tensor<4>) -> Tensor<4>;
    /// `[B, C, h, w]` latents -> `[B, 3, h f, w f]` images in [-1, 1].
    fn decode(&self, latents: Tensor<4>) -> Tensor<4>;
}

/// A latent drawn from stored moments: `mean + exp(logvar / 2) * noise`, with the
/// log-variance clamped to [-30, 20] (SPEC section 2). `moments: [B, 2C, h, w]`,
/// `noise: [B, C, h, w]` standard normal.
pub fn sample_latent(moments: Tensor<4>, noise: Tensor<4>) -> Tensor<4> {
    let [b, c2, h, w] = moments.dims();
    let c = c2 / 2;
    let mean = moments.clone().slice([0..b, 0..c, 0..h, 0..w]);
    let logvar = moments
        .slice([0..b, c..c2, 0..h, 0..w])
        .clamp(LOGVAR_RANGE.0, LOGVAR_RANGE.1);
    mean + (logvar * 0.5).exp() * noise
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn sample_latent_uses_clamped_std() {
        let device = Device::flex();
        // C = 1: mean 2, logvar ln 4 (std 2); then logvar 100 clamps to 20.
        let m = Tensor::<4>::from_data(
            TensorData::new(vec![2.0f32, 2.0, 4f32.ln(), 100.0], [1, 2, 1, 2]),
            &device,
        );
        let noise =
            Tensor::<4>::from_data(TensorData::new(vec![1.0f32, 1.0], [1, 1, 1, 2]), &device);
        let z = sample_latent(m, noise)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!((z[0] - 4.0).abs() < 1e-5, "{z:?}");
        assert!((z[1] - (2.0 + 10f32.exp())).abs() < 1.0, "{z:?}");
    }
}
