//! `ifvit encode-text`: prints the feature shape and first values of a frozen text encoder;
//! a directory without the model files is an error naming the file and the fetch command.

use std::process::Command;

use ifvit_encoders::assets::{self, Asset};

fn ifvit(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ifvit"))
        .args(args)
        .output()
        .expect("run ifvit")
}

#[test]
fn a_directory_without_the_model_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let o = ifvit(&[
        "encode-text",
        "--encoder",
        dir.path().to_str().unwrap(),
        "a red circle",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("config.json") && err.contains("ifvit assets fetch minilm"),
        "{err}"
    );
}

#[test]
fn minilm_prints_shape_ids_and_values() {
    if assets::for_test(Asset::MiniLmL6V2).is_none() {
        return;
    }
    let o = ifvit(&[
        "encode-text",
        "--encoder",
        "minilm",
        "--context-length",
        "12",
        "a red circle left of a blue square",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("token features: [1, 12, 384]"), "{out}");
    // [CLS] a red circle left of a blue square [SEP] (fixture minilm_golden.json)
    assert!(out.contains("mask: 10 of 12 positions are tokens"), "{out}");
    // first values of the [CLS] features, as transformers gives them (fixture: 0.102357..)
    assert!(
        out.contains("token 0 features[..6]: +0.1024 +0.2757"),
        "{out}"
    );
    assert!(out.contains("sentence embedding"), "{out}");

    let o = ifvit(&[
        "encode-text",
        "--context-length",
        "4",
        "a red circle left of a blue square",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("context holds 4"), "{err}");
}
