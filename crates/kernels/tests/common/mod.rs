//! Shared helpers of the kernel tests: deterministic inputs and tolerant comparison.

#![allow(dead_code)]

use burn::tensor::{Device, Tensor, TensorData};

/// Deterministic values in about [-scale, scale] (a 64-bit LCG; no rand dependency).
pub fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

pub fn tensor<const D: usize>(
    dims: [usize; D],
    seed: u64,
    scale: f32,
    device: &Device,
) -> Tensor<D> {
    let n = dims.iter().product();
    Tensor::from_data(TensorData::new(values(n, seed, scale), dims), device)
}

pub fn to_vec<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.to_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

/// Largest absolute difference; panics with `what` when it exceeds `tol` or lengths differ.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) -> f32 {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    let mut worst = 0.0f32;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let d = (g - w).abs();
        assert!(
            d.is_finite() && d <= tol,
            "{what}[{i}]: {g} vs {w} (|diff| {d:e} > {tol:e})"
        );
        worst = worst.max(d);
    }
    worst
}
