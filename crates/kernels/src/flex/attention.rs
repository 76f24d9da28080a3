//! Scaled dot-product attention without a mask, for the short sequences of a U-ViT
//! (25 to a few hundred tokens), on f32 views `[batch, heads, tokens, head_dim]`.
//!
//! One rayon task per (batch, head); inside a task the products are single-threaded gemm
//! calls. Per head, with `s = 1 / sqrt(head_dim)`:
//! forward `P = softmax(s Q K^T)`, `O = P V`;
//! backward `dV = P^T dO`, `dP = dO V^T`, `dS = s P (dP - rowsum(dO * O))`, `dQ = dS K`,
//! `dK = dS^T Q`. The forward keeps `P` (`[b, h, lq, lk]`) only when a backward will need it;
//! the backward needs one `[lq, lk]` scratch per task besides it.

use std::mem::MaybeUninit;

use gemm::{Parallelism, gemm};

use super::math::exp;
use super::simd::{dot, max};

/// Below this many multiply-adds in total the heads run on the calling thread.
const PAR_MIN_MACS: usize = 1 << 18;

/// A `[b, h, l, d]` f32 tensor whose last dimension is contiguous (other strides free), so
/// that the heads of a fused `[b, l, h * d]` projection are read without a copy.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// The whole storage the view points into.
    pub data: &'a [f32],
    /// Offset of element `[0, 0, 0, 0]`.
    pub offset: usize,
    /// `[b, h, l, d]`
    pub dims: [usize; 4],
    /// Strides of the batch, head and token dimensions (the last one is 1).
    pub strides: [usize; 3],
}

impl<'a> View<'a> {
    /// A row-major `[b, h, l, d]` view of `data`.
    pub fn contiguous(data: &'a [f32], dims: [usize; 4]) -> Self {
        let [_, h, l, d] = dims;
        Self::new(data, 0, dims, [h * l * d, l * d, d])
    }

    /// A strided view; panics when it reaches outside `data`.
    pub fn new(data: &'a [f32], offset: usize, dims: [usize; 4], strides: [usize; 3]) -> Self {
        if dims.iter().all(|&n| n > 0) {
            let last = offset
                + (dims[0] - 1) * strides[0]
                + (dims[1] - 1) * strides[1]
                + (dims[2] - 1) * strides[2]
                + dims[3]
                - 1;
            assert!(
                last < data.len(),
                "attention: view reaches outside its storage"
            );
        }
        Self {
            data,
            offset,
            dims,
            strides,
        }
    }

    /// Pointer to row 0 of head `(b, h)`; rows are `strides[2]` apart.
    fn head(&self, b: usize, h: usize) -> *const f32 {
        // SAFETY: within `data` (checked in `new`) for b < dims[0], h < dims[1].
        unsafe {
            self.data
                .as_ptr()
                .add(self.offset + b * self.strides[0] + h * self.strides[1])
        }
    }

    /// Row `i` of head `(b, h)`.
    fn row(&self, b: usize, h: usize, i: usize) -> &'a [f32] {
        let start = self.offset + b * self.strides[0] + h * self.strides[1] + i * self.strides[2];
        &self.data[start..start + self.dims[3]]
    }
}

/// A pointer that rayon tasks share to write disjoint parts of one buffer.
#[derive(Clone, Copy)]
struct Shared(*mut f32);
// SAFETY: every task writes a region no other task touches (its own (batch, head)).
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

/// `dst[m, n] = lhs[m, k] rhs[k, n]` with explicit (row, column) strides, single-threaded.
///
/// # Safety
/// All three pointers must be valid for the strides and sizes given.
#[allow(clippy::too_many_arguments)]
unsafe fn matmul(
    (m, n, k): (usize, usize, usize),
    dst: *mut f32,
    dst_rs: usize,
    lhs: *const f32,
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: *const f32,
    (rhs_rs, rhs_cs): (usize, usize),
) {
    // SAFETY: forwarded to the caller. `read_dst = false`: dst is written, never read.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs as isize,
            false,
            lhs,
            lhs_cs as isize,
            lhs_rs as isize,
            rhs,
            rhs_cs as isize,
            rhs_rs as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            Parallelism::None,
        )
    }
}

multiversion!(fn softmax_rows(p: &mut [f32], lk: usize, scale: f32) = softmax_body;);

/// Rows of `p` (length `lk`): `p = softmax(scale * p)`.
#[inline(always)]
fn softmax_body<const FMA: bool>(p: &mut [f32], lk: usize, scale: f32) {
    for row in p.chunks_exact_mut(lk) {
        let m = max(row) * scale;
        let mut sum = 0.0f32;
        for v in row.iter_mut() {
            *v = exp::<FMA>(*v * scale - m);
        }
        for v in row.iter() {
            sum += *v;
        }
        let inv = 1.0 / sum;
        for v in row.iter_mut() {
            *v *= inv;
        }
    }
}

multiversion!(fn ds_rows(p: &[f32], dp: &mut [f32], rowdot: &[f32], lk: usize, scale: f32) = ds_body;);

/// `dp = scale * p * (dp - rowdot[row])`, row by row.
#[inline(always)]
fn ds_body<const FMA: bool>(p: &[f32], dp: &mut [f32], rowdot: &[f32], lk: usize, scale: f32) {
    for ((p, dp), &r) in p.chunks_exact(lk).zip(dp.chunks_exact_mut(lk)).zip(rowdot) {
        for (d, &p) in dp.iter_mut().zip(p) {
            *d = scale * p * (*d - r);
        }
    }
}

multiversion!(fn row_dots(a: View, b: View, bi: usize, hi: usize, out: &mut [f32]) = row_dots_body;);

#[inline(always)]
fn row_dots_body<const FMA: bool>(a: View, b: View, bi: usize, hi: usize, out: &mut [f32]) {
    for (i, o) in out.iter_mut().enumerate() {
        *o = dot::<FMA>(a.row(bi, hi, i), b.row(bi, hi, i));
    }
}

fn check_shapes(q: &View, k: &View, v: &View) -> (usize, usize, usize, usize, usize, usize) {
    let [b, h, lq, dh] = q.dims;
    let [kb, kh, lk, kd] = k.dims;
    let [vb, vh, vl, dv] = v.dims;
    assert!(
        kb == b && vb == b && kh == h && vh == h,
        "attention: batch/heads differ: q {:?}, k {:?}, v {:?}",
        q.dims,
        k.dims,
        v.dims
    );
    assert_eq!(
        kd, dh,
        "attention: key head_dim {kd} differs from the query's {dh}"
    );
    assert_eq!(
        vl, lk,
        "attention: value length {vl} differs from the key's {lk}"
    );
    assert!(lk > 0, "attention: no keys");
    (b, h, lq, lk, dh, dv)
}

/// Forward pass. `out` is `[b, lq, h, dv]` (heads merged, the layout the output projection
/// reads) and fully written. `probs`, when given, receives `P` as `[b, h, lq, lk]`.
pub fn forward(q: View, k: View, v: View, out: &mut [MaybeUninit<f32>], probs: Option<&mut [f32]>) {
    let (b, h, lq, lk, dh, dv) = check_shapes(&q, &k, &v);
    assert_eq!(out.len(), b * lq * h * dv, "attention: output length");
    let tile = lq * lk;
    if let Some(p) = &probs {
        assert_eq!(p.len(), b * h * tile, "attention: probabilities length");
    }
    let scale = 1.0 / (dh as f32).sqrt();
    let out = Shared(out.as_mut_ptr().cast());
    let probs = probs.map(|p| Shared(p.as_mut_ptr()));
    let run = |scratch: &mut Vec<f32>, t: usize| {
        let (bi, hi) = (t / h, t % h);
        let p: &mut [f32] = match probs {
            // SAFETY: task t owns tile t of `probs`.
            Some(Shared(ptr)) => unsafe { std::slice::from_raw_parts_mut(ptr.add(t * tile), tile) },
            None => scratch.as_mut_slice(),
        };
        // SAFETY: views checked in `View::new`; `p` holds lq x lk; task t owns rows
        // (bi, :, hi, :) of `out`.
        unsafe {
            matmul(
                (lq, lk, dh),
                p.as_mut_ptr(),
                lk,
                q.head(bi, hi),
                (q.strides[2], 1),
                k.head(bi, hi),
                (1, k.strides[2]),
            );
        }
        softmax_rows(p, lk, scale);
        let o = out;
        unsafe {
            let dst = o.0.add(bi * lq * h * dv + hi * dv);
            matmul(
                (lq, dv, lk),
                dst,
                h * dv,
                p.as_ptr(),
                (lk, 1),
                v.head(bi, hi),
                (v.strides[2], 1),
            );
        }
    };
    if b * h * tile * (dh + dv) < PAR_MIN_MACS {
        let mut scratch = vec![0.0; tile];
        (0..b * h).for_each(|t| run(&mut scratch, t));
    } else {
        use rayon::prelude::*;
        (0..b * h)
            .into_par_iter()
            .for_each_init(|| vec![0.0; tile], |s, t| run(s, t));
    }
}

/// Gradients for one call of [`forward`]: `o` is its output and `d_o` the output's gradient
/// (both `[b, h, lq, dv]` views), `probs` the saved `P`. `dq`, `dk`, `dv` are row-major
/// `[b, h, l, d]` and fully written.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    q: View,
    k: View,
    v: View,
    o: View,
    d_o: View,
    probs: &[f32],
    dq: &mut [MaybeUninit<f32>],
    dk: &mut [MaybeUninit<f32>],
    dvv: &mut [MaybeUninit<f32>],
) {
    let (b, h, lq, lk, dh, dv) = check_shapes(&q, &k, &v);
    assert_eq!(o.dims, [b, h, lq, dv], "attention backward: output dims");
    assert_eq!(
        d_o.dims,
        [b, h, lq, dv],
        "attention backward: output gradient dims"
    );
    let tile = lq * lk;
    assert_eq!(
        probs.len(),
        b * h * tile,
        "attention backward: probabilities length"
    );
    assert_eq!(dq.len(), b * h * lq * dh, "attention backward: dq length");
    assert_eq!(dk.len(), b * h * lk * dh, "attention backward: dk length");
    assert_eq!(dvv.len(), b * h * lk * dv, "attention backward: dv length");
    let scale = 1.0 / (dh as f32).sqrt();
    let (pdq, pdk, pdv) = (
        Shared(dq.as_mut_ptr().cast()),
        Shared(dk.as_mut_ptr().cast()),
        Shared(dvv.as_mut_ptr().cast()),
    );
    let run = |(ds, rowdot): &mut (Vec<f32>, Vec<f32>), t: usize| {
        let (bi, hi) = (t / h, t % h);
        let p = &probs[t * tile..(t + 1) * tile];
        let (dq, dk, dvv) = (pdq, pdk, pdv);
        // SAFETY: all views are checked; task t owns head t of dq, dk, dv; `ds` is lq x lk.
        unsafe {
            // dV = P^T dO        [lk, dv]
            matmul(
                (lk, dv, lq),
                dvv.0.add(t * lk * dv),
                dv,
                p.as_ptr(),
                (1, lk),
                d_o.head(bi, hi),
                (d_o.strides[2], 1),
            );
            // dP = dO V^T        [lq, lk]
            matmul(
                (lq, lk, dv),
                ds.as_mut_ptr(),
                lk,
                d_o.head(bi, hi),
                (d_o.strides[2], 1),
                v.head(bi, hi),
                (1, v.strides[2]),
            );
        }
        // dS = s P (dP - rowsum(dO * O))
        row_dots(d_o, o, bi, hi, rowdot);
        ds_rows(p, ds, rowdot, lk, scale);
        unsafe {
            // dQ = dS K          [lq, dh]
            matmul(
                (lq, dh, lk),
                dq.0.add(t * lq * dh),
                dh,
                ds.as_ptr(),
                (lk, 1),
                k.head(bi, hi),
                (k.strides[2], 1),
            );
            // dK = dS^T Q        [lk, dh]
            matmul(
                (lk, dh, lq),
                dk.0.add(t * lk * dh),
                dh,
                ds.as_ptr(),
                (1, lk),
                q.head(bi, hi),
                (q.strides[2], 1),
            );
        }
    };
    let init = || (vec![0.0f32; tile], vec![0.0f32; lq]);
    if b * h * tile * (2 * dh + 2 * dv) < PAR_MIN_MACS {
        let mut s = init();
        (0..b * h).for_each(|t| run(&mut s, t));
    } else {
        use rayon::prelude::*;
        (0..b * h).into_par_iter().for_each_init(init, run);
    }
}
