//! `ifvit schedulers` and `ifvit bench sampler` end to end (tiny sizes: debug builds are slow).

use std::process::{Command, Output};

fn ifvit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ifvit"))
        .args(["--device", "cpu"])
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn schedulers_lists_schedules_objectives_samplers_and_their_options() {
    let o = ifvit(&["schedulers"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = stdout(&o);
    for needle in [
        "scaled-linear",
        "0.004660",
        "cosine",
        "epsilon",
        "v = alpha eps",
        "min-snr",
        "dpm-solver++",
        "dpm-solver++-2m",
        "ddim",
        "ddpm",
        "--eta",
        "--order",
        "--spacing",
        "s = w - 1",
    ] {
        assert!(text.contains(needle), "`{needle}` missing from:\n{text}");
    }
    let o = ifvit(&["schedulers", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["samplers"].as_array().unwrap().len(), 4);
    assert_eq!(v["samplers"][0]["default"]["DpmSolverPp"]["steps"], 50);
}

#[test]
fn bench_sampler_times_the_loop_and_the_bare_forwards() {
    let o = ifvit(&[
        "bench",
        "sampler",
        "--preset",
        "uvit-tiny",
        "--sampler",
        "dpm-solver++",
        "--steps",
        "2",
        "--batch",
        "1",
        "--guidance",
        "2",
        "--repeats",
        "1",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (v["nfe"].as_u64(), v["model_batch"].as_u64()),
        (Some(2), Some(2))
    );
    assert!(
        v["median_sampler_s"].as_f64().unwrap() > 0.0 && v["median_bare_s"].as_f64().unwrap() > 0.0
    );
    assert!(v["overhead"].as_f64().unwrap().is_finite());
    assert!(v["overhead_direct"].as_f64().unwrap() > 0.0);
}

#[test]
fn bad_sampler_input_is_a_clear_error_not_a_panic() {
    // Library checks exit 1; numbers outside an argument's range are refused by clap
    // (exit 2), naming the argument and its range.
    for (args, needle, code) in [
        (
            vec!["--sampler", "euler"],
            "known: dpm-solver++, dpm-solver++-2m, ddim, ddpm",
            1,
        ),
        (vec!["--steps", "0"], "0 is not in 1..=1000", 2),
        (vec!["--steps", "1001"], "1001 is not in 1..=1000", 2),
        (vec!["--guidance", "NaN"], "NaN is not in [-100, 100]", 2),
        (
            vec!["--sampler", "ddim", "--eta", "2"],
            "2 is not in [0, 1]",
            2,
        ),
        (
            vec!["--sampler", "ddpm", "--eta", "0.5"],
            "does not apply to sampler ddpm",
            1,
        ),
    ] {
        let o = ifvit(&[&["bench", "sampler"], &args[..]].concat());
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
        assert!(
            err.contains(needle) && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
}
