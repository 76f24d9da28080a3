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

fn parallelism(macs: usize) -> Parallelism {
    if macs >= PAR_MIN_MACS {
        Parallelism::Rayon(rayon::current_num_threads())
    } else {
        Parallelism::None
    }
}

/// `dst[m, n] (+)= lhs[m, k] rhs[k, n]`, `dst` row-major with `n` columns.
///
/// # Safety
/// `dst` must hold `lhs.rows * rhs.cols` elements; it is read only when `accumulate`.
unsafe fn product(dst: *mut f32, lhs: Mat, rhs: Mat, accumulate: bool) {
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
            parallelism(m * n * k),
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
        for row in y.chunks_exact_mut(d_out.max(1)) {
            for (o, &b) in row.iter_mut().zip(b) {
                o.write(b);
            }
        }
    }
    if n == 0 || d_out == 0 {
        return;
    }
    if x.cols == 0 {
        // Empty product: y is the bias (or zero).
        if bias.is_none() {
            y.iter_mut().for_each(|o| {
                o.write(0.0);
            });
        }
        return;
    }
    // SAFETY: `y` holds n x d_out; it was initialised above when it is read (bias).
    unsafe { product(y.as_mut_ptr().cast(), x, w, bias.is_some()) }
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
    // SAFETY: sizes checked above; neither output is read.
    unsafe {
        product(dx.as_mut_ptr().cast(), dym, w.t(), false);
        product(dw.as_mut_ptr().cast(), x.t(), dym, false);
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
