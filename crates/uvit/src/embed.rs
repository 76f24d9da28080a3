//! Embeddings in and out of token space: patches, the time token, unpatchify.

use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Tensor, TensorData};

/// Conv2d(in, dim, k = p, s = p) -> tokens. PyTorch name: `patch_embed.proj`.
#[derive(Module, Debug)]
pub struct PatchEmbed {
    pub proj: Conv2d,
}

impl PatchEmbed {
    pub fn new(in_chans: usize, dim: usize, patch: usize, device: &Device) -> Self {
        Self {
            proj: Conv2dConfig::new([in_chans, dim], [patch, patch])
                .with_stride([patch, patch])
                .with_padding(PaddingConfig2d::Valid)
                .init(device),
        }
    }

    /// `[batch, chans, H, W] -> [batch, (H/p)(W/p), dim]` (row-major patches).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<3> {
        let y = self.proj.forward(x); // [B, D, h, w]
        let [b, d, h, w] = y.dims();
        y.reshape([b, d, h * w]).swap_dims(1, 2)
    }
}

/// Frequencies of the sinusoidal time embedding, computed in f32 exactly as U-ViT does:
/// `exp(-ln(10000) * i / half)` for `i in 0..half`.
pub fn time_frequencies(dim: usize) -> Vec<f32> {
    let half = dim / 2;
    let ln = -(10000f64.ln() as f32);
    (0..half)
        .map(|i| (ln * i as f32 / half as f32).exp())
        .collect()
}

/// U-ViT's `timestep_embedding`: `t: [batch]` (model time, may be fractional)
/// -> `[batch, dim]` = `[cos(t f), sin(t f)]` (cos first), zero-padded if `dim` is odd.
pub fn timestep_embedding(t: Tensor<1>, dim: usize) -> Tensor<2> {
    let device = t.device();
    let freqs = time_frequencies(dim);
    let half = freqs.len();
    let freqs: Tensor<2> = Tensor::from_data(TensorData::new(freqs, [1, half]), &device);
    let args = t.unsqueeze_dim::<2>(1) * freqs; // [B, half]
    let mut parts = vec![args.clone().cos(), args.sin()];
    if dim % 2 == 1 {
        let b = parts[0].dims()[0];
        parts.push(Tensor::zeros([b, 1], &device));
    }
    Tensor::cat(parts, 1)
}

/// `[batch, h*w, p*p*C] -> [batch, C, h*p, w*p]` (einops `B (h w) (p1 p2 C) -> B C (h p1) (w p2)`).
pub fn unpatchify(x: Tensor<3>, chans: usize) -> Tensor<4> {
    let [b, n, pd] = x.dims();
    let p = ((pd / chans) as f64).sqrt().round() as usize;
    let h = (n as f64).sqrt().round() as usize;
    debug_assert_eq!(p * p * chans, pd);
    debug_assert_eq!(h * h, n);
    let x: Tensor<6> = x.reshape([b, h, h, p, p, chans]);
    // [B, h, w, p1, p2, C] -> [B, C, h, p1, w, p2]
    x.permute([0, 5, 1, 3, 2, 4])
        .reshape([b, chans, h * p, h * p])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Tolerance;

    #[test]
    fn time_embedding_matches_formula() {
        let device = Device::flex();
        let t = Tensor::<1>::from_data(TensorData::new(vec![0.0f32, 1.0, 999.0], [3]), &device);
        let e = timestep_embedding(t, 8).into_data();
        let e = e.as_slice::<f32>().unwrap();
        // t = 0: cos = 1, sin = 0
        assert_eq!(&e[0..8], &[1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
        // t = 1, i = 1: freq = 10000^(-1/4) = 0.1
        assert!((e[8 + 1] - 0.1f32.cos()).abs() < 1e-6);
        assert!((e[8 + 5] - 0.1f32.sin()).abs() < 1e-6);
        assert!((e[16] - 999f32.cos()).abs() < 1e-5);
    }

    #[test]
    fn unpatchify_inverts_patchify_order() {
        let device = Device::flex();
        // One patch grid 2x2 of 2x2 patches, 1 channel: token k holds the 4 pixels of patch k.
        let vals: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let x = Tensor::<3>::from_data(TensorData::new(vals, [1, 4, 4]), &device);
        let img = unpatchify(x, 1);
        let expected = TensorData::new(
            vec![
                0.0f32, 1.0, 4.0, 5.0, //
                2.0, 3.0, 6.0, 7.0, //
                8.0, 9.0, 12.0, 13.0, //
                10.0, 11.0, 14.0, 15.0,
            ],
            [1, 1, 4, 4],
        );
        img.into_data()
            .assert_approx_eq::<f32>(&expected, Tolerance::absolute(0.0));
    }
}
