//! Noise schedules against float64 references (`scripts/golden/make_diffusion_fixtures.py`,
//! which also checks them against diffusers' own float32 tables).
//!
//! Tolerances: alpha_bar relative 1e-12 (both sides are f64 running products of the same
//! betas); continuous-time values absolute 1e-12.

mod common;

use common::{f64s, fixture};
use ifvit_diffusion::{BetaSchedule, NoiseSchedule};

fn schedule(fix: &serde_json::Value, name: &str) -> (NoiseSchedule, Vec<f64>) {
    let entry = &fix["schedules"][name];
    let kind: BetaSchedule =
        serde_json::from_value(common::externally_tagged(&entry["params"], "kind")).unwrap();
    (
        NoiseSchedule::new(kind, 1000).unwrap(),
        f64s(&entry["alpha_bar"]),
    )
}

#[test]
fn alpha_bar_at_the_last_step_scaled_linear_0_004660_linear_0_001579() {
    let fix = fixture("schedules.json");
    // SPEC's numbers, to 6 digits: catches a plain-linear schedule where scaled-linear was meant.
    let (sl, _) = schedule(&fix, "scaled-linear");
    assert_eq!(format!("{:.6}", sl.alpha_bar(1000)), "0.004660");
    let (lin_sd, _) = schedule(&fix, "linear-sd-endpoints");
    assert_eq!(format!("{:.6}", lin_sd.alpha_bar(1000)), "0.001579");
    // the default is SPEC's
    assert_eq!(NoiseSchedule::default(), sl);
}

#[test]
fn every_alpha_bar_matches_the_reference() {
    let fix = fixture("schedules.json");
    for name in ["scaled-linear", "linear", "linear-sd-endpoints", "cosine"] {
        let (s, reference) = schedule(&fix, name);
        assert_eq!(reference.len(), 1001);
        let worst = (0..=1000)
            .map(|n| ((s.alpha_bar(n) - reference[n]) / reference[n]).abs())
            .fold(0.0, f64::max);
        println!("{name}: max relative error of alpha_bar {worst:.2e}");
        assert!(worst < 1e-12, "{name}: {worst}");
    }
}

#[test]
fn cosine_is_not_degenerate() {
    let fix = fixture("schedules.json");
    let (s, reference) = schedule(&fix, "cosine");
    let ab: Vec<f64> = (0..=1000).map(|n| s.alpha_bar(n)).collect();
    assert!(ab.iter().all(|v| v.is_finite() && *v > 0.0 && *v <= 1.0));
    assert!(ab.windows(2).all(|w| w[1] < w[0]), "strictly decreasing");
    // not all 0 or 1: an integer-division `i / N` makes every beta 0
    let middling = ab.iter().filter(|v| **v > 0.01 && **v < 0.99).count();
    assert!(middling > 700, "{middling} of 1001 values in (0.01, 0.99)");
    assert!((ab[500] - reference[500]).abs() < 1e-12);
}

#[test]
fn continuous_time_view_matches_dpm_solver() {
    let fix = fixture("schedules.json");
    let c = &fix["continuous_scaled_linear"];
    let s = NoiseSchedule::default();
    let (ts, la, sig, lam) = (
        f64s(&c["t"]),
        f64s(&c["log_alpha"]),
        f64s(&c["sigma"]),
        f64s(&c["lambda"]),
    );
    for i in 0..ts.len() {
        let t = ts[i];
        assert!((s.log_alpha_t(t) - la[i]).abs() < 1e-12, "log alpha({t})");
        assert!((s.alpha_sigma_t(t).1 - sig[i]).abs() < 1e-12, "sigma({t})");
        assert!((s.lambda_t(t) - lam[i]).abs() < 1e-11, "lambda({t})");
    }
    for (l, t) in f64s(&c["lambda_probe"])
        .into_iter()
        .zip(f64s(&c["inverse_lambda"]))
    {
        assert!(
            (s.t_of_lambda(l) - t).abs() < 1e-12,
            "inverse_lambda({l}) = {t}, got {}",
            s.t_of_lambda(l)
        );
    }
}
