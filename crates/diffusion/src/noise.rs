//! Host-side Gaussian noise from an explicit seeded generator.
//!
//! All randomness of this crate comes from a caller's `StdRng`: normals are drawn on the host
//! (rand_distr, f32, row-major) and uploaded, so a run is reproducible bit for bit on any
//! backend and training can resume exactly from a saved generator state.

use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

/// `StdRng::seed_from_u64(seed)`.
pub fn seeded_rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// `shape` standard normals, drawn in row-major order.
pub fn randn<const D: usize>(shape: [usize; D], rng: &mut StdRng, device: &Device) -> Tensor<D> {
    let n = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| StandardNormal.sample(rng)).collect();
    Tensor::from_data(TensorData::new(v, shape), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_noise_and_roughly_standard() {
        let device = Device::flex();
        let a = randn([4, 1, 16, 16], &mut seeded_rng(7), &device)
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        let b = randn([4, 1, 16, 16], &mut seeded_rng(7), &device)
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        assert_eq!(a, b);
        let c = randn([4, 1, 16, 16], &mut seeded_rng(8), &device)
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        assert_ne!(a, c);
        let mean = a.iter().sum::<f32>() / a.len() as f32;
        let var = a.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / a.len() as f32;
        // 1024 draws: standard errors 0.031 (mean) and 0.044 (variance); 5 of them
        assert!(
            mean.abs() < 0.16 && (var - 1.0).abs() < 0.22,
            "mean {mean} var {var}"
        );
    }
}
