//! `y = x W + b` on f32 matrices: the bias is written straight into the (uninitialised)
//! output rows and the product accumulated onto it, so the output is neither zero-filled nor
//! passed over a second time. Backward: `dx = dy W^T`, `dW = x^T dy`, `db = sum_rows dy`.

use std::mem::MaybeUninit;

use gemm::{Parallelism, gemm};

/// Products with at least this many multiply-adds use gemm's own rayon split.
const PAR_MIN_MACS: usize = 1 << 21;

/// A matrix `[rows, cols]` in `data` with element `(i, j)` at `offset + i * rs + j * cs`.
#[derive(Debug, Clone, Copy)]
pub struct Mat<'a> {
    pub data: &'a [f32],
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a> Mat<'a> {
    /// A strided matrix; panics when it reaches outside `data`.
    pub fn new(
        data: &'a [f32],
        offset: usize,
        [rows, cols]: [usize; 2],
        [rs, cs]: [usize; 2],
    ) -> Self {
        if rows > 0 && cols > 0 {
            let last = offset + (rows - 1) * rs + (cols - 1) * cs;
            assert!(
                last < data.len(),
                "linear: matrix reaches outside its storage"
            );
        }
        Self {
            data,
            offset,
            rows,
            cols,
            rs,
            cs,
        }
    }

    /// Row-major `[rows, cols]`.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::new(data, 0, [rows, cols], [cols, 1])
    }

    fn ptr(&self) -> *const f32 {
        // SAFETY: `offset` is inside `data` (checked in `new` for non-empty matrices).
        unsafe { self.data.as_ptr().add(self.offset.min(self.data.len())) }
    }

    /// Rows `start .. start + len`.
    fn rows(self, start: usize, len: usize) -> Self {
        Self {
            offset: self.offset + start * self.rs,
            rows: len,
            ..self
        }
    }

    fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }
}

/// Threads worth using on a product of `macs` multiply-adds (1 below [`PAR_MIN_MACS`]).
fn threads(macs: usize) -> usize {
    if macs >= PAR_MIN_MACS {
        rayon::current_num_threads().max(1)
    } else {
        1
    }
}

fn parallelism(threads: usize) -> Parallelism {
    if threads > 1 {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    }
}

/// `dst[m, n] (+)= lhs[m, k] rhs[k, n]`, `dst` row-major with `n` columns, on `threads`
/// threads (gemm's own split).
///
/// # Safety
/// `dst` must hold `lhs.rows * rhs.cols` elements; it is read only when `accumulate`.
unsafe fn product(dst: *mut f32, lhs: Mat, rhs: Mat, accumulate: bool, threads: usize) {
    assert_eq!(lhs.cols, rhs.rows, "linear: inner dimensions differ");
    let (m, n, k) = (lhs.rows, rhs.cols, lhs.cols);
    // SAFETY: the matrices were bounds-checked; `dst` is the caller's.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst,
            1,
            n as isize,
            accumulate,
            lhs.ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism(threads),
        )
    }
}

/// `y [n, d_out] = x [n, d_in] w [d_in, d_out] + bias [d_out]`; `y` is fully written.
pub fn forward(x: Mat, w: Mat, bias: Option<&[f32]>, y: &mut [MaybeUninit<f32>]) {
    let (n, d_out) = (x.rows, w.cols);
    assert_eq!(
        x.cols, w.rows,
        "linear: input width {} differs from the weight's {}",
        x.cols, w.rows
    );
    assert_eq!(y.len(), n * d_out, "linear: output length");
    if let Some(b) = bias {
        assert_eq!(
            b.len(),
            d_out,
            "linear: bias length {} differs from the output width {d_out}",
            b.len()
        );
    }
    if n == 0 || d_out == 0 {
        return;
    }
    // Row blocks, one per thread, each a single-threaded gemm: no synchronisation inside the
    // product, and the bias rows are written by the thread that accumulates onto them.
    let t = threads(n * x.cols * d_out).min(n);
    let block = n.div_ceil(t) * d_out;
    let run = |(i, yb): (usize, &mut [MaybeUninit<f32>])| {
        let start = i * (block / d_out);
        forward_rows(x.rows(start, yb.len() / d_out), w, bias, yb)
    };
    if t > 1 {
        use rayon::prelude::*;
        y.par_chunks_mut(block).enumerate().for_each(run);
    } else {
        run((0, y));
    }
}

/// [`forward`] on the rows `x` (`y` holds exactly their outputs), single-threaded.
fn forward_rows(x: Mat, w: Mat, bias: Option<&[f32]>, y: &mut [MaybeUninit<f32>]) {
    let d_out = w.cols;
    match bias {
        Some(b) => {
            for row in y.chunks_exact_mut(d_out) {
                for (o, &b) in row.iter_mut().zip(b) {
                    o.write(b);
                }
            }
        }
        None if x.cols == 0 => y.iter_mut().for_each(|o| {
            o.write(0.0);
        }),
        None => {}
    }
    if x.cols == 0 {
        return; // empty product: y is the bias (or zero)
    }
    // SAFETY: `y` holds x.rows x d_out; it was initialised above when it is read (bias).
    unsafe { product(y.as_mut_ptr().cast(), x, w, bias.is_some(), 1) }
}

/// Gradients of [`forward`] for the upstream `dy [n, d_out]` (row-major): fills
/// `dx [n, d_in]` and `dw [d_in, d_out]` and returns `db [d_out]`.
pub fn backward(
    x: Mat,
    w: Mat,
    dy: &[f32],
    dx: &mut [MaybeUninit<f32>],
    dw: &mut [MaybeUninit<f32>],
) -> Vec<f32> {
    let (n, d_in, d_out) = (x.rows, x.cols, w.cols);
    assert_eq!(dy.len(), n * d_out, "linear backward: gradient length");
    assert_eq!(dx.len(), n * d_in, "linear backward: dx length");
    assert_eq!(dw.len(), d_in * d_out, "linear backward: dw length");
    let dym = Mat::row_major(dy, n, d_out);
    if n == 0 || d_in == 0 || d_out == 0 {
        dx.iter_mut().chain(dw.iter_mut()).for_each(|o| {
            o.write(0.0);
        });
        return vec![0.0; d_out];
    }
    // dx and dW cost the same n d_in d_out multiply-adds: on two threads each gets one (no
    // synchronisation inside either product); more threads are shared between the two.
    let t = threads(n * d_in * d_out);
    let per = (t / 2).max(1);
    let mut dx_job = || {
        // SAFETY: `dx` holds n x d_in (checked above) and is not read.
        unsafe { product(dx.as_mut_ptr().cast(), dym, w.t(), false, per) }
    };
    let mut dw_job = || {
        // SAFETY: `dw` holds d_in x d_out (checked above) and is not read.
        unsafe { product(dw.as_mut_ptr().cast(), x.t(), dym, false, per) }
    };
    if t > 1 {
        rayon::join(dx_job, dw_job);
    } else {
        dx_job();
        dw_job();
    }
    column_sums(dy, d_out)
}

multiversion!(fn column_sums_impl(dy: &[f32], db: &mut [f32]) = column_sums_body;);

#[inline(always)]
fn column_sums_body<const FMA: bool>(dy: &[f32], db: &mut [f32]) {
    for row in dy.chunks_exact(db.len()) {
        for (s, v) in db.iter_mut().zip(row) {
            *s += v;
        }
    }
}

/// Sums of the `d`-wide rows of `dy`.
fn column_sums(dy: &[f32], d: usize) -> Vec<f32> {
    let mut db = vec![0.0; d];
    column_sums_impl(dy, &mut db);
    db
}
