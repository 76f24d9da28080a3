//! Kernel Inception Distance (Binkowski et al. 2018), as clean-fid's `kernel_distance`:
//! the unbiased MMD^2 estimate with the cubic polynomial kernel
//! `k(x, y) = (x.y / d + 1)^3`, averaged over random subsets of `m = min(n1, n2, 1000)`
//! samples drawn without replacement from each set (100 subsets by default).
//!
//! Per subset: `(sum_{i!=j} k(x_i,x_j) + sum_{i!=j} k(y_i,y_j)) / (m (m-1)) - 2 sum k(x_i,y_j) / m^2`.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::index::sample;

use super::error::FidError;

/// KID settings (clean-fid's defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KidConfig {
    pub num_subsets: usize,
    pub max_subset_size: usize,
    pub seed: u64,
}

impl Default for KidConfig {
    fn default() -> Self {
        Self {
            num_subsets: 100,
            max_subset_size: 1000,
            seed: 0,
        }
    }
}

/// Mean and standard deviation (over subsets) of the KID estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Kid {
    pub mean: f64,
    pub std: f64,
    /// Samples per subset.
    pub subset_size: usize,
    pub num_subsets: usize,
}

/// A feature set `[n, d]`, row-major.
#[derive(Debug, Clone, Copy)]
pub struct Features<'a> {
    pub data: &'a [f64],
    pub n: usize,
    pub d: usize,
}

impl<'a> Features<'a> {
    /// Checks `data.len() == n * d` and finiteness; `what` names the source in errors.
    pub fn new(data: &'a [f64], d: usize, what: &str) -> Result<Self, FidError> {
        if d == 0 || !data.len().is_multiple_of(d) {
            return Err(FidError::invalid(
                what,
                format!("{} values are not rows of {d} features", data.len()),
            ));
        }
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(FidError::invalid(
                what,
                format!(
                    "feature row {} column {} is {}: regenerate the features",
                    i / d,
                    i % d,
                    data[i]
                ),
            ));
        }
        Ok(Self {
            data,
            n: data.len() / d,
            d,
        })
    }

    fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.d..(i + 1) * self.d]
    }
}

/// KID with random subsets (seeded); subsets of set 2 and set 1 are drawn in clean-fid's
/// order (x from the second set, y from the first).
pub fn kernel_inception_distance(
    a: Features,
    b: Features,
    cfg: KidConfig,
) -> Result<Kid, FidError> {
    check_pair(&a, &b)?;
    let m = a.n.min(b.n).min(cfg.max_subset_size);
    if m < 2 {
        return Err(FidError::invalid(
            "KID",
            format!("{m} samples per subset: KID needs at least 2 per set"),
        ));
    }
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let subsets: Vec<(Vec<usize>, Vec<usize>)> = (0..cfg.num_subsets.max(1))
        .map(|_| {
            let x = sample(&mut rng, b.n, m).into_vec();
            let y = sample(&mut rng, a.n, m).into_vec();
            (y, x)
        })
        .collect();
    kid_on_subsets(a, b, &subsets)
}

/// KID over explicit subsets: `(indices into a, indices into b)`, each of the same size m.
pub fn kid_on_subsets(
    a: Features,
    b: Features,
    subsets: &[(Vec<usize>, Vec<usize>)],
) -> Result<Kid, FidError> {
    check_pair(&a, &b)?;
    let d = a.d as f64;
    let k = |u: &[f64], v: &[f64]| {
        let dot: f64 = u.iter().zip(v).map(|(p, q)| p * q).sum();
        (dot / d + 1.0).powi(3)
    };
    let mut values = Vec::with_capacity(subsets.len());
    let mut m_used = 0;
    for (ia, ib) in subsets {
        let m = ia.len();
        if m < 2 || ib.len() != m || ia.iter().any(|&i| i >= a.n) || ib.iter().any(|&i| i >= b.n) {
            return Err(FidError::invalid(
                "KID subsets",
                format!(
                    "subset sizes {} / {} or indices out of range ({} / {} samples)",
                    m,
                    ib.len(),
                    a.n,
                    b.n
                ),
            ));
        }
        m_used = m;
        let (mut kxx, mut kyy, mut kxy) = (0.0, 0.0, 0.0);
        for i in 0..m {
            for j in 0..m {
                if i != j {
                    kxx += k(b.row(ib[i]), b.row(ib[j]));
                    kyy += k(a.row(ia[i]), a.row(ia[j]));
                }
                kxy += k(b.row(ib[i]), a.row(ia[j]));
            }
        }
        let mf = m as f64;
        values.push((kxx + kyy) / (mf * (mf - 1.0)) - 2.0 * kxy / (mf * mf));
    }
    let s = values.len() as f64;
    let mean = values.iter().sum::<f64>() / s;
    let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / s).sqrt();
    Ok(Kid {
        mean,
        std,
        subset_size: m_used,
        num_subsets: values.len(),
    })
}

fn check_pair(a: &Features, b: &Features) -> Result<(), FidError> {
    if a.d != b.d {
        return Err(FidError::invalid(
            "KID",
            format!("feature dimensions differ: {} vs {}", a.d, b.d),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_sets_give_about_zero_and_shifted_sets_more() {
        let a: Vec<f64> = (0..60)
            .map(|i| ((i * 7919 % 101) as f64 / 50.0) - 1.0)
            .collect(); // [20, 3]
        let fa = Features::new(&a, 3, "a").unwrap();
        let cfg = KidConfig {
            num_subsets: 10,
            max_subset_size: 1000,
            seed: 1,
        };
        // m = n: each subset is a permutation of the whole set, and the estimate of a set
        // against itself is (2 sum_{i!=j} k - 2 sum_{i,j} k) / ... = small, O(1/m).
        let same = kernel_inception_distance(fa, fa, cfg).unwrap();
        let shifted: Vec<f64> = a.iter().map(|v| v + 1.0).collect();
        let fb = Features::new(&shifted, 3, "b").unwrap();
        let far = kernel_inception_distance(fa, fb, cfg).unwrap();
        assert!(
            same.mean.abs() < 0.1 * far.mean,
            "same {} far {}",
            same.mean,
            far.mean
        );
        assert!(far.mean > 0.0);
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(
            Features::new(&[1.0, 2.0, 3.0], 2, "f.npy")
                .unwrap_err()
                .to_string()
                .contains("f.npy")
        );
        assert!(
            Features::new(&[1.0, f64::NAN], 2, "f.npy")
                .unwrap_err()
                .to_string()
                .contains("NaN")
        );
        let a = [0.0; 4];
        let fa = Features::new(&a, 2, "a").unwrap();
        let fb = Features::new(&a, 4, "b").unwrap();
        assert!(kernel_inception_distance(fa, fb, KidConfig::default()).is_err());
    }
}
