//! The Frechet distance between two Gaussians (FID):
//! `|mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr sqrt(S1 S2)`.
//!
//! `tr sqrt(S1 S2)` without a general matrix square root: `S1 S2` is similar to the
//! symmetric PSD matrix `M = S1^(1/2) S2 S1^(1/2)` (`S1 S2 = S1^(1/2) M S1^(-1/2)` when
//! `S1` is invertible, and by continuity otherwise), so `tr sqrt(S1 S2) = sum_i sqrt(l_i(M))`.
//! Both steps use a symmetric eigensolver (faer, f64): `S1^(1/2) = U diag(sqrt l) U^T`, then
//! the eigenvalues of `M`. Symmetric eigensolvers are backward stable and need no complex
//! arithmetic, unlike scipy's Schur-based `sqrtm` that pytorch-fid calls on the
//! non-symmetric `S1 S2` (which can return imaginary parts and, on singular covariances,
//! needs pytorch-fid's `eps * I` offset). Eigenvalues below the solver's resolution
//! (`d * eps * max|l|`, including those rounding pushes below zero) are taken as 0: without
//! this, the square roots of rounding noise (`sqrt(1e-16)` each) would add up to a visible
//! FID for a low-rank set compared with itself.

use faer::{Mat, Side};

use super::error::FidError;
use super::stats::FidStats;

/// FID between two statistics of the same dimension.
pub fn frechet_distance(a: &FidStats, b: &FidStats) -> Result<f64, FidError> {
    if a.dim() != b.dim() {
        return Err(FidError::invalid(
            "FID",
            format!(
                "feature dimensions differ: {} vs {} (both must come from the same network, e.g. Inception pool3 = 2048)",
                a.dim(),
                b.dim()
            ),
        ));
    }
    for (s, name) in [(a, "first"), (b, "second")] {
        s.check_finite()
            .map_err(|m| FidError::invalid(format!("FID {name} statistics"), m))?;
    }
    let d = a.dim();
    let mean_term: f64 = a.mu.iter().zip(&b.mu).map(|(x, y)| (x - y) * (x - y)).sum();
    let tr = |s: &[f64]| (0..d).map(|i| s[i * d + i]).sum::<f64>();
    let covmean_trace = trace_sqrt_product(&a.sigma, &b.sigma, d)?;
    Ok(mean_term + tr(&a.sigma) + tr(&b.sigma) - 2.0 * covmean_trace)
}

/// `tr sqrt(S1 S2)` for symmetric PSD `S1`, `S2` (row-major `[d, d]`).
pub fn trace_sqrt_product(s1: &[f64], s2: &[f64], d: usize) -> Result<f64, FidError> {
    let m1 = Mat::from_fn(d, d, |i, j| 0.5 * (s1[i * d + j] + s1[j * d + i]));
    let m2 = Mat::from_fn(d, d, |i, j| 0.5 * (s2[i * d + j] + s2[j * d + i]));
    let e = m1
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| FidError::Linalg(format!("eigendecomposition of sigma1: {e:?}")))?;
    let u = e.U();
    let l = e.S().column_vector();
    let l: Vec<f64> = (0..d).map(|i| l[i]).collect();
    let sq: Vec<f64> = denoised(&l).iter().map(|v| v.sqrt()).collect();
    let us = Mat::from_fn(d, d, |i, j| u[(i, j)] * sq[j]);
    let root1 = &us * u.transpose(); // S1^(1/2)
    let m = &(&root1 * &m2) * &root1;
    let m = Mat::from_fn(d, d, |i, j| 0.5 * (m[(i, j)] + m[(j, i)]));
    let ev = m
        .self_adjoint_eigenvalues(Side::Lower)
        .map_err(|e| FidError::Linalg(format!("eigenvalues of S1^1/2 S2 S1^1/2: {e:?}")))?;
    Ok(denoised(&ev).iter().map(|v| v.sqrt()).sum())
}

/// Eigenvalues of a PSD matrix with those below `d * eps * max|l|` set to 0.
fn denoised(l: &[f64]) -> Vec<f64> {
    let max = l.iter().fold(0f64, |m, v| m.max(v.abs()));
    let tol = l.len() as f64 * f64::EPSILON * max;
    l.iter().map(|&v| if v > tol { v } else { 0.0 }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(mu: Vec<f64>, sigma: Vec<f64>) -> FidStats {
        FidStats { mu, sigma, n: 0 }
    }

    #[test]
    fn diagonal_covariances_have_a_closed_form() {
        // Diagonal: FID = |dmu|^2 + sum (sqrt(a_i) - sqrt(b_i))^2.
        let a = stats(
            vec![0.0, 1.0, 2.0],
            vec![4.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 9.0],
        );
        let b = stats(
            vec![1.0, 1.0, 0.0],
            vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 4.0],
        );
        let want = 1.0 + 4.0 + (2.0f64 - 1.0).powi(2) + 0.0 + (3.0f64 - 2.0).powi(2);
        let got = frechet_distance(&a, &b).unwrap();
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }

    #[test]
    fn a_set_against_itself_is_zero_even_when_singular() {
        // Rank-1 covariance: scipy's sqrtm struggles here; the symmetric route does not.
        let v = [1.0, 2.0, -1.0];
        let sigma: Vec<f64> = (0..9).map(|k| v[k / 3] * v[k % 3]).collect();
        let a = stats(vec![0.3, 0.1, 0.2], sigma);
        assert!(frechet_distance(&a, &a).unwrap().abs() < 1e-12);
    }

    #[test]
    fn dimension_mismatch_and_nan_are_errors() {
        let a = stats(vec![0.0], vec![1.0]);
        let b = stats(vec![0.0, 0.0], vec![1.0, 0.0, 0.0, 1.0]);
        assert!(
            frechet_distance(&a, &b)
                .unwrap_err()
                .to_string()
                .contains("1 vs 2")
        );
        let c = stats(vec![f64::NAN], vec![1.0]);
        assert!(
            frechet_distance(&a, &c)
                .unwrap_err()
                .to_string()
                .contains("NaN")
        );
    }
}
