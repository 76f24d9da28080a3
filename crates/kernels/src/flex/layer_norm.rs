//! LayerNorm over the last dimension on f32 rows of length `d`:
//! `y = (x - mean) rstd gamma + beta`, `rstd = 1 / sqrt(var + eps)` (biased variance, as
//! PyTorch). The forward saves `mean` and `rstd` per row for the backward:
//! `xhat = (x - mean) rstd`, `g = dy gamma`,
//! `dx = rstd (g - mean(g) - xhat mean(g xhat))`, `dgamma = sum_rows dy xhat`,
//! `dbeta = sum_rows dy`.

use std::mem::MaybeUninit;

use super::PAR_MIN_ELEMS;
use super::simd::{dot, madd, sum};

/// Rows per rayon task.
const ROWS_PER_TASK: usize = 32;

/// Per-row statistics saved by the forward pass.
#[derive(Debug, Clone)]
pub struct Stats {
    /// `[rows]`
    pub mean: Vec<f32>,
    /// `[rows]`, `1 / sqrt(var + eps)`.
    pub rstd: Vec<f32>,
}

multiversion!(fn forward_rows(
    x: &[f32], gamma: &[f32], beta: &[f32], eps: f32,
    y: &mut [MaybeUninit<f32>], mean: &mut [f32], rstd: &mut [f32],
) = forward_body;);

#[inline(always)]
fn forward_body<const FMA: bool>(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
    y: &mut [MaybeUninit<f32>],
    mean: &mut [f32],
    rstd: &mut [f32],
) {
    let d = gamma.len();
    for (r, (x, y)) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)).enumerate() {
        let m = sum::<FMA>(x) / d as f32;
        // Two passes (mean, then squared deviations): no cancellation for large means.
        let mut var = 0.0f32;
        let mut acc = [0.0f32; super::simd::LANES];
        let chunks = x.chunks_exact(super::simd::LANES);
        for v in chunks.remainder() {
            var = madd::<FMA>(v - m, v - m, var);
        }
        for c in chunks {
            for i in 0..super::simd::LANES {
                let t = c[i] - m;
                acc[i] = madd::<FMA>(t, t, acc[i]);
            }
        }
        for a in acc {
            var += a;
        }
        let rs = 1.0 / (var / d as f32 + eps).sqrt();
        for (((y, &x), &g), &b) in y.iter_mut().zip(x).zip(gamma).zip(beta) {
            y.write(madd::<FMA>((x - m) * rs, g, b));
        }
        mean[r] = m;
        rstd[r] = rs;
    }
}

/// `y = layer_norm(x)` over rows of `d = gamma.len()`; returns the saved statistics.
pub fn forward(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
    y: &mut [MaybeUninit<f32>],
) -> Stats {
    let d = gamma.len();
    assert!(d > 0, "layer_norm: empty last dimension");
    assert_eq!(
        beta.len(),
        d,
        "layer_norm: beta length differs from gamma's"
    );
    assert_eq!(
        x.len() % d,
        0,
        "layer_norm: input is not a whole number of rows"
    );
    assert_eq!(
        x.len(),
        y.len(),
        "layer_norm: input and output lengths differ"
    );
    let rows = x.len() / d;
    let mut mean = vec![0.0; rows];
    let mut rstd = vec![0.0; rows];
    if x.len() < PAR_MIN_ELEMS {
        forward_rows(x, gamma, beta, eps, y, &mut mean, &mut rstd);
    } else {
        use rayon::prelude::*;
        let step = ROWS_PER_TASK * d;
        y.par_chunks_mut(step)
            .zip(x.par_chunks(step))
            .zip(mean.par_chunks_mut(ROWS_PER_TASK))
            .zip(rstd.par_chunks_mut(ROWS_PER_TASK))
            .for_each(|(((y, x), m), r)| forward_rows(x, gamma, beta, eps, y, m, r));
    }
    Stats { mean, rstd }
}

multiversion!(fn backward_rows(
    x: &[f32], dy: &[f32], gamma: &[f32], mean: &[f32], rstd: &[f32],
    dx: &mut [MaybeUninit<f32>], dgamma: &mut [f32], dbeta: &mut [f32],
) = backward_body;);

/// Accumulates this block's `dgamma`/`dbeta` into the given (zeroed or partial) sums.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn backward_body<const FMA: bool>(
    x: &[f32],
    dy: &[f32],
    gamma: &[f32],
    mean: &[f32],
    rstd: &[f32],
    dx: &mut [MaybeUninit<f32>],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
) {
    let d = gamma.len();
    let inv_d = 1.0 / d as f32;
    let mut xhat = vec![0.0f32; d];
    let mut g = vec![0.0f32; d];
    for (r, ((x, dy), dx)) in x
        .chunks_exact(d)
        .zip(dy.chunks_exact(d))
        .zip(dx.chunks_exact_mut(d))
        .enumerate()
    {
        let (m, rs) = (mean[r], rstd[r]);
        for i in 0..d {
            xhat[i] = (x[i] - m) * rs;
            g[i] = dy[i] * gamma[i];
            dgamma[i] = madd::<FMA>(dy[i], xhat[i], dgamma[i]);
            dbeta[i] += dy[i];
        }
        let c1 = dot::<FMA>(&g, &xhat) * inv_d;
        let c2 = sum::<FMA>(&g) * inv_d;
        for i in 0..d {
            dx[i].write(rs * (g[i] - c2 - xhat[i] * c1));
        }
    }
}

/// Gradients of [`forward`]: fills `dx` (same length as `x`) and returns `(dgamma, dbeta)`.
pub fn backward(
    x: &[f32],
    dy: &[f32],
    gamma: &[f32],
    stats: &Stats,
    dx: &mut [MaybeUninit<f32>],
) -> (Vec<f32>, Vec<f32>) {
    let d = gamma.len();
    assert_eq!(
        x.len(),
        dy.len(),
        "layer_norm backward: input and gradient lengths differ"
    );
    assert_eq!(
        x.len(),
        dx.len(),
        "layer_norm backward: input and output lengths differ"
    );
    assert_eq!(
        x.len(),
        stats.mean.len() * d,
        "layer_norm backward: statistics do not match"
    );
    if x.len() < PAR_MIN_ELEMS {
        let (mut dg, mut db) = (vec![0.0; d], vec![0.0; d]);
        backward_rows(x, dy, gamma, &stats.mean, &stats.rstd, dx, &mut dg, &mut db);
        return (dg, db);
    }
    use rayon::prelude::*;
    let step = ROWS_PER_TASK * d;
    // One (dgamma, dbeta) partial per task, summed afterwards: [tasks, d] each.
    let tasks = x.len().div_ceil(step);
    let mut partial = vec![0.0f32; tasks * 2 * d];
    dx.par_chunks_mut(step)
        .zip(x.par_chunks(step).zip(dy.par_chunks(step)))
        .zip(stats.mean.par_chunks(ROWS_PER_TASK))
        .zip(stats.rstd.par_chunks(ROWS_PER_TASK))
        .zip(partial.par_chunks_mut(2 * d))
        .for_each(|((((dx, (x, dy)), m), r), p)| {
            let (dg, db) = p.split_at_mut(d);
            backward_rows(x, dy, gamma, m, r, dx, dg, db);
        });
    let (mut dg, mut db) = (vec![0.0; d], vec![0.0; d]);
    for p in partial.chunks_exact(2 * d) {
        for i in 0..d {
            dg[i] += p[i];
            db[i] += p[d + i];
        }
    }
    (dg, db)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flex::tensor::{assume_init, uninit};

    /// f64 LayerNorm of one row.
    fn ln64(x: &[f64], g: &[f64], b: &[f64], eps: f64) -> Vec<f64> {
        let d = x.len() as f64;
        let m = x.iter().sum::<f64>() / d;
        let v = x.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / d;
        let rs = 1.0 / (v + eps).sqrt();
        x.iter()
            .zip(g)
            .zip(b)
            .map(|((x, g), b)| (x - m) * rs * g + b)
            .collect()
    }

    #[test]
    fn matches_f64_and_central_differences() {
        let (rows, d, eps) = (3usize, 37usize, 1e-5f64);
        let x: Vec<f32> = (0..rows * d)
            .map(|i| ((i * 7919) % 101) as f32 / 25.0 - 2.0 + 10.0)
            .collect();
        let gamma: Vec<f32> = (0..d).map(|i| 0.5 + (i % 5) as f32 * 0.2).collect();
        let beta: Vec<f32> = (0..d).map(|i| (i % 3) as f32 * 0.1 - 0.1).collect();
        let dy: Vec<f32> = (0..rows * d)
            .map(|i| ((i * 31) % 17) as f32 / 8.0 - 1.0)
            .collect();
        let mut y = uninit(x.len());
        let stats = forward(&x, &gamma, &beta, eps as f32, &mut y);
        let y = unsafe { assume_init(y) };
        let mut dx = uninit(x.len());
        let (dg, db) = backward(&x, &dy, &gamma, &stats, &mut dx);
        let dx = unsafe { assume_init(dx) };

        let f64v = |v: &[f32]| v.iter().map(|&a| a as f64).collect::<Vec<_>>();
        let (g64, b64) = (f64v(&gamma), f64v(&beta));
        // loss = sum(dy * y): its gradients are the backward's outputs.
        let loss = |x: &[f64], g: &[f64], b: &[f64]| -> f64 {
            x.chunks(d)
                .enumerate()
                .map(|(r, row)| {
                    ln64(row, g, b, eps)
                        .iter()
                        .zip(&dy[r * d..(r + 1) * d])
                        .map(|(y, dy)| y * *dy as f64)
                        .sum::<f64>()
                })
                .sum()
        };
        let x64 = f64v(&x);
        for r in 0..rows {
            let want = ln64(&x64[r * d..(r + 1) * d], &g64, &b64, eps);
            for i in 0..d {
                assert!((y[r * d + i] as f64 - want[i]).abs() < 2e-6, "y[{r},{i}]");
            }
        }
        let h = 1e-5;
        for i in 0..x.len() {
            let (mut p, mut m) = (x64.clone(), x64.clone());
            p[i] += h;
            m[i] -= h;
            let num = (loss(&p, &g64, &b64) - loss(&m, &g64, &b64)) / (2.0 * h);
            assert!(
                (dx[i] as f64 - num).abs() < 1e-4,
                "dx[{i}] {} vs {num}",
                dx[i]
            );
        }
        for i in 0..d {
            let (mut p, mut m) = (g64.clone(), g64.clone());
            p[i] += h;
            m[i] -= h;
            let num = (loss(&x64, &p, &b64) - loss(&x64, &m, &b64)) / (2.0 * h);
            assert!((dg[i] as f64 - num).abs() < 1e-4, "dgamma[{i}]");
            let want_db: f64 = (0..rows).map(|r| dy[r * d + i] as f64).sum();
            assert!((db[i] as f64 - want_db).abs() < 1e-5, "dbeta[{i}]");
        }
    }
}
