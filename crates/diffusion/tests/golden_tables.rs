//! Timestep tables against diffusers (DDIM, DDPM, DPM-Solver++(2M)) and against the port of
//! U-ViT's DPM-Solver++ (SPEC sampler). Integer tables must match exactly (in ifvit's
//! 1-based steps, n = t + 1); continuous times to 1e-9.

mod common;

use common::{f64s, fixture, usizes};
use ifvit_diffusion::sampler::spacing::dpm_linspace;
use ifvit_diffusion::{NoiseSchedule, Prediction, Sampler, SamplerConfig, Spacing};

fn built_times(cfg: SamplerConfig) -> Vec<f64> {
    cfg.build(&NoiseSchedule::default(), Prediction::Epsilon)
        .unwrap()
        .timesteps()
        .to_vec()
}

#[test]
fn ddim_and_ddpm_tables_match_diffusers() {
    let fix = fixture("tables.json");
    for (sampler, entries) in [("ddim", &fix["ddim"]), ("ddpm", &fix["ddpm"])] {
        for e in entries.as_array().unwrap() {
            let spacing = Spacing::parse(e["spacing"].as_str().unwrap()).unwrap();
            let steps = e["steps"].as_u64().unwrap() as usize;
            let reference = usizes(&e["n"]);
            let ours = spacing.table(steps, 1000);
            // diffusers' trailing table sometimes has one extra entry, t = -1 (n = 0): numpy's
            // float arange; we stop at `steps`.
            assert!(
                reference[steps..].iter().all(|&n| n == 0),
                "{sampler} {spacing:?} {steps}"
            );
            assert_eq!(ours, reference[..steps], "{sampler} {spacing:?} {steps}");
            let cfg = match sampler {
                "ddim" => SamplerConfig::Ddim {
                    steps,
                    eta: 0.0,
                    spacing,
                },
                _ => SamplerConfig::Ddpm { steps, spacing },
            };
            let as_f64: Vec<f64> = ours.iter().map(|&n| n as f64).collect();
            assert_eq!(built_times(cfg), as_f64);
        }
    }
}

#[test]
fn dpm_solver_pp_2m_tables_match_diffusers() {
    let fix = fixture("tables.json");
    for e in fix["dpm-solver++-2m"].as_array().unwrap() {
        let steps = e["steps"].as_u64().unwrap() as usize;
        let reference = usizes(&e["n"]);
        let ours = dpm_linspace(steps, 1000);
        assert_eq!(ours, reference, "{steps} steps");
        let built = SamplerConfig::DpmSolverPp2M { steps }
            .build(&NoiseSchedule::default(), Prediction::Epsilon);
        if reference.windows(2).all(|w| w[1] < w[0]) {
            let times: Vec<f64> = ours.iter().map(|&n| n as f64).collect();
            assert_eq!(built.unwrap().timesteps(), &times[..]);
        } else {
            // diffusers accepts 1000 steps and takes zero-length steps; we refuse
            assert!(built.is_err(), "{steps} steps repeat a step");
        }
    }
}

/// Every step count 1..=1000, through the per-table checksums of the fixture.
#[test]
fn all_step_counts_match_diffusers_by_checksum() {
    let fix = fixture("tables.json");
    let digest = |n: &[usize]| -> u64 {
        n.iter()
            .enumerate()
            .map(|(i, &v)| ((i + 1) * v + 7 * v * v) as u64)
            .sum()
    };
    for (name, table) in [
        (
            "ddim-leading",
            &(|s| Spacing::Leading.table(s, 1000)) as &dyn Fn(usize) -> Vec<usize>,
        ),
        ("ddim-trailing", &|s| Spacing::Trailing.table(s, 1000)),
        ("ddim-linspace", &|s| Spacing::Linspace.table(s, 1000)),
        ("dpm-solver++-2m", &|s| dpm_linspace(s, 1000)),
    ] {
        let reference = fix["digests"][name].as_array().unwrap();
        let mut mismatches = vec![];
        for (k, r) in reference.iter().enumerate() {
            let steps = k + 1;
            if let Some(r) = r.as_u64()
                && digest(&table(steps)) != r
            {
                mismatches.push(steps);
            }
        }
        assert!(
            mismatches.is_empty(),
            "{name}: step counts {mismatches:?} differ from diffusers"
        );
    }
}

#[test]
fn uvit_dpm_solver_pp_grid_orders_and_evaluation_times_match_the_port() {
    let fix = fixture("tables.json");
    let schedule = NoiseSchedule::default();
    for e in fix["dpm-solver++"].as_array().unwrap() {
        let (steps, order) = (
            e["steps"].as_u64().unwrap() as usize,
            e["order"].as_u64().unwrap() as usize,
        );
        let s = ifvit_diffusion::sampler::dpm_singlestep::DpmSolverPp::new(
            &schedule,
            Prediction::Epsilon,
            steps,
            order,
        )
        .unwrap();
        assert_eq!(
            s.orders(),
            &usizes(&e["orders"])[..],
            "{steps} NFE order {order}"
        );
        let (grid, times) = (f64s(&e["grid"]), f64s(&e["model_times"]));
        assert_eq!(s.grid().len(), grid.len());
        for (a, b) in s.grid().iter().zip(&grid) {
            assert!((a - b).abs() < 1e-15, "{steps}/{order}: grid {a} vs {b}");
        }
        assert_eq!(s.timesteps().len(), steps, "NFE");
        assert_eq!(times.len(), steps);
        for (i, (a, b)) in s.timesteps().iter().zip(&times).enumerate() {
            assert!(
                (a - b).abs() < 1e-9,
                "{steps}/{order}: evaluation {i} at {a} vs {b}"
            );
        }
    }
    // SPEC: 50 NFE, [3] * 16 + [2], from model time 1000 down to 20.98
    let spec = built_times(SamplerConfig::default());
    assert_eq!(spec.len(), 50);
    assert!((spec[0] - 1000.0).abs() < 1e-9 && (spec[49] - 20.98).abs() < 1e-9);
}
