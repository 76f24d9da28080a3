//! Uncertainty of accuracies: binomial intervals, paired comparisons of two models on the
//! same prompts and seeds, and mean/spread over seeds.
//!
//! * [`Proportion`]: `k` of `n`, with the Wilson score interval (95% by default). Wilson, not
//!   the Wald `p +- z sqrt(p(1-p)/n)`, because our accuracies are often near 0 or 1 and `n` is
//!   small, where Wald's interval collapses to a point or leaves [0, 1].
//! * [`Paired`]: two models scored on the same items. The difference of their accuracies gets
//!   Newcombe's (1998) hybrid score interval for paired proportions (his method 10), and the
//!   two-sided exact McNemar test (binomial on the discordant pairs) gives the p-value.
//! * [`Spread`]: mean, sample standard deviation, min and max of a statistic over seeds.

use serde::{Deserialize, Serialize};

/// z of a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// `k` successes of `n`, with a Wilson score interval. Serialised with `p`, `lo` and `hi`
/// for readers; read back from `k` and `n` alone (the rest is recomputed, exactly).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "Counts")]
pub struct Proportion {
    pub k: u64,
    pub n: u64,
    /// `k / n` (0 when `n` is 0).
    pub p: f64,
    /// 95% Wilson interval (`[0, 1]` when `n` is 0).
    pub lo: f64,
    pub hi: f64,
}

#[derive(Deserialize)]
struct Counts {
    k: u64,
    n: u64,
}

impl From<Counts> for Proportion {
    fn from(c: Counts) -> Self {
        Proportion::new(c.k.min(c.n), c.n)
    }
}

impl Proportion {
    /// `k` of `n` with its 95% Wilson interval. Panics if `k > n`.
    pub fn new(k: u64, n: u64) -> Self {
        assert!(k <= n, "{k} successes of {n} trials");
        let (lo, hi) = wilson(k, n, Z95);
        Proportion {
            k,
            n,
            p: if n == 0 { 0.0 } else { k as f64 / n as f64 },
            lo,
            hi,
        }
    }

    /// Counts the `true`s.
    pub fn of(outcomes: impl IntoIterator<Item = bool>) -> Self {
        let (mut k, mut n) = (0, 0);
        for o in outcomes {
            k += o as u64;
            n += 1;
        }
        Proportion::new(k, n)
    }

    /// "24.7% [18.5, 32.1]".
    pub fn pct(&self) -> String {
        format!(
            "{:.1}% [{:.1}, {:.1}]",
            100.0 * self.p,
            100.0 * self.lo,
            100.0 * self.hi
        )
    }

    /// Whether the interval lies wholly above `p` (e.g. a chance level).
    pub fn above(&self, p: f64) -> bool {
        self.lo > p
    }
}

/// Wilson score interval of `k` successes in `n` trials at normal quantile `z`.
pub fn wilson(k: u64, n: u64, z: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let n_f = n as f64;
    let p = k as f64 / n_f;
    let z2 = z * z;
    let denom = 1.0 + z2 / n_f;
    let centre = (p + z2 / (2.0 * n_f)) / denom;
    let half = z * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt() / denom;
    // Exact at the ends (rounding can leave 1e-17 outside).
    let lo = if k == 0 {
        0.0
    } else {
        (centre - half).max(0.0)
    };
    let hi = if k == n {
        1.0
    } else {
        (centre + half).min(1.0)
    };
    (lo, hi)
}

/// Two models (A and B) scored on the same items: the 2x2 table of outcomes.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Paired {
    /// Items both got right.
    pub both: u64,
    /// Items only A got right.
    pub only_a: u64,
    /// Items only B got right.
    pub only_b: u64,
    /// Items both got wrong.
    pub neither: u64,
    /// Accuracy of A minus accuracy of B.
    pub diff: f64,
    /// 95% interval of `diff` (Newcombe's hybrid score interval, method 10).
    pub lo: f64,
    pub hi: f64,
    /// Two-sided exact McNemar p-value (1 when no item is discordant).
    pub p_value: f64,
}

impl Paired {
    /// From per-item outcomes of A and B, in the same item order. Panics on unequal lengths.
    pub fn of(a: &[bool], b: &[bool]) -> Self {
        assert_eq!(
            a.len(),
            b.len(),
            "paired outcomes must cover the same items"
        );
        let mut t = [0u64; 4];
        for (&x, &y) in a.iter().zip(b) {
            t[match (x, y) {
                (true, true) => 0,
                (true, false) => 1,
                (false, true) => 2,
                (false, false) => 3,
            }] += 1;
        }
        Paired::from_table(t[0], t[1], t[2], t[3])
    }

    /// From the 2x2 table.
    pub fn from_table(both: u64, only_a: u64, only_b: u64, neither: u64) -> Self {
        let n = (both + only_a + only_b + neither) as f64;
        let (diff, lo, hi) = if n == 0.0 {
            (0.0, -1.0, 1.0)
        } else {
            newcombe_paired(both, only_a, only_b, neither)
        };
        Paired {
            both,
            only_a,
            only_b,
            neither,
            diff,
            lo,
            hi,
            p_value: mcnemar_exact(only_a, only_b),
        }
    }

    /// Whether the interval excludes 0.
    pub fn significant(&self) -> bool {
        self.lo > 0.0 || self.hi < 0.0
    }
}

/// Newcombe (1998) method 10: difference of paired proportions `p1 - p2` with the hybrid
/// Wilson score interval, `phi` the correlation of the 2x2 table (0 when undefined).
fn newcombe_paired(a: u64, b: u64, c: u64, d: u64) -> (f64, f64, f64) {
    let n = (a + b + c + d) as f64;
    let (n1, n2) = (a + b, a + c);
    let (p1, p2) = (n1 as f64 / n, n2 as f64 / n);
    let (l1, u1) = wilson(n1, n as u64, Z95);
    let (l2, u2) = wilson(n2, n as u64, Z95);
    let (af, bf, cf, df) = (a as f64, b as f64, c as f64, d as f64);
    let den = ((af + bf) * (cf + df) * (af + cf) * (bf + df)).sqrt();
    let phi = if den > 0.0 {
        (af * df - bf * cf) / den
    } else {
        0.0
    };
    let delta = p1 - p2;
    let dl = ((p1 - l1).powi(2) - 2.0 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2).powi(2))
        .max(0.0)
        .sqrt();
    let du = ((u1 - p1).powi(2) - 2.0 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2).powi(2))
        .max(0.0)
        .sqrt();
    (delta, (delta - dl).max(-1.0), (delta + du).min(1.0))
}

/// Two-sided exact McNemar test: under H0 the `b + c` discordant items split Binomial(b+c,
/// 1/2); p = min(1, 2 P[X <= min(b, c)]).
pub fn mcnemar_exact(b: u64, c: u64) -> f64 {
    let m = b + c;
    if m == 0 {
        return 1.0;
    }
    let k = b.min(c);
    // Sum of C(m, i) / 2^m for i <= k, in log space (m can be thousands).
    let ln_half_m = m as f64 * 0.5f64.ln();
    let mut ln_c = 0.0; // ln C(m, 0)
    let mut total = 0.0;
    for i in 0..=k {
        if i > 0 {
            ln_c += ((m - i + 1) as f64).ln() - (i as f64).ln();
        }
        total += (ln_c + ln_half_m).exp();
    }
    (2.0 * total).min(1.0)
}

/// A statistic over seeds: mean, sample standard deviation (0 for one seed), min, max.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub n: usize,
    pub mean: f64,
    pub sd: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    /// Over the given values; `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        let sd = if n > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some(Spread {
            n,
            mean,
            sd,
            min,
            max,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    /// Reference values: Wilson intervals as tabulated by Newcombe (1998, single proportion)
    /// and as any statistics package gives them (e.g. statsmodels `proportion_confint(...,
    /// method="wilson")`).
    #[test]
    fn wilson_matches_reference_values() {
        let (lo, hi) = wilson(5, 10, Z95);
        assert!(
            close(lo, 0.236_593, 1e-5) && close(hi, 0.763_407, 1e-5),
            "{lo} {hi}"
        );
        let (lo, hi) = wilson(0, 10, Z95);
        assert!(lo == 0.0 && close(hi, 0.277_533, 1e-5), "{hi}");
        let (lo, hi) = wilson(10, 10, Z95);
        assert!(close(lo, 0.722_467, 1e-5) && hi == 1.0, "{lo}");
        // Newcombe (1998) Table I: 81/263 -> 0.2553 to 0.3662.
        let (lo, hi) = wilson(81, 263, Z95);
        assert!(
            close(lo, 0.2553, 1e-4) && close(hi, 0.3662, 1e-4),
            "{lo} {hi}"
        );
        assert_eq!(wilson(0, 0, Z95), (0.0, 1.0));
        let p = Proportion::of([true, false, true, true]);
        assert_eq!((p.k, p.n), (3, 4));
        assert!(p.pct().starts_with("75.0% ["), "{}", p.pct());
        assert!(Proportion::new(30, 40).above(0.5));
        assert!(!Proportion::new(3, 5).above(0.5));
    }

    #[test]
    fn mcnemar_exact_values() {
        // All 6 discordant pairs favour one side: 2 * 0.5^6.
        assert!(close(mcnemar_exact(0, 6), 0.03125, 1e-12));
        assert!(close(mcnemar_exact(6, 0), 0.03125, 1e-12));
        // Balanced: p = 1.
        assert_eq!(mcnemar_exact(5, 5), 1.0);
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        // b=2, c=8: 2 * (1 + 10 + 45) / 1024.
        assert!(close(mcnemar_exact(2, 8), 112.0 / 1024.0, 1e-12));
        // Large counts stay finite and small.
        let p = mcnemar_exact(400, 600);
        assert!(p > 0.0 && p < 1e-9, "{p}");
    }

    /// Newcombe's paired example (a=36, b=12, c=2, d=0). Reference values from an independent
    /// Python transcription of method 10 on statsmodels' Wilson intervals:
    /// difference 0.2, interval 0.056930 to 0.340428.
    #[test]
    fn newcombe_paired_reference_example() {
        let p = Paired::from_table(36, 12, 2, 0);
        assert!(close(p.diff, 0.2, 1e-12));
        assert!(
            close(p.lo, 0.056_930, 1e-5) && close(p.hi, 0.340_428, 1e-5),
            "{p:?}"
        );
        assert!(p.significant());
        // Swapping A and B mirrors the interval.
        let q = Paired::from_table(36, 2, 12, 0);
        assert!(close(q.lo, -p.hi, 1e-12) && close(q.hi, -p.lo, 1e-12));
        assert!(close(q.p_value, p.p_value, 1e-15));
    }

    /// The paired interval covers the true difference about 95% of the time (Monte Carlo:
    /// 2000 tables of 60 correlated pairs, accuracies 0.6 and 0.45).
    #[test]
    fn newcombe_paired_coverage() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        // Joint cell probabilities: both 0.35, only A 0.25, only B 0.10, neither 0.30.
        let (pa, pb) = (0.60, 0.45);
        let mut covered = 0;
        let trials = 2000;
        for _ in 0..trials {
            let mut t = [0u64; 4];
            for _ in 0..60 {
                let u: f64 = rng.random();
                let cell = if u < 0.35 {
                    0
                } else if u < 0.60 {
                    1
                } else if u < 0.70 {
                    2
                } else {
                    3
                };
                t[cell] += 1;
            }
            let p = Paired::from_table(t[0], t[1], t[2], t[3]);
            covered += (p.lo <= pa - pb && pa - pb <= p.hi) as u32;
        }
        let coverage = covered as f64 / trials as f64;
        assert!((0.93..=0.975).contains(&coverage), "coverage {coverage}");
    }

    #[test]
    fn paired_from_outcomes() {
        let a = [true, true, false, false, true];
        let b = [true, false, false, true, false];
        let p = Paired::of(&a, &b);
        assert_eq!((p.both, p.only_a, p.only_b, p.neither), (1, 2, 1, 1));
        assert!(close(p.diff, 0.2, 1e-12));
        assert!(p.lo < p.diff && p.diff < p.hi && !p.significant());
        // Identical models: difference 0, p-value 1.
        let same = Paired::of(&a, &a);
        assert_eq!((same.diff, same.p_value), (0.0, 1.0));
        assert!(same.lo <= 0.0 && same.hi >= 0.0);
    }

    #[test]
    fn spread_over_seeds() {
        let s = Spread::of(&[0.2, 0.4, 0.6]).unwrap();
        assert!(close(s.mean, 0.4, 1e-12) && close(s.sd, 0.2, 1e-12));
        assert_eq!((s.min, s.max, s.n), (0.2, 0.6, 3));
        assert_eq!(Spread::of(&[0.5]).unwrap().sd, 0.0);
        assert!(Spread::of(&[]).is_none());
    }
}
