//! Classifier-free guidance: one batched forward per step, and our `w` form
//! `eps_u + w (eps_c - eps_u)` equals U-ViT's `eps_c + s (eps_c - eps_u)` with `s = w - 1`.

mod common;

use std::cell::RefCell;

use burn::tensor::{Device, Tensor};
use common::{Mixture, host, max_abs_diff};
use ifvit_diffusion::{
    NoiseSchedule, Prediction, SamplerConfig, guided, randn, sample, seeded_rng, w_from_uvit_scale,
};

/// A "conditional" and an "unconditional" exact model: the data are N(+1, 0.5^2) given the
/// condition and the mixture 0.5 N(-1, 0.5^2) + 0.5 N(+1, 0.5^2) without it.
fn models() -> (Mixture, Mixture) {
    let cond = Mixture {
        comps: vec![vec![(1.0, 1.0, 0.5)]],
    };
    let uncond = Mixture {
        comps: vec![vec![(0.5, -1.0, 0.5), (0.5, 1.0, 0.5)]],
    };
    (cond, uncond)
}

/// A batch-2B model as the caller builds it: rows [0, B) see the conditional context, rows
/// [B, 2B) the unconditional one. Records the batch size of every call.
fn batched<'a>(
    schedule: &'a NoiseSchedule,
    calls: &'a RefCell<Vec<usize>>,
) -> impl FnMut(Tensor<4>, Tensor<1>) -> Tensor<4> + 'a {
    let (cond, uncond) = models();
    move |x: Tensor<4>, t: Tensor<1>| {
        let b2 = x.dims()[0];
        calls.borrow_mut().push(b2);
        let times = host(t.clone());
        assert_eq!(
            times[..b2 / 2],
            times[b2 / 2..],
            "both halves at the same time"
        );
        let b = b2 / 2;
        let mut c = cond.model(schedule, Prediction::Epsilon);
        let mut u = uncond.model(schedule, Prediction::Epsilon);
        let (tc, tu) = (t.clone().narrow(0, 0, b), t.narrow(0, b, b));
        Tensor::cat(
            vec![c(x.clone().narrow(0, 0, b), tc), u(x.narrow(0, b, b), tu)],
            0,
        )
    }
}

#[test]
fn guided_model_makes_one_batched_call_and_matches_the_uvit_form() {
    let device = Device::flex();
    let schedule = NoiseSchedule::default();
    let calls = RefCell::new(vec![]);
    let s = 1.0; // SPEC / U-ViT
    let w = w_from_uvit_scale(s);
    let mut g = guided(w, batched(&schedule, &calls)).unwrap();
    let x = randn([3, 1, 2, 2], &mut seeded_rng(1), &device);
    let t = Tensor::<1>::full([3], 500.0, &device);
    let ours = host(g(x.clone(), t.clone()));
    assert_eq!(*calls.borrow(), vec![6], "one call with batch 2B");

    // U-ViT: two separate forwards, eps_c + s (eps_c - eps_u)
    let (cond, uncond) = models();
    let eps_c = host(cond.model(&schedule, Prediction::Epsilon)(
        x.clone(),
        t.clone(),
    ));
    let eps_u = host(uncond.model(&schedule, Prediction::Epsilon)(x, t));
    let uvit: Vec<f64> = eps_c
        .iter()
        .zip(&eps_u)
        .map(|(c, u)| c + s * (c - u))
        .collect();
    let err = max_abs_diff(&ours, &uvit);
    assert!(err < 1e-6, "{err}");
    // and guidance did something: it differs from the conditional output
    assert!(max_abs_diff(&ours, &eps_c) > 1e-2);
}

#[test]
fn full_sampling_is_identical_in_both_conventions() {
    let device = Device::flex();
    let schedule = NoiseSchedule::default();
    let cfg = SamplerConfig::default();
    let s = 1.0;
    let x_t = randn([64, 1, 1, 1], &mut seeded_rng(5), &device);

    let calls = RefCell::new(vec![]);
    let ours = sample(
        &cfg,
        &schedule,
        Prediction::Epsilon,
        x_t.clone(),
        &mut seeded_rng(6),
        guided(w_from_uvit_scale(s), batched(&schedule, &calls)).unwrap(),
    )
    .unwrap();
    assert_eq!(
        calls.borrow().len(),
        cfg.nfe(),
        "one batched forward per model evaluation"
    );
    assert!(calls.borrow().iter().all(|&b| b == 128));

    let (cond, uncond) = models();
    let (mut c, mut u) = (
        cond.model(&schedule, Prediction::Epsilon),
        uncond.model(&schedule, Prediction::Epsilon),
    );
    let uvit_form = |x: Tensor<4>, t: Tensor<1>| {
        let (ec, eu) = (c(x.clone(), t.clone()), u(x, t));
        ec.clone() + (ec - eu).mul_scalar(s)
    };
    let theirs = sample(
        &cfg,
        &schedule,
        Prediction::Epsilon,
        x_t,
        &mut seeded_rng(6),
        uvit_form,
    )
    .unwrap();
    let err = max_abs_diff(&host(ours.clone()), &host(theirs));
    assert!(err < 1e-5, "{err}");
    // guidance towards the conditional mode: everything ends up near +1 and beyond
    let x = host(ours);
    assert!(x.iter().filter(|v| **v < 0.0).count() < 3, "{x:?}");
}

#[test]
fn w_one_is_the_conditional_model_and_w_zero_the_unconditional() {
    let device = Device::flex();
    let schedule = NoiseSchedule::default();
    let x = randn([2, 1, 2, 2], &mut seeded_rng(2), &device);
    let t = Tensor::<1>::full([2], 700.0, &device);
    let (cond, uncond) = models();
    let eps_c = host(cond.model(&schedule, Prediction::Epsilon)(
        x.clone(),
        t.clone(),
    ));
    let eps_u = host(uncond.model(&schedule, Prediction::Epsilon)(
        x.clone(),
        t.clone(),
    ));
    let calls = RefCell::new(vec![]);
    let one = host(guided(1.0, batched(&schedule, &calls)).unwrap()(
        x.clone(),
        t.clone(),
    ));
    let zero = host(guided(0.0, batched(&schedule, &calls)).unwrap()(x, t));
    assert!(max_abs_diff(&one, &eps_c) < 1e-6 && max_abs_diff(&zero, &eps_u) < 1e-6);
    assert!(max_abs_diff(&eps_c, &eps_u) > 1e-2, "the two models differ");
}
