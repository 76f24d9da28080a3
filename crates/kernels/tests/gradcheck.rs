//! Gradient checks: each fused op against burn's own (decomposed under autodiff) op on the
//! same inputs, values and gradients, on small shapes (fast in debug builds). The loss is
//! `sum(y * w)` with a fixed random `w`, so every output element gets a distinct gradient.
//! Tolerances are absolute, for O(1) inputs, and stated per check.

mod common;

use burn::tensor::{Device, Tensor};
use common::{assert_close, tensor, to_vec};
use ifvit_kernels::{attention, fused_available, gelu, layer_norm, linear, reference};

fn ad() -> Device {
    Device::flex().autodiff()
}

/// Value and gradients of `f` under `loss = sum(f(inputs) * w)`.
fn run<const D: usize, const N: usize>(
    inputs: &[Tensor<D>; N],
    w: &Tensor<D>,
    f: impl Fn([Tensor<D>; N]) -> Tensor<D>,
) -> (Vec<f32>, [Vec<f32>; N]) {
    let leaves: [Tensor<D>; N] = inputs.clone().map(|t| t.require_grad());
    let y = f(leaves.clone());
    let grads = (y.clone() * w.clone()).sum().backward();
    let g = leaves.map(|t| to_vec(&t.grad(&grads).expect("input has a gradient")));
    (to_vec(&y), g)
}

#[test]
fn routing_takes_the_fused_path_on_flex_only_for_f32() {
    let x = tensor([2, 3], 1, 1.0, &Device::flex());
    assert!(fused_available(&x));
    let x_ad = tensor([2, 3], 1, 1.0, &ad());
    assert!(fused_available(&x_ad));
    assert!(!fused_available(&x.cast(burn::tensor::DType::F64)));
}

#[test]
fn gelu_matches_burn_values_and_gradient() {
    let dev = ad();
    // Large enough (2 x 40 x 512 = 40960) to take the multi-threaded path.
    let x = tensor([2, 40, 512], 11, 4.0, &dev);
    let w = tensor([2, 40, 512], 12, 1.0, &dev);
    let inputs = [x];
    let (y, [dx]) = run(&inputs, &w, |[x]| gelu(x));
    let (y_ref, [dx_ref]) = run(&inputs, &w, |[x]| reference::gelu(x));
    // burn's Flex gelu uses libm's erff (about 1 ulp); ours is within 1e-7 of erf.
    assert_close("gelu y", &y, &y_ref, 2e-6);
    assert_close("gelu dx", &dx, &dx_ref, 2e-6);
}

#[test]
fn gelu_without_autodiff_matches_burn() {
    let x = tensor([3, 5, 7], 13, 5.0, &Device::flex());
    assert_close(
        "gelu y",
        &to_vec(&gelu(x.clone())),
        &to_vec(&reference::gelu(x)),
        2e-6,
    );
}

fn check_layer_norm(dims: [usize; 3], seed: u64) {
    let dev = ad();
    let d = dims[2];
    // An offset mean (3.0) exercises the two-pass variance.
    let x = tensor(dims, seed, 2.0, &dev) + 3.0;
    let gamma = tensor([d], seed + 1, 1.0, &dev) + 1.0;
    let beta = tensor([d], seed + 2, 0.5, &dev);
    let w = tensor(dims, seed + 3, 1.0, &dev);
    let go = |f: &dyn Fn(Tensor<3>, Tensor<1>, Tensor<1>) -> Tensor<3>| {
        let (x, g, b) = (
            x.clone().require_grad(),
            gamma.clone().require_grad(),
            beta.clone().require_grad(),
        );
        let y = f(x.clone(), g.clone(), b.clone());
        let grads = (y.clone() * w.clone()).sum().backward();
        (
            to_vec(&y),
            to_vec(&x.grad(&grads).unwrap()),
            to_vec(&g.grad(&grads).unwrap()),
            to_vec(&b.grad(&grads).unwrap()),
        )
    };
    let (y, dx, dg, db) = go(&|x, g, b| layer_norm(x, g, b, 1e-5));
    let (y2, dx2, dg2, db2) = go(&|x, g, b| reference::layer_norm(x, g, b, 1e-5));
    assert_close("ln y", &y, &y2, 1e-5);
    assert_close("ln dx", &dx, &dx2, 1e-4);
    // dgamma/dbeta sum over all rows: tolerance grows with the row count.
    let rows = (dims[0] * dims[1]) as f32;
    assert_close("ln dgamma", &dg, &dg2, 1e-5 * rows);
    assert_close("ln dbeta", &db, &db2, 1e-5 * rows);
}

#[test]
fn layer_norm_matches_burn_values_and_gradients() {
    check_layer_norm([2, 5, 24], 21);
}

#[test]
fn layer_norm_multithreaded_path_matches_burn() {
    // 2 x 160 x 128 = 40960 elements: the rayon path with per-task dgamma/dbeta partials.
    check_layer_norm([2, 160, 128], 31);
}

/// The U-ViT layout: q, k, v are strided views of one `[b, l, 3 * h * dh]` projection.
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

fn check_attention(b: usize, h: usize, lq: usize, lk: usize, dh: usize, seed: u64) {
    let dev = ad();
    let q = tensor([b, h, lq, dh], seed, 1.5, &dev);
    let k = tensor([b, h, lk, dh], seed + 1, 1.5, &dev);
    let v = tensor([b, h, lk, dh], seed + 2, 1.0, &dev);
    let w = tensor([b, h, lq, dh], seed + 3, 1.0, &dev);
    let inputs = [q, k, v];
    let (y, [dq, dk, dv]) = run(&inputs, &w, |[q, k, v]| attention(q, k, v));
    let (y2, [dq2, dk2, dv2]) = run(&inputs, &w, |[q, k, v]| reference::attention(q, k, v));
    assert_close("attn y", &y, &y2, 1e-5);
    assert_close("attn dq", &dq, &dq2, 1e-5);
    assert_close("attn dk", &dk, &dk2, 1e-5);
    assert_close("attn dv", &dv, &dv2, 1e-5);
}

#[test]
fn attention_matches_burn_values_and_gradients() {
    check_attention(2, 3, 5, 5, 8, 41);
    // Cross-attention shape: fewer queries than keys.
    check_attention(1, 2, 4, 9, 4, 51);
}

#[test]
fn attention_multithreaded_path_matches_burn() {
    // 4 x 4 x 26 x 26 x (16 + 16) = 346k multiply-adds: the rayon path.
    check_attention(4, 4, 26, 26, 16, 61);
}

#[test]
fn attention_on_strided_heads_and_merged_output() {
    let dev = ad();
    let (b, l, heads, dh) = (2, 7, 2, 4);
    let qkv = tensor([b, l, 3 * heads * dh], 71, 1.5, &dev);
    let w = tensor([b, l, heads * dh], 72, 1.0, &dev);
    let go = |f: &dyn Fn(Tensor<4>, Tensor<4>, Tensor<4>) -> Tensor<4>| {
        let qkv = qkv.clone().require_grad();
        let [q, k, v] = split_qkv(qkv.clone(), heads);
        let y = f(q, k, v).swap_dims(1, 2).reshape([b, l, heads * dh]);
        let grads = (y.clone() * w.clone()).sum().backward();
        (to_vec(&y), to_vec(&qkv.grad(&grads).unwrap()))
    };
    let (y, g) = go(&|q, k, v| attention(q, k, v));
    let (y2, g2) = go(&|q, k, v| reference::attention(q, k, v));
    assert_close("merged y", &y, &y2, 1e-5);
    assert_close("dqkv", &g, &g2, 1e-5);
}

#[test]
fn attention_without_autodiff_matches_burn() {
    let dev = Device::flex();
    let q = tensor([2, 2, 6, 8], 81, 1.0, &dev);
    let k = tensor([2, 2, 10, 8], 82, 1.0, &dev);
    let v = tensor([2, 2, 10, 8], 83, 1.0, &dev);
    let y = attention(q.clone(), k.clone(), v.clone());
    let y2 = reference::attention(q, k, v);
    assert_close("attn y", &to_vec(&y), &to_vec(&y2), 1e-5);
}

#[test]
fn untracked_inputs_on_autodiff_device_work() {
    // Parameters frozen / inference under an autodiff device: no gradient is requested.
    let dev = ad();
    let x = tensor([2, 3, 8], 91, 1.0, &dev);
    let g = tensor([8], 92, 1.0, &dev);
    let b = tensor([8], 93, 1.0, &dev);
    let y = layer_norm(x.clone(), g.clone(), b.clone(), 1e-5);
    let y2 = reference::layer_norm(x, g, b, 1e-5);
    assert_close("ln y", &to_vec(&y), &to_vec(&y2), 1e-5);
}

#[test]
#[should_panic(expected = "gamma")]
fn layer_norm_rejects_mismatched_gamma() {
    let dev = Device::flex();
    let _ = layer_norm(
        tensor([2, 8], 1, 1.0, &dev),
        tensor([7], 2, 1.0, &dev),
        tensor([8], 3, 1.0, &dev),
        1e-5,
    );
}

fn check_linear(dims: [usize; 3], d_out: usize, bias: bool, transposed_weight: bool, seed: u64) {
    let dev = ad();
    let x = tensor(dims, seed, 1.0, &dev);
    // A transposed view (as a PyTorch [out, in] weight would be) must work without a copy.
    let w = if transposed_weight {
        tensor([d_out, dims[2]], seed + 1, 0.3, &dev).transpose()
    } else {
        tensor([dims[2], d_out], seed + 1, 0.3, &dev)
    };
    let b = tensor([d_out], seed + 2, 0.5, &dev);
    let wy = tensor([dims[0], dims[1], d_out], seed + 3, 1.0, &dev);
    let go = |f: &dyn Fn(Tensor<3>, Tensor<2>, Option<Tensor<1>>) -> Tensor<3>| {
        let (x, w, b) = (
            x.clone().require_grad(),
            w.clone().require_grad(),
            b.clone().require_grad(),
        );
        let y = f(x.clone(), w.clone(), bias.then(|| b.clone()));
        let grads = (y.clone() * wy.clone()).sum().backward();
        let db = bias.then(|| to_vec(&b.grad(&grads).unwrap()));
        (
            to_vec(&y),
            to_vec(&x.grad(&grads).unwrap()),
            to_vec(&w.grad(&grads).unwrap()),
            db,
        )
    };
    let (y, dx, dw, db) = go(&|x, w, b| linear(x, w, b));
    let (y2, dx2, dw2, db2) = go(&|x, w, b| reference::linear(x, w, b));
    let rows = (dims[0] * dims[1]) as f32;
    assert_close("linear y", &y, &y2, 1e-5);
    assert_close("linear dx", &dx, &dx2, 1e-5);
    assert_close("linear dw", &dw, &dw2, 1e-6 * rows);
    if let (Some(db), Some(db2)) = (db, db2) {
        assert_close("linear db", &db, &db2, 1e-6 * rows);
    }
}

#[test]
fn linear_matches_burn_values_and_gradients() {
    check_linear([2, 5, 12], 7, true, false, 101);
    check_linear([2, 5, 12], 7, false, true, 111);
}

#[test]
fn linear_multithreaded_gemm_matches_burn() {
    // 2 x 100 x 128 x 96 = 2.5M multiply-adds: row blocks on rayon's threads (forward), dx
    // and dW concurrently (backward).
    check_linear([2, 100, 128], 96, true, false, 121);
    // 201 rows: blocks of unequal length; transposed weight, no bias.
    check_linear([3, 67, 128], 96, false, true, 123);
}

#[test]
fn adamw_matches_burns_formula_and_leaves_shared_tensors_alone() {
    use ifvit_kernels::{AdamWStep, adamw_step};
    let dev = Device::flex();
    // 40 x 1000: large enough to take the multi-threaded path.
    let p0 = tensor([40, 1000], 141, 1.0, &dev);
    let mut s = AdamWStep {
        lr: 1e-2,
        beta_1: 0.9,
        beta_2: 0.99,
        epsilon: 1e-8,
        weight_decay: 0.03,
        time: 1,
    };
    let (mut fused, mut refr) = ((p0.clone(), None), (p0.clone(), None));
    for t in 1..=3u64 {
        s.time = t as usize;
        let g = tensor([40, 1000], 150 + t, 0.5, &dev);
        // `held` shares the parameter's buffer: the step must copy, not write through it.
        let held = fused.0.clone();
        let before = to_vec(&held);
        let (p, m, v) = adamw_step(fused.0, g.clone(), fused.1, s);
        assert_eq!(
            to_vec(&held),
            before,
            "step {t} wrote into a shared parameter"
        );
        fused = (p, Some((m, v)));
        let (m0, v0) = refr.1.unwrap_or_else(|| (g.zeros_like(), g.zeros_like()));
        let (p, m, v) = reference::adamw_step(refr.0, g, (m0, v0), s);
        refr = (p, Some((m, v)));
    }
    let (fm, fv) = fused.1.unwrap();
    let (rm, rv) = refr.1.unwrap();
    // Same f32 formula; burn's ops may round a product differently (a few ulp of O(1)).
    assert_close("adamw param", &to_vec(&fused.0), &to_vec(&refr.0), 1e-6);
    assert_close("adamw m", &to_vec(&fm), &to_vec(&rm), 1e-7);
    assert_close("adamw v", &to_vec(&fv), &to_vec(&rv), 1e-7);
    // The parameters moved.
    let moved = (fused.0 - p0).abs().max().into_scalar::<f32>();
    assert!(moved > 1e-3, "the parameters did not move ({moved:e})");
}

#[test]
fn module_helpers_match_the_burn_modules() {
    use burn::nn::{LayerNormConfig, LinearConfig};
    let dev = ad();
    let x = tensor([2, 3, 16], 131, 2.0, &dev);
    let norm = LayerNormConfig::new(16).init(&dev);
    let y = ifvit_kernels::layer_norm_module(&norm, x.clone(), 1e-5);
    assert_close(
        "ln module",
        &to_vec(&y),
        &to_vec(&norm.forward(x.clone())),
        1e-5,
    );
    let no_bias = LayerNormConfig::new(16).with_bias(false).init(&dev);
    let y = ifvit_kernels::layer_norm_module(&no_bias, x.clone(), 1e-5);
    assert_close(
        "ln no bias",
        &to_vec(&y),
        &to_vec(&no_bias.forward(x.clone())),
        1e-5,
    );
    let lin = LinearConfig::new(16, 8).init(&dev);
    let y = ifvit_kernels::linear_module(&lin, x.clone());
    assert_close("linear module", &to_vec(&y), &to_vec(&lin.forward(x)), 1e-5);
}
