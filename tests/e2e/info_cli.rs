//! `ifvit info`: parameters and forward cost of the presets and strategies.

use std::process::Command;

fn ifvit(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ifvit"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn json_reports_params_and_gmacs() {
    let out = ifvit(&[
        "info",
        "--preset",
        "uvit-s2",
        "--fusion",
        "early-concat",
        "--json",
    ]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["params"].as_u64(), Some(44_692_644));
    let g = v["gmacs"].as_f64().unwrap();
    assert!((g - 16.2).abs() / 16.2 < 0.01, "{g}");

    let out = ifvit(&[
        "info",
        "--preset",
        "uvit-s2",
        "--fusion",
        "intermediate-concat",
        "--c",
        "3",
        "--v",
        "3",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["params"].as_u64(), Some(54_145_188));
    assert!((v["ratio_to_early_concat"].as_f64().unwrap() - 0.93).abs() < 0.01);
    assert_eq!(v["blocks"].as_array().unwrap().len(), 16);
}

#[test]
fn all_prints_the_four_strategies() {
    let out = ifvit(&["info", "--preset", "uvit-s2", "--all"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for row in [
        "early-concat",
        "early-crossattn",
        "intermediate-concat(c=3,v=3)",
        "intermediate-crossattn(c=3,v=3)",
    ] {
        assert!(text.contains(row), "{row} missing:\n{text}");
    }
    for n in [
        "16.23", "13.02", "15.12", "13.40", "0.802x", "0.932x", "0.826x",
    ] {
        assert!(text.contains(n), "{n} missing:\n{text}");
    }
}

#[test]
fn all_lists_six_strategies_in_aligned_columns() {
    let out = ifvit(&[
        "info",
        "--preset",
        "uvit-tiny",
        "--all",
        "--c",
        "1",
        "--v",
        "1",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let table: Vec<&str> = text.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(table.len(), 2 + 6, "{text}");
    let width = table[0].chars().count();
    assert!(table.iter().all(|l| l.chars().count() == width), "{text}");
    for row in [
        "intermediate-pixart-crossattn(c=1,v=1)",
        "intermediate-mmdit-joint(c=1,v=1)",
        // uvit-tiny: 0.0390 GMACs (early-concat), 0.00112 of them attention matmuls.
        "0.0390",
        "0.00112",
    ] {
        assert!(text.contains(row), "{row} missing:\n{text}");
    }
}

#[test]
fn bad_input_names_the_value_and_the_fix() {
    let e = |args: &[&str]| {
        let out = ifvit(args);
        assert!(!out.status.success());
        String::from_utf8(out.stderr).unwrap()
    };
    let s = e(&["info", "--preset", "uvit-xxl"]);
    assert!(
        s.contains("unknown preset `uvit-xxl`") && s.contains("uvit-s2"),
        "{s}"
    );
    let s = e(&["info", "--fusion", "late-fusion"]);
    assert!(
        s.contains("late-fusion") && s.contains("intermediate-crossattn"),
        "{s}"
    );
    let s = e(&[
        "info",
        "--preset",
        "uvit-s2",
        "--fusion",
        "intermediate-concat",
        "--v",
        "7",
    ]);
    assert!(s.contains("v = 7") && s.contains("at most 6"), "{s}");
    let s = e(&["info", "--fusion", "early-concat", "--c", "2"]);
    assert!(s.contains("--c/--v"), "{s}");
}
