//! Exact (erf) GELU on f32 slices: `gelu(x) = x Phi(x)`, `Phi(x) = (1 + erf(x / sqrt 2)) / 2`,
//! `gelu'(x) = Phi(x) + x phi(x)`, `phi(x) = exp(-x^2 / 2) / sqrt(2 pi)`.
//! Vectorised (see [`super::math`]) and split over rayon's pool in chunks.

use std::mem::MaybeUninit;

use super::PAR_MIN_ELEMS;
use super::math::{erf64, exp};

const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// `1 / sqrt(2 pi)`.
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;
/// Elements per rayon task.
const CHUNK: usize = 1 << 14;

multiversion!(fn forward_chunk(x: &[f32], y: &mut [MaybeUninit<f32>]) = forward_body;);
multiversion!(fn backward_chunk(x: &[f32], dy: &[f32], dx: &mut [MaybeUninit<f32>]) = backward_body;);

#[inline(always)]
fn forward_body<const FMA: bool>(x: &[f32], y: &mut [MaybeUninit<f32>]) {
    for (y, &x) in y.iter_mut().zip(x) {
        let phi = 0.5 + 0.5 * erf64::<FMA>(x * FRAC_1_SQRT_2);
        y.write((x as f64 * phi) as f32);
    }
}

#[inline(always)]
fn backward_body<const FMA: bool>(x: &[f32], dy: &[f32], dx: &mut [MaybeUninit<f32>]) {
    for ((dx, &x), &g) in dx.iter_mut().zip(x).zip(dy) {
        let cdf = (0.5 + 0.5 * erf64::<FMA>(x * FRAC_1_SQRT_2)) as f32;
        let pdf = FRAC_1_SQRT_2PI * exp::<FMA>(-0.5 * x * x);
        dx.write(g * (cdf + x * pdf));
    }
}

/// `y = gelu(x)`; `y` has `x.len()` elements and is fully written.
pub fn forward(x: &[f32], y: &mut [MaybeUninit<f32>]) {
    assert_eq!(
        x.len(),
        y.len(),
        "gelu forward: input and output lengths differ"
    );
    par_chunks2(x, y, forward_chunk);
}

/// `dx = dy * gelu'(x)`; all three have the same length and `dx` is fully written.
pub fn backward(x: &[f32], dy: &[f32], dx: &mut [MaybeUninit<f32>]) {
    assert_eq!(
        x.len(),
        dy.len(),
        "gelu backward: input and gradient lengths differ"
    );
    assert_eq!(
        x.len(),
        dx.len(),
        "gelu backward: input and output lengths differ"
    );
    if x.len() < PAR_MIN_ELEMS {
        return backward_chunk(x, dy, dx);
    }
    use rayon::prelude::*;
    dx.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK).zip(dy.par_chunks(CHUNK)))
        .for_each(|(dx, (x, dy))| backward_chunk(x, dy, dx));
}

fn par_chunks2(x: &[f32], y: &mut [MaybeUninit<f32>], f: fn(&[f32], &mut [MaybeUninit<f32>])) {
    if x.len() < PAR_MIN_ELEMS {
        return f(x, y);
    }
    use rayon::prelude::*;
    y.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(y, x)| f(x, y));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flex::tensor::{assume_init, uninit};

    fn gelu_f64(x: f64) -> f64 {
        0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))
    }

    #[test]
    fn forward_and_backward_match_f64_formula() {
        // Long enough to take the rayon path, with a ragged tail.
        let n = PAR_MIN_ELEMS * 2 + 17;
        let x: Vec<f32> = (0..n).map(|i| -8.0 + 16.0 * i as f32 / n as f32).collect();
        let dy: Vec<f32> = (0..n).map(|i| 1.0 + (i % 7) as f32 * 0.25).collect();
        let mut y = uninit(n);
        forward(&x, &mut y);
        let y = unsafe { assume_init(y) };
        let mut dx = uninit(n);
        backward(&x, &dy, &mut dx);
        let dx = unsafe { assume_init(dx) };
        let (mut ey, mut edx) = (0.0f64, 0.0f64);
        for i in 0..n {
            let xv = x[i] as f64;
            ey = ey.max((y[i] as f64 - gelu_f64(xv)).abs() / xv.abs().max(1.0));
            let h = 1e-4;
            let d = (gelu_f64(xv + h) - gelu_f64(xv - h)) / (2.0 * h);
            edx = edx.max((dx[i] as f64 - dy[i] as f64 * d).abs());
        }
        // Forward: f32 rounding of |x| <= 8 plus erf's 6.5e-8 (scaled by |x|/2).
        assert!(ey < 5e-7, "gelu forward error {ey:e}");
        // Backward: f32 arithmetic and a central difference (h = 1e-4) on dy <= 2.5.
        assert!(edx < 5e-6, "gelu backward error {edx:e}");
    }
}
