//! Spectrum summaries of a matrix (for the attention-rank analysis, issue 10 item 5):
//! the effective rank of Roy & Vetterli (2007), `exp(H(p))` with `p_i = s_i / sum_j s_j`
//! over the singular values `s`, and the number of singular values holding 90% / 99% of
//! the energy `sum s_i^2`.

use faer::Mat;

/// What the spectrum of one matrix says about its rank.
#[derive(Debug, Clone, PartialEq)]
pub struct RankSummary {
    /// `exp(-sum p_i ln p_i)`, `p_i = s_i / sum s`: 1 for rank one, n for n equal values.
    pub effective_rank: f64,
    /// Fewest leading singular values whose squares reach 90% of `sum s^2`.
    pub energy90: usize,
    /// The same for 99%.
    pub energy99: usize,
    /// Singular values, non-increasing.
    pub singular_values: Vec<f64>,
}

/// Singular values of a row-major `[rows, cols]` matrix (f64, faer's SVD).
pub fn singular_values(m: &[f64], rows: usize, cols: usize) -> Result<Vec<f64>, String> {
    if m.len() != rows * cols {
        return Err(format!(
            "matrix buffer holds {} values, not {rows} x {cols}",
            m.len()
        ));
    }
    if let Some(i) = m.iter().position(|v| !v.is_finite()) {
        return Err(format!(
            "matrix entry [{}, {}] is {}",
            i / cols.max(1),
            i % cols.max(1),
            m[i]
        ));
    }
    let a = Mat::from_fn(rows, cols, |i, j| m[i * cols + j]);
    let mut s = a
        .singular_values()
        .map_err(|e| format!("SVD did not converge: {e:?}"))?;
    s.sort_by(|x, y| y.total_cmp(x));
    Ok(s)
}

/// Summarises singular values (any order). An all-zero spectrum has rank 0 in every measure.
pub fn summarize(singular_values: &[f64]) -> RankSummary {
    let mut s: Vec<f64> = singular_values.iter().map(|v| v.abs()).collect();
    s.sort_by(|x, y| y.total_cmp(x));
    let total: f64 = s.iter().sum();
    if total <= 0.0 {
        return RankSummary {
            effective_rank: 0.0,
            energy90: 0,
            energy99: 0,
            singular_values: s,
        };
    }
    let entropy: f64 = s
        .iter()
        .map(|v| v / total)
        .filter(|p| *p > 0.0)
        .map(|p| -p * p.ln())
        .sum();
    let energy: f64 = s.iter().map(|v| v * v).sum();
    let reach = |frac: f64| {
        let mut acc = 0.0;
        for (k, v) in s.iter().enumerate() {
            acc += v * v;
            // Relative slack so that exactly `frac` of the energy counts as reached.
            if acc >= frac * energy * (1.0 - 1e-12) {
                return k + 1;
            }
        }
        s.len()
    };
    RankSummary {
        effective_rank: entropy.exp(),
        energy90: reach(0.9),
        energy99: reach(0.99),
        singular_values: s,
    }
}

/// [`singular_values`] then [`summarize`].
pub fn rank_summary(m: &[f64], rows: usize, cols: usize) -> Result<RankSummary, String> {
    Ok(summarize(&singular_values(m, rows, cols)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_one_matrix_has_effective_rank_one() {
        // [6, 4] = u v^T
        let u = [1.0, -2.0, 0.5, 3.0, 1.5, -1.0];
        let v = [0.3, 1.0, -0.7, 2.0];
        let m: Vec<f64> = (0..24).map(|k| u[k / 4] * v[k % 4]).collect();
        let r = rank_summary(&m, 6, 4).unwrap();
        assert!((r.effective_rank - 1.0).abs() < 1e-9, "{r:?}");
        assert_eq!((r.energy90, r.energy99), (1, 1));
    }

    #[test]
    fn identity_has_full_rank() {
        let n = 10;
        let m: Vec<f64> = (0..n * n)
            .map(|k| if k / n == k % n { 1.0 } else { 0.0 })
            .collect();
        let r = rank_summary(&m, n, n).unwrap();
        assert!((r.effective_rank - n as f64).abs() < 1e-9, "{r:?}");
        // 9 of 10 equal values hold exactly 90% of the energy; 99% needs all 10.
        assert_eq!((r.energy90, r.energy99), (9, 10));
    }

    #[test]
    fn known_spectrum_and_edge_cases() {
        // s = (3, 1): p = (.75, .25), H = -(.75 ln .75 + .25 ln .25).
        let r = summarize(&[1.0, 3.0]);
        let h: f64 = -(0.75f64 * 0.75f64.ln() + 0.25 * 0.25f64.ln());
        assert!((r.effective_rank - h.exp()).abs() < 1e-12);
        assert_eq!(r.singular_values, vec![3.0, 1.0]);
        assert_eq!((r.energy90, r.energy99), (1, 2)); // 9/10 of the energy in the first
        assert_eq!(summarize(&[0.0, 0.0]).effective_rank, 0.0);
        assert!(
            rank_summary(&[1.0, f64::NAN], 1, 2)
                .unwrap_err()
                .contains("NaN")
        );
        assert!(rank_summary(&[1.0], 2, 2).is_err());
    }
}
