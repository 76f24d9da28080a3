//! Experiment configs: the committed files parse, the config round-trips through RON, and
//! bad files get errors with line and column.

mod common;

use std::path::PathBuf;

use ifvit_train::ExperimentConfig;
use ifvit_train::config::ConfigError;

fn repo(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(p)
}

#[test]
fn config_round_trips_through_ron() {
    let cfg = common::tiny();
    let text = cfg.to_ron();
    let back = ExperimentConfig::from_ron(&text, "round-trip").unwrap();
    assert_eq!(back, cfg);
}

#[test]
fn committed_experiment_configs_parse() {
    let dir = repo("experiments");
    let mut n = 0;
    for sub in [dir.clone(), dir.join("calibration")] {
        for e in std::fs::read_dir(&sub).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "ron") {
                ExperimentConfig::load(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                n += 1;
            }
        }
    }
    assert!(
        n >= 8,
        "expected the 3 experiments and 5 calibration configs, found {n}"
    );
}

#[test]
fn unknown_fields_and_wrong_types_name_line_and_column() {
    let text = common::tiny().to_ron();
    // An unknown field inside `train`.
    let bad = text.replacen("batch_size: 4,", "batch_size: 4,\n        bach_size: 4,", 1);
    let e = ExperimentConfig::from_ron(&bad, "bad.ron").unwrap_err();
    let ConfigError::Parse {
        line, col, message, ..
    } = &e
    else {
        panic!("{e}")
    };
    let expected_line = bad.lines().position(|l| l.contains("bach_size")).unwrap() + 1;
    assert_eq!(*line, expected_line, "{e}");
    assert!(*col > 1 && message.contains("bach_size"), "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("bad.ron:{expected_line}:")),
        "{e}"
    );
    // A wrong type.
    let bad = text.replacen("steps: 6,", "steps: \"six\",", 1);
    let e = ExperimentConfig::from_ron(&bad, "bad.ron")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("bad.ron:") && e.contains("integer"), "{e}");
    // A value out of range.
    let bad = text.replacen("ema_decay: 0.9,", "ema_decay: 1.5,", 1);
    let e = ExperimentConfig::from_ron(&bad, "bad.ron")
        .unwrap_err()
        .to_string();
    assert!(e.contains("train.ema_decay"), "{e}");
}

#[test]
fn print_tiny_config() {
    // Handy when editing configs: `cargo test -p ifvit-train --test config print -- --nocapture`.
    println!("{}", common::tiny().to_ron());
}
