//! Feature statistics (mean and covariance) accumulated in f64 in a streaming way, and
//! their pytorch-fid `.npz` layout (`mu` [D], `sigma` [D, D], float64).

use std::path::Path;

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat};

use super::error::FidError;
use super::npy::{NpyArray, NpyDtype, read_npz, write_npz};

/// Mean and (unbiased, `np.cov` ddof=1) covariance of `n` feature vectors.
#[derive(Debug, Clone, PartialEq)]
pub struct FidStats {
    pub mu: Vec<f64>,    // [D]
    pub sigma: Vec<f64>, // [D, D] row-major
    /// Samples behind the statistics (0 when read from a file that does not say).
    pub n: usize,
}

impl FidStats {
    pub fn dim(&self) -> usize {
        self.mu.len()
    }

    /// Reads pytorch-fid's layout. Checks shapes and finiteness; errors name the file.
    pub fn read_npz(path: &Path) -> Result<Self, FidError> {
        let arrays = read_npz(path)?;
        let get = |k: &str| {
            arrays.get(k).ok_or_else(|| {
                let found: Vec<&String> = arrays.keys().collect();
                FidError::file(path, format!("no `{k}` array (found {found:?}); FID statistics hold `mu` [D] and `sigma` [D, D] as pytorch-fid writes them (`ifvit fid-stats`)"))
            })
        };
        let (mu, sigma) = (get("mu")?, get("sigma")?);
        let d = mu.data.len();
        if mu.shape.len() != 1 {
            return Err(FidError::file(
                path,
                format!("`mu` has shape {:?}, expected [D]", mu.shape),
            ));
        }
        if sigma.shape != [d, d] {
            return Err(FidError::file(
                path,
                format!(
                    "`sigma` has shape {:?}, expected [{d}, {d}] to match `mu` [{d}]",
                    sigma.shape
                ),
            ));
        }
        let n = arrays
            .get("n")
            .and_then(|a| a.data.first())
            .map(|v| *v as usize)
            .unwrap_or(0);
        let stats = FidStats {
            mu: mu.data.clone(),
            sigma: sigma.data.clone(),
            n,
        };
        stats.check_finite().map_err(|m| {
            FidError::file(
                path,
                format!("{m}; recompute the statistics (`ifvit fid-stats`)"),
            )
        })?;
        Ok(stats)
    }

    /// Writes `mu`, `sigma` (float64, as pytorch-fid) and `n`, atomically.
    pub fn write_npz(&self, path: &Path) -> Result<(), FidError> {
        let d = self.dim();
        let mu = NpyArray {
            shape: vec![d],
            data: self.mu.clone(),
        };
        let sigma = NpyArray {
            shape: vec![d, d],
            data: self.sigma.clone(),
        };
        let n = NpyArray {
            shape: vec![],
            data: vec![self.n as f64],
        };
        write_npz(
            path,
            &[
                ("mu", &mu, NpyDtype::F64),
                ("sigma", &sigma, NpyDtype::F64),
                ("n", &n, NpyDtype::F64),
            ],
        )
    }

    pub(crate) fn check_finite(&self) -> Result<(), String> {
        if let Some(i) = self.mu.iter().position(|v| !v.is_finite()) {
            return Err(format!("`mu`[{i}] is {}", self.mu[i]));
        }
        if let Some(i) = self.sigma.iter().position(|v| !v.is_finite()) {
            let d = self.dim();
            return Err(format!(
                "`sigma`[{}, {}] is {}",
                i / d,
                i % d,
                self.sigma[i]
            ));
        }
        Ok(())
    }
}

/// Streaming mean/covariance in f64: batches are merged with Chan et al.'s pairwise update
/// (mean and centred scatter), so no large raw sums cancel.
#[derive(Debug, Clone)]
pub struct StatsAccumulator {
    dim: usize,
    n: usize,
    mean: Vec<f64>,    // [D]
    scatter: Mat<f64>, // [D, D] sum of centred outer products
}

impl StatsAccumulator {
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            n: 0,
            mean: vec![0.0; dim],
            scatter: Mat::zeros(dim, dim),
        }
    }

    pub fn count(&self) -> usize {
        self.n
    }

    /// Adds a batch `[B, D]` (row-major f32 as the Inception returns, or f64). `what` names
    /// the source in the NaN / shape error.
    pub fn add_batch<T: Copy + Into<f64>>(
        &mut self,
        feats: &[T],
        what: &str,
    ) -> Result<(), FidError> {
        let d = self.dim;
        if !feats.len().is_multiple_of(d) {
            return Err(FidError::invalid(
                what,
                format!("{} values are not rows of {d} features", feats.len()),
            ));
        }
        if let Some(i) = feats.iter().position(|v| !(*v).into().is_finite()) {
            let v: f64 = feats[i].into();
            return Err(FidError::invalid(
                what,
                format!("feature row {} column {} is {v}", i / d, i % d),
            ));
        }
        let b = feats.len() / d;
        if b == 0 {
            return Ok(());
        }
        let mut bmean = vec![0.0f64; d];
        for row in feats.chunks_exact(d) {
            for (m, v) in bmean.iter_mut().zip(row) {
                *m += (*v).into();
            }
        }
        bmean.iter_mut().for_each(|m| *m /= b as f64);
        // Batch scatter sum_r (x_r - bmean)(x_r - bmean)^T = Xc^T Xc, plus Chan's correction
        // w * delta delta^T, both accumulated with one gemm each (faer, f64).
        let xc = Mat::from_fn(b, d, |r, j| feats[r * d + j].into() - bmean[j]); // [B, D]
        let (n, nb) = (self.n as f64, b as f64);
        let tot = n + nb;
        let delta: Vec<f64> = bmean.iter().zip(&self.mean).map(|(b, a)| b - a).collect();
        let w = n * nb / tot;
        let dl = Mat::from_fn(1, d, |_, j| delta[j]); // [1, D]
        let par = faer::get_global_parallelism();
        matmul(
            self.scatter.as_mut(),
            Accum::Add,
            xc.transpose(),
            &xc,
            1.0,
            par,
        );
        matmul(
            self.scatter.as_mut(),
            Accum::Add,
            dl.transpose(),
            &dl,
            w,
            par,
        );
        for (m, dl) in self.mean.iter_mut().zip(&delta) {
            *m += dl * nb / tot;
        }
        self.n += b;
        Ok(())
    }

    /// The statistics; needs at least two samples for a covariance.
    pub fn finish(&self, what: &str) -> Result<FidStats, FidError> {
        if self.n < 2 {
            return Err(FidError::invalid(
                what,
                format!(
                    "{} feature vectors: a covariance needs at least 2 (FID wants thousands)",
                    self.n
                ),
            ));
        }
        let d = self.dim;
        let mut sigma = vec![0.0; d * d];
        let den = (self.n - 1) as f64;
        for i in 0..d {
            for j in i..d {
                // Exactly symmetric: the two gemm halves may differ in the last bit.
                let v = 0.5 * (self.scatter[(i, j)] + self.scatter[(j, i)]) / den;
                sigma[i * d + j] = v;
                sigma[j * d + i] = v;
            }
        }
        Ok(FidStats {
            mu: self.mean.clone(),
            sigma,
            n: self.n,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_equals_two_pass_covariance() {
        // 7 samples of 3 features with a large offset (cancellation-prone), in uneven batches.
        let x: Vec<f32> = (0..21)
            .map(|i| 1000.0 + ((i * 37 % 11) as f32) * 0.25 + (i % 3) as f32)
            .collect();
        let mut acc = StatsAccumulator::new(3);
        acc.add_batch(&x[..6], "a").unwrap();
        acc.add_batch(&x[6..9], "a").unwrap();
        acc.add_batch(&x[9..], "a").unwrap();
        let s = acc.finish("a").unwrap();
        let n = 7.0;
        let mean: Vec<f64> = (0..3)
            .map(|j| (0..7).map(|r| x[r * 3 + j] as f64).sum::<f64>() / n)
            .collect();
        for i in 0..3 {
            assert!((s.mu[i] - mean[i]).abs() < 1e-9);
            for j in 0..3 {
                let c: f64 = (0..7)
                    .map(|r| (x[r * 3 + i] as f64 - mean[i]) * (x[r * 3 + j] as f64 - mean[j]))
                    .sum::<f64>()
                    / (n - 1.0);
                assert!(
                    (s.sigma[i * 3 + j] - c).abs() < 1e-9,
                    "sigma[{i},{j}] {} vs {c}",
                    s.sigma[i * 3 + j]
                );
            }
        }
        assert_eq!(s.n, 7);
    }

    #[test]
    fn nan_and_ragged_batches_are_errors() {
        let mut acc = StatsAccumulator::new(2);
        let e = acc
            .add_batch(&[1.0, f32::NAN], "img/x.png")
            .unwrap_err()
            .to_string();
        assert!(e.contains("img/x.png") && e.contains("NaN"), "{e}");
        assert!(acc.add_batch(&[1.0, 2.0, 3.0], "f").is_err());
        assert!(
            acc.finish("f")
                .unwrap_err()
                .to_string()
                .contains("at least 2")
        );
    }
}
