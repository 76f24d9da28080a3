//! One AdamW step on f32 slices, in place and in one pass (burn's `AdamW` runs about fifteen
//! elementwise tensor ops per parameter, each reading and writing a fresh buffer):
//!
//! ```text
//! m = b1 m + (1 - b1) g              v = b2 v + (1 - b2) g^2
//! p = p (1 - lr wd) - lr (m / c1) / (sqrt(v / c2) + eps),   c1 = 1 - b1^t, c2 = 1 - b2^t
//! ```
//!
//! the formula of `burn::optim::AdamW` (and of PyTorch's `torch.optim.AdamW`, which divides
//! `sqrt(v)` by `sqrt(c2)` instead: the same up to rounding). `t` is the step count after this
//! step (1 on the first, where `m` and `v` start at zero).

use super::PAR_MIN_ELEMS;
pub use crate::adamw::AdamWStep;

/// Elements per rayon task.
const CHUNK: usize = 1 << 14;

/// The per-element constants of [`AdamWStep`], computed as burn's `AdamW` computes them.
#[derive(Clone, Copy, Debug)]
struct Coefs {
    b1: f32,
    f1: f32,
    b2: f32,
    f2: f32,
    /// `1 - b1^t`, `1 - b2^t` (f32, as burn).
    c1: f32,
    c2: f32,
    eps: f32,
    /// `1 - lr wd` and `lr`, rounded to f32 as burn's scalar ops do.
    decay: f32,
    lr: f32,
}

impl AdamWStep {
    fn coefs(&self) -> Coefs {
        let t = i32::try_from(self.time).unwrap_or(i32::MAX);
        Coefs {
            b1: self.beta_1,
            f1: 1.0 - self.beta_1,
            b2: self.beta_2,
            f2: 1.0 - self.beta_2,
            c1: 1.0 - self.beta_1.powi(t),
            c2: 1.0 - self.beta_2.powi(t),
            eps: self.epsilon,
            decay: (1.0 - self.lr * self.weight_decay as f64) as f32,
            lr: self.lr as f32,
        }
    }
}

multiversion!(fn step_chunk(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], k: Coefs) = step_body;);

#[inline(always)]
fn step_body<const FMA: bool>(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], k: Coefs) {
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        let m1 = k.b1 * *m + k.f1 * g;
        let m2 = k.b2 * *v + k.f2 * (g * g);
        *m = m1;
        *v = m2;
        let delta = (m1 / k.c1) / ((m2 / k.c2).sqrt() + k.eps);
        *p = *p * k.decay - delta * k.lr;
    }
}

/// Updates `param`, `moment_1` and `moment_2` in place for the gradient `grad` (all the same
/// length).
pub fn step(
    param: &mut [f32],
    grad: &[f32],
    moment_1: &mut [f32],
    moment_2: &mut [f32],
    s: AdamWStep,
) {
    let n = param.len();
    assert!(
        grad.len() == n && moment_1.len() == n && moment_2.len() == n,
        "adamw: parameter ({n}), gradient ({}) and moments ({}, {}) differ in length",
        grad.len(),
        moment_1.len(),
        moment_2.len()
    );
    assert!(s.time >= 1, "adamw: the step count starts at 1");
    let k = s.coefs();
    if n < PAR_MIN_ELEMS {
        return step_chunk(param, grad, moment_1, moment_2, k);
    }
    use rayon::prelude::*;
    param
        .par_chunks_mut(CHUNK)
        .zip(grad.par_chunks(CHUNK))
        .zip(
            moment_1
                .par_chunks_mut(CHUNK)
                .zip(moment_2.par_chunks_mut(CHUNK)),
        )
        .for_each(|((p, g), (m, v))| step_chunk(p, g, m, v, k));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// burn's AdamW, op by op, in f32 (the reference the fused step must match).
    fn reference(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], s: AdamWStep) {
        let k = s.coefs();
        for i in 0..p.len() {
            m[i] = m[i] * s.beta_1 + g[i] * (1.0 - s.beta_1);
            v[i] = v[i] * s.beta_2 + g[i] * g[i] * (1.0 - s.beta_2);
            let delta = (m[i] / k.c1) / ((v[i] / k.c2).sqrt() + s.epsilon);
            p[i] = p[i] * k.decay - delta * k.lr;
        }
    }

    #[test]
    fn matches_the_op_by_op_formula_over_several_steps() {
        // Long enough for the rayon path, with a ragged tail.
        let n = PAR_MIN_ELEMS * 2 + 13;
        let mut s = AdamWStep {
            lr: 2e-4,
            beta_1: 0.9,
            beta_2: 0.99,
            epsilon: 1e-8,
            weight_decay: 0.03,
            time: 1,
        };
        let p0: Vec<f32> = (0..n)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.01)
            .collect();
        let (mut p, mut m, mut v) = (p0.clone(), vec![0.0; n], vec![0.0; n]);
        let (mut pr, mut mr, mut vr) = (p0, vec![0.0; n], vec![0.0; n]);
        for t in 1..=4 {
            s.time = t;
            let g: Vec<f32> = (0..n)
                .map(|i| ((i * 13 + t * 7) % 29) as f32 * 0.1 - 1.4)
                .collect();
            step(&mut p, &g, &mut m, &mut v, s);
            reference(&mut pr, &g, &mut mr, &mut vr, s);
        }
        let err = |a: &[f32], b: &[f32]| {
            a.iter()
                .zip(b)
                .map(|(x, y)| ((x - y) / y.abs().max(1e-3)).abs())
                .fold(0.0f32, f32::max)
        };
        // Only FMA contraction differs from the reference: a few ulp.
        assert!(err(&p, &pr) < 1e-6, "param {:e}", err(&p, &pr));
        assert!(err(&m, &mr) < 1e-6, "moment 1 {:e}", err(&m, &mr));
        assert!(err(&v, &vr) < 1e-5, "moment 2 {:e}", err(&v, &vr));
        // The parameters moved by about lr per step.
        assert!(
            p.iter()
                .zip(&pr)
                .all(|(a, b)| a.is_finite() && b.is_finite())
        );
    }
}
