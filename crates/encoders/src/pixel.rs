//! The identity/pixel "autoencoder": latents are (average-pooled) pixels, the log-variance
//! is the clamp floor (-30: effectively deterministic), decoding repeats each latent cell.

use burn::tensor::Tensor;

use crate::autoencoder::{Autoencoder, LOGVAR_RANGE};

/// Pixels as latents, downsampled by `factor` (1 = identity).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PixelAutoencoder {
    pub factor: usize,
}

impl PixelAutoencoder {
    pub fn new(factor: usize) -> Self {
        Self {
            factor: factor.max(1),
        }
    }
}

impl Autoencoder for PixelAutoencoder {
    fn name(&self) -> String {
        format!("pixel-f{}", self.factor)
    }

    fn latent_channels(&self) -> usize {
        3
    }

    fn downsample(&self) -> usize {
        self.factor
    }

    fn encode_moments(&self, images: Tensor<4>) -> Tensor<4> {
        let [b, c, h, w] = images.dims();
        let f = self.factor;
        let (lh, lw) = (h / f, w / f);
        // [B, C, H, W] -> [B, C, h, f, w, f] -> mean over both f axes -> [B, C, h, w]
        let mean = images
            .slice([0..b, 0..c, 0..lh * f, 0..lw * f])
            .reshape([b, c, lh, f, lw, f])
            .mean_dim(5)
            .mean_dim(3)
            .reshape([b, c, lh, lw]);
        let logvar = mean.zeros_like() + LOGVAR_RANGE.0;
        Tensor::cat(vec![mean, logvar], 1) // [B, 2C, h, w]
    }

    fn decode(&self, latents: Tensor<4>) -> Tensor<4> {
        let [b, c, h, w] = latents.dims();
        let f = self.factor;
        latents
            .reshape([b, c, h, 1, w, 1])
            .expand([b, c, h, f, w, f])
            .reshape([b, c, h * f, w * f])
            .clamp(-1.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn pools_then_repeats() {
        let device = Device::flex();
        let x: Vec<f32> = (0..16).map(|v| v as f32 / 16.0).collect();
        let img = Tensor::<4>::from_data(TensorData::new(x, [1, 1, 4, 4]), &device);
        let ae = PixelAutoencoder::new(2);
        let m = ae.encode_moments(img);
        assert_eq!(m.dims(), [1, 2, 2, 2]);
        let m = m.into_data().try_to_vec::<f32>().unwrap();
        // top-left 2x2 block: (0 + 1 + 4 + 5) / 4 / 16
        assert!((m[0] - 2.5 / 16.0).abs() < 1e-6, "{m:?}");
        assert!((m[3] - 12.5 / 16.0).abs() < 1e-6, "{m:?}");
        assert!(m[4..].iter().all(|&v| v == -30.0));
        let lat = Tensor::<4>::from_data(
            TensorData::new(vec![0.1f32, 0.2, 0.3, 0.4], [1, 1, 2, 2]),
            &device,
        );
        let d = ae.decode(lat).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(&d[..8], &[0.1, 0.1, 0.2, 0.2, 0.1, 0.1, 0.2, 0.2]);
        assert_eq!(PixelAutoencoder::new(1).name(), "pixel-f1");
    }
}
