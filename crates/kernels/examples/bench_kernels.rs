//! Fused kernels against burn's own ops, timed back to back in one process.
//!
//!     cargo run --release -p ifvit-kernels --example bench_kernels [-- REPS]
//!
//! For each op at `uvit-tiny` (batch 32, 25 tokens, width 128, 2 heads of 64, MLP 512) and
//! `uvit-s2` (batch 4, 334 tokens, width 512, 8 heads of 64, MLP 2048) shapes: the median
//! time of the forward alone (no autodiff: sampling) and of forward + backward under autodiff
//! (training; loss `sum(y * w)`), fused and burn's, alternating the two on every repetition,
//! and their ratio (burn / fused: > 1 means the fused op is faster). `base` is the cost of the
//! loss and backward bookkeeping alone (`y = x`), included in both train columns.
//! Attention runs as U-ViT calls it: q, k, v split from one `[b, l, 3 d]` projection, heads
//! merged afterwards. The allocator is tuned as in the `ifvit` CLI. For the linear layers (`qkv`: `d -> 3 d` without bias, `fc1`:
//! `d -> hidden` with bias) `base` is burn's plain matmul (no bias) under the same loss.

use std::time::Instant;

use burn::tensor::{Device, Distribution, Tensor};
use ifvit_kernels::{attention, gelu, layer_norm, linear, reference};

struct Shape {
    name: &'static str,
    batch: usize,
    tokens: usize,
    dim: usize,
    heads: usize,
    hidden: usize,
}

const SHAPES: [Shape; 2] = [
    Shape {
        name: "uvit-tiny",
        batch: 32,
        tokens: 25,
        dim: 128,
        heads: 2,
        hidden: 512,
    },
    Shape {
        name: "uvit-s2",
        batch: 4,
        tokens: 334,
        dim: 512,
        heads: 8,
        hidden: 2048,
    },
];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Median milliseconds of `a` and `b`, alternated `reps` times after one warm-up each.
fn race(reps: usize, mut a: impl FnMut(), mut b: impl FnMut()) -> (f64, f64) {
    a();
    b();
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let t = Instant::now();
        a();
        ta.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        b();
        tb.push(t.elapsed().as_secs_f64() * 1e3);
    }
    (median(ta), median(tb))
}

fn rand<const D: usize>(dims: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(dims, Distribution::Normal(0.0, 1.0), device)
}

/// `[b, l, 3 h dh]` -> q, k, v `[b, h, l, dh]` (strided views, as crates/fusion does).
fn split_qkv(qkv: Tensor<3>, heads: usize) -> [Tensor<4>; 3] {
    let [b, l, d3] = qkv.dims();
    let dh = d3 / (3 * heads);
    let x: Tensor<5> = qkv.reshape([b, l, 3, heads, dh]).permute([2, 0, 3, 1, 4]);
    let mut it = x
        .chunk(3, 0)
        .into_iter()
        .map(|t| t.reshape([b, heads, l, dh]));
    [it.next().unwrap(), it.next().unwrap(), it.next().unwrap()]
}

type Op3 = fn(Tensor<3>, &[Tensor<1>]) -> Tensor<3>;

fn report(op: &str, shape: &str, infer: (f64, f64), train: (f64, f64), base: f64) {
    println!(
        "{op:<10} {shape:<10} infer fused {:8.3} ms  burn {:8.3} ms  x{:5.2} | train fused {:8.3} ms  burn {:8.3} ms  x{:5.2}  (base {:.3} ms)",
        infer.0,
        infer.1,
        infer.1 / infer.0,
        train.0,
        train.1,
        train.1 / train.0,
        base
    );
}

fn bench_op(
    reps: usize,
    op: &str,
    s: &Shape,
    dims: [usize; 3],
    params: usize,
    fused: Op3,
    burn: Op3,
) {
    let flex = Device::flex();
    let ad = flex.clone().autodiff();
    let x = rand(dims, &flex);
    let p: Vec<Tensor<1>> = (0..params).map(|_| rand([dims[2]], &flex)).collect();
    let infer = race(
        reps,
        || drop(fused(x.clone(), &p)),
        || drop(burn(x.clone(), &p)),
    );
    let xa = rand(dims, &ad).require_grad();
    let pa: Vec<Tensor<1>> = (0..params)
        .map(|_| rand([dims[2]], &ad).require_grad())
        .collect();
    let w = rand(dims, &ad);
    let step = |f: Op3| drop((f(xa.clone(), &pa) * w.clone()).sum().backward());
    let train = race(reps, || step(fused), || step(burn));
    let (base, _) = race(reps, || step(|x, _| x), || step(|x, _| x));
    report(op, s.name, infer, train, base);
}

fn bench_attention(reps: usize, s: &Shape) {
    let (b, l, d, h) = (s.batch, s.tokens, s.dim, s.heads);
    let flex = Device::flex();
    let ad = flex.clone().autodiff();
    type Attn = fn(Tensor<4>, Tensor<4>, Tensor<4>) -> Tensor<4>;
    let run = |qkv: Tensor<3>, f: Attn| {
        let [q, k, v] = split_qkv(qkv, h);
        f(q, k, v).swap_dims(1, 2).reshape([b, l, d])
    };
    let qkv = rand([b, l, 3 * d], &flex);
    let infer = race(
        reps,
        || drop(run(qkv.clone(), attention)),
        || drop(run(qkv.clone(), reference::attention)),
    );
    let qkv_a = rand([b, l, 3 * d], &ad).require_grad();
    let w = rand([b, l, d], &ad);
    let step = |f: Attn| drop((run(qkv_a.clone(), f) * w.clone()).sum().backward());
    let train = race(reps, || step(attention), || step(reference::attention));
    let ident: Attn = |q, _, _| q;
    let (base, _) = race(reps, || step(ident), || step(ident));
    report("attention", s.name, infer, train, base);
}

/// `x [b, l, d_in] W [d_in, d_out] (+ b)`: the qkv projection (no bias) and fc1 (bias).
fn bench_linear(reps: usize, op: &str, s: &Shape, d_out: usize, bias: bool) {
    let (b, l, d) = (s.batch, s.tokens, s.dim);
    let flex = Device::flex();
    let ad = flex.clone().autodiff();
    type Lin = fn(Tensor<3>, Tensor<2>, Option<Tensor<1>>) -> Tensor<3>;
    let (x, w, bb) = (
        rand([b, l, d], &flex),
        rand([d, d_out], &flex),
        rand([d_out], &flex),
    );
    let infer = race(
        reps,
        || drop(linear(x.clone(), w.clone(), bias.then(|| bb.clone()))),
        || {
            drop(reference::linear(
                x.clone(),
                w.clone(),
                bias.then(|| bb.clone()),
            ))
        },
    );
    let xa = rand([b, l, d], &ad).require_grad();
    let wa = rand([d, d_out], &ad).require_grad();
    let ba = rand([d_out], &ad).require_grad();
    let wy = rand([b, l, d_out], &ad);
    let step = |f: Lin| {
        let y = f(xa.clone(), wa.clone(), bias.then(|| ba.clone()));
        drop((y * wy.clone()).sum().backward())
    };
    let train = race(reps, || step(linear), || step(reference::linear));
    let ident: Lin = |x, w, _| {
        let [b, l, d] = x.dims();
        let d_out = w.dims()[1];
        x.reshape([b * l, d]).matmul(w).reshape([b, l, d_out])
    };
    let (base, _) = race(reps, || step(ident), || step(ident));
    report(op, s.name, infer, train, base);
}

/// The allocator settings of the `ifvit` CLI (crates/cli/src/main.rs): without them glibc
/// returns every freed block over 128 KiB to the OS and faults it back in on the next call,
/// which costs more than GELU itself at these sizes.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator parameters; called before any threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
    }
}

fn main() {
    tune_allocator();
    let reps: usize = std::env::args()
        .nth(1)
        .map_or(30, |a| a.parse().expect("REPS: a number"));
    println!("median of {reps} alternated repetitions; x = burn / fused (> 1: fused faster)");
    for s in &SHAPES {
        let (b, l) = (s.batch, s.tokens);
        bench_op(
            reps,
            "gelu",
            s,
            [b, l, s.hidden],
            0,
            |x, _| gelu(x),
            |x, _| reference::gelu(x),
        );
        bench_op(
            reps,
            "layer_norm",
            s,
            [b, l, s.dim],
            2,
            |x, p| layer_norm(x, p[0].clone(), p[1].clone(), 1e-5),
            |x, p| reference::layer_norm(x, p[0].clone(), p[1].clone(), 1e-5),
        );
        bench_attention(reps, s);
        bench_linear(reps, "qkv", s, 3 * s.dim, false);
        bench_linear(reps, "fc1", s, s.hidden, true);
    }
}
