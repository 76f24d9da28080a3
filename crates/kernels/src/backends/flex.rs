//! `KernelOps` for Flex: `FlexTensor` in, the slice kernels of [`crate::flex`], `FlexTensor`
//! out. The `*_train` / `*_backward` functions are what the autodiff arm calls.

use burn::backend::Flex;
use burn_flex::FlexTensor;

use crate::KernelOps;
use crate::flex::adamw::{self, AdamWStep};
use crate::flex::attention::{self, View};
use crate::flex::gelu;
use crate::flex::layer_norm::{self, Stats};
use crate::flex::linear::{self, Mat};
use crate::flex::tensor::{assume_init, contiguous, dims, from_vec, uninit, values};

impl KernelOps for Flex {
    fn fused_gelu(x: FlexTensor) -> FlexTensor {
        gelu_forward(&contiguous(x))
    }

    fn fused_layer_norm(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        eps: f64,
    ) -> FlexTensor {
        layer_norm_forward(&contiguous(x), &contiguous(gamma), &contiguous(beta), eps).0
    }

    fn fused_attention(q: FlexTensor, k: FlexTensor, v: FlexTensor) -> FlexTensor {
        attention_forward(&view_ready(q), &view_ready(k), &view_ready(v), false).0
    }

    fn fused_linear(x: FlexTensor, weight: FlexTensor, bias: FlexTensor) -> FlexTensor {
        let bias = contiguous(bias);
        linear_forward(&contiguous(x), &matrix_ready(weight), Some(&bias))
    }

    fn fused_linear_no_bias(x: FlexTensor, weight: FlexTensor) -> FlexTensor {
        linear_forward(&contiguous(x), &matrix_ready(weight), None)
    }

    fn fused_adamw(
        param: FlexTensor,
        grad: FlexTensor,
        moment_1: FlexTensor,
        moment_2: FlexTensor,
        lr: f64,
        beta_1: f64,
        beta_2: f64,
        epsilon: f64,
        weight_decay: f64,
        time: u64,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let step = AdamWStep {
            lr,
            beta_1: beta_1 as f32,
            beta_2: beta_2 as f32,
            epsilon: epsilon as f32,
            weight_decay: weight_decay as f32,
            time: usize::try_from(time).unwrap_or(usize::MAX),
        };
        adamw_step(param, grad, moment_1, moment_2, step)
    }
}

/// `t` contiguous and the sole owner of exactly its elements (copied when shared), so that a
/// kernel may overwrite it.
fn owned(t: FlexTensor) -> FlexTensor {
    let mut t = contiguous(t);
    let n = t.layout().num_elements();
    if t.bytes().len() == n * size_of::<f32>() && t.try_storage_mut::<f32>().is_some() {
        return t;
    }
    from_vec(values(&t).to_vec(), dims(&t))
}

/// The elements of a tensor made by [`owned`], writable.
fn values_mut(t: &mut FlexTensor) -> &mut [f32] {
    t.try_storage_mut::<f32>()
        .expect("ifvit-kernels: expected a uniquely owned f32 Flex tensor")
}

/// One AdamW step; `(param, moment_1, moment_2)` updated in place where not shared.
pub(crate) fn adamw_step(
    param: FlexTensor,
    grad: FlexTensor,
    moment_1: FlexTensor,
    moment_2: FlexTensor,
    step: AdamWStep,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let shape = dims(&param);
    for (name, t) in [
        ("gradient", &grad),
        ("moment_1", &moment_1),
        ("moment_2", &moment_2),
    ] {
        assert_eq!(
            dims(t),
            shape,
            "adamw: the {name} {:?} differs in shape from the parameter {shape:?}",
            dims(t)
        );
    }
    let grad = contiguous(grad);
    let (mut p, mut m, mut v) = (owned(param), owned(moment_1), owned(moment_2));
    adamw::step(
        values_mut(&mut p),
        values(&grad),
        values_mut(&mut m),
        values_mut(&mut v),
        step,
    );
    (p, m, v)
}

/// `gelu(x)` for a contiguous `x`.
pub(crate) fn gelu_forward(x: &FlexTensor) -> FlexTensor {
    let xs = values(x);
    let mut y = uninit(xs.len());
    gelu::forward(xs, &mut y);
    // SAFETY: `gelu::forward` writes every element.
    from_vec(unsafe { assume_init(y) }, dims(x))
}

/// `dy * gelu'(x)` for a contiguous `x`.
pub(crate) fn gelu_backward(x: &FlexTensor, dy: FlexTensor) -> FlexTensor {
    let dy = contiguous(dy);
    let xs = values(x);
    let mut dx = uninit(xs.len());
    gelu::backward(xs, values(&dy), &mut dx);
    // SAFETY: `gelu::backward` writes every element.
    from_vec(unsafe { assume_init(dx) }, dims(x))
}

fn check_affine(x: &FlexTensor, gamma: &FlexTensor, beta: &FlexTensor) {
    let d = *dims(x)
        .last()
        .expect("layer_norm: input must have at least one dimension");
    assert!(
        dims(gamma) == [d] && dims(beta) == [d],
        "layer_norm: gamma {:?} and beta {:?} must both be [{d}] (the input's last dimension)",
        dims(gamma),
        dims(beta)
    );
}

/// LayerNorm of contiguous tensors; returns the output and the per-row statistics.
pub(crate) fn layer_norm_forward(
    x: &FlexTensor,
    gamma: &FlexTensor,
    beta: &FlexTensor,
    eps: f64,
) -> (FlexTensor, Stats) {
    check_affine(x, gamma, beta);
    let xs = values(x);
    let mut y = uninit(xs.len());
    let stats = layer_norm::forward(xs, values(gamma), values(beta), eps as f32, &mut y);
    // SAFETY: `layer_norm::forward` writes every element.
    (from_vec(unsafe { assume_init(y) }, dims(x)), stats)
}

/// `(dx, dgamma, dbeta)` of [`layer_norm_forward`].
pub(crate) fn layer_norm_backward(
    x: &FlexTensor,
    gamma: &FlexTensor,
    stats: &Stats,
    dy: FlexTensor,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let dy = contiguous(dy);
    let xs = values(x);
    let mut dx = uninit(xs.len());
    let (dg, db) = layer_norm::backward(xs, values(&dy), values(gamma), stats, &mut dx);
    let d = dg.len();
    // SAFETY: `layer_norm::backward` writes every element of `dx`.
    let dx = from_vec(unsafe { assume_init(dx) }, dims(x));
    (dx, from_vec(dg, vec![d]), from_vec(db, vec![d]))
}

/// `t` as an attention operand: 4-D f32 with a contiguous last dimension and non-negative
/// strides (a copy only when it is not; the heads of a `[b, l, h * d]` tensor qualify).
pub(crate) fn view_ready(t: FlexTensor) -> FlexTensor {
    let layout = t.layout();
    assert_eq!(
        layout.num_dims(),
        4,
        "attention: expected [batch, heads, tokens, head_dim], got {:?}",
        layout.shape()
    );
    let s = layout.strides();
    let shape = layout.shape();
    let ok = (s[3] == 1 || shape[3] == 1) && s.iter().all(|&v| v >= 0);
    if ok { t } else { t.to_contiguous() }
}

/// The [`View`] of a tensor prepared by [`view_ready`].
pub(crate) fn view(t: &FlexTensor) -> View<'_> {
    let l = t.layout();
    let s = l.strides();
    let d = l.shape();
    View::new(
        t.storage::<f32>(),
        l.start_offset(),
        [d[0], d[1], d[2], d[3]],
        [s[0] as usize, s[1] as usize, s[2] as usize],
    )
}

/// Attention forward; with `keep_probs`, also returns `P` (`[b, h, lq, lk]`).
/// The output is `[b, h, lq, dv]` stored as `[b, lq, h, dv]`, so merging the heads
/// (`swap_dims(1, 2).reshape([b, lq, h * dv])`) is free.
pub(crate) fn attention_forward(
    q: &FlexTensor,
    k: &FlexTensor,
    v: &FlexTensor,
    keep_probs: bool,
) -> (FlexTensor, Option<FlexTensor>) {
    let (qv, kv, vv) = (view(q), view(k), view(v));
    let [b, h, lq, _] = qv.dims;
    let lk = kv.dims[2];
    let dv = vv.dims[3];
    let mut out = uninit(b * lq * h * dv);
    let mut probs = keep_probs.then(|| vec![0.0f32; b * h * lq * lk]);
    attention::forward(qv, kv, vv, &mut out, probs.as_deref_mut());
    // SAFETY: `attention::forward` writes every element of `out`.
    let out = from_vec(unsafe { assume_init(out) }, vec![b, lq, h, dv]).permute(&[0, 2, 1, 3]);
    (out, probs.map(|p| from_vec(p, vec![b, h, lq, lk])))
}

/// `(dq, dk, dv)` of [`attention_forward`], each row-major `[b, h, l, d]`.
pub(crate) fn attention_backward(
    q: &FlexTensor,
    k: &FlexTensor,
    v: &FlexTensor,
    o: &FlexTensor,
    probs: &FlexTensor,
    d_o: FlexTensor,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let d_o = view_ready(d_o);
    let (qv, kv, vv) = (view(q), view(k), view(v));
    let (b, h, lq, dh) = (qv.dims[0], qv.dims[1], qv.dims[2], qv.dims[3]);
    let (lk, dv) = (kv.dims[2], vv.dims[3]);
    let mut dq = uninit(b * h * lq * dh);
    let mut dk = uninit(b * h * lk * dh);
    let mut dvv = uninit(b * h * lk * dv);
    attention::backward(
        qv,
        kv,
        vv,
        view(o),
        view(&d_o),
        values(probs),
        &mut dq,
        &mut dk,
        &mut dvv,
    );
    // SAFETY: `attention::backward` writes every element of all three.
    unsafe {
        (
            from_vec(assume_init(dq), vec![b, h, lq, dh]),
            from_vec(assume_init(dk), vec![b, h, lk, dh]),
            from_vec(assume_init(dvv), vec![b, h, lk, dv]),
        )
    }
}

/// `t` as a 2-D gemm operand: any non-negative strides (a transposed view is fine).
pub(crate) fn matrix_ready(t: FlexTensor) -> FlexTensor {
    let layout = t.layout();
    assert_eq!(
        layout.num_dims(),
        2,
        "linear: the weight must be [d_in, d_out], got {:?}",
        layout.shape()
    );
    if layout.strides().iter().all(|&s| s >= 0) {
        t
    } else {
        t.to_contiguous()
    }
}

fn matrix(t: &FlexTensor) -> Mat<'_> {
    let l = t.layout();
    let (s, d) = (l.strides(), l.shape());
    Mat::new(
        t.storage::<f32>(),
        l.start_offset(),
        [d[0], d[1]],
        [s[0] as usize, s[1] as usize],
    )
}

/// A contiguous `[.., d_in]` tensor as the row-major matrix `[n, d_in]`.
fn rows(x: &FlexTensor) -> Mat<'_> {
    let d = dims(x);
    let d_in = *d
        .last()
        .expect("linear: the input must have at least one dimension");
    let n = d[..d.len() - 1].iter().product();
    Mat::row_major(values(x), n, d_in)
}

/// `x W (+ b)` for a contiguous `x [.., d_in]` and a [`matrix_ready`] weight.
pub(crate) fn linear_forward(
    x: &FlexTensor,
    w: &FlexTensor,
    bias: Option<&FlexTensor>,
) -> FlexTensor {
    let (xm, wm) = (rows(x), matrix(w));
    if let Some(b) = bias {
        assert_eq!(
            dims(b),
            [wm.cols],
            "linear: bias {:?} must be [{}] (d_out)",
            dims(b),
            wm.cols
        );
    }
    let mut y = uninit(xm.rows * wm.cols);
    linear::forward(xm, wm, bias.map(values), &mut y);
    let mut shape = dims(x);
    *shape.last_mut().unwrap() = wm.cols;
    // SAFETY: `linear::forward` writes every element.
    from_vec(unsafe { assume_init(y) }, shape)
}

/// `(dx, dw, db)` of [`linear_forward`].
pub(crate) fn linear_backward(
    x: &FlexTensor,
    w: &FlexTensor,
    dy: FlexTensor,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let dy = contiguous(dy);
    let (xm, wm) = (rows(x), matrix(w));
    let mut dx = uninit(xm.rows * xm.cols);
    let mut dw = uninit(wm.rows * wm.cols);
    let db = linear::backward(xm, wm, values(&dy), &mut dx, &mut dw);
    // SAFETY: `linear::backward` writes every element of dx and dw.
    unsafe {
        (
            from_vec(assume_init(dx), dims(x)),
            from_vec(assume_init(dw), vec![wm.rows, wm.cols]),
            from_vec(db, vec![wm.cols]),
        )
    }
}
