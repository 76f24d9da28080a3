//! `ifvit fid`, `ifvit kid`, `ifvit fid-stats`, `ifvit fid-features`: mixing statistics and
//! feature files, and bad input (mixed sizes, unreadable files, empty folders, statistics
//! given to KID). Fixtures: crates/metrics/tests/fixtures/fid (scripts/parity/make_fid_fixtures.py).
//! No test here runs the Inception (a debug forward takes ~40 s per image): folders are
//! checked from their headers before the network loads.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ifvit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ifvit"))
        .args(args)
        // Never fall back to a cached asset: bad-input tests must fail on the input.
        .env("IFVIT_FID_INCEPTION", "/nonexistent-fid-inception")
        .output()
        .unwrap()
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../metrics/tests/fixtures/fid")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn stderr(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "expected a failure, got: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn expected_fid() -> f64 {
    let e: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("expected.json")).unwrap()).unwrap();
    e["fid_ab"].as_f64().unwrap()
}

#[test]
fn fid_mixes_statistics_and_feature_files() {
    let want = expected_fid();
    let v = json(&ifvit(&[
        "fid",
        &fixture("stats_a.npz"),
        &fixture("feats_b.npy"),
        "--json",
    ]));
    let got = v["fid"].as_f64().unwrap();
    assert!((got - want).abs() / want < 1e-4, "{got} vs {want}");
    assert_eq!(v["a"].as_str().unwrap().split(':').next(), Some("stats"));
    assert_eq!(v["n_b"].as_u64(), Some(150));
}

#[test]
fn fid_stats_of_features_equal_numpy_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a.npz");
    let o = ifvit(&[
        "fid-stats",
        "--images",
        &fixture("feats_a.npy"),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v = json(&ifvit(&[
        "fid",
        out.to_str().unwrap(),
        &fixture("stats_a.npz"),
        "--json",
    ]));
    assert!(v["fid"].as_f64().unwrap().abs() < 1e-9, "{v}");
}

#[test]
fn kid_on_features_and_not_on_statistics() {
    let v = json(&ifvit(&[
        "kid",
        &fixture("feats_a.npy"),
        &fixture("feats_b.npy"),
        "--subsets",
        "4",
        "--json",
    ]));
    assert_eq!(v["subset_size"].as_u64(), Some(150));
    assert!(v["kid"].as_f64().unwrap() > 0.1);
    let same = json(&ifvit(&[
        "kid",
        &fixture("feats_a.npy"),
        &fixture("feats_a.npy"),
        "--subsets",
        "4",
        "--json",
    ]));
    // Against itself KID is O(1/m), not 0: with the same samples on both sides the cross
    // term includes k(x_i, x_i) (measured -0.058 at m = 200 vs 1.50 for A vs B).
    assert!(
        same["kid"].as_f64().unwrap().abs() < 0.05 * v["kid"].as_f64().unwrap(),
        "{same}"
    );
    let err = stderr(&ifvit(&[
        "kid",
        &fixture("stats_a.npz"),
        &fixture("feats_b.npy"),
    ]));
    assert!(
        err.contains("stats_a.npz") && err.contains("KID needs the features"),
        "{err}"
    );
}

fn folder(files: &[(&str, Option<(u32, u32)>)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("imgs");
    std::fs::create_dir(&p).unwrap();
    for (name, size) in files {
        match size {
            Some((w, h)) => image::RgbImage::new(*w, *h).save(p.join(name)).unwrap(),
            None => std::fs::write(p.join(name), b"definitely not a png").unwrap(),
        }
    }
    (dir, p)
}

#[test]
fn image_folders_with_mixed_sizes_unreadable_files_or_nothing_are_errors() {
    let (_d, mixed) = folder(&[("a.png", Some((8, 8))), ("b.png", Some((16, 8)))]);
    let out_npz = mixed.with_file_name("s.npz");
    let err = stderr(&ifvit(&[
        "fid-stats",
        "--images",
        mixed.to_str().unwrap(),
        "--out",
        out_npz.to_str().unwrap(),
    ]));
    assert!(
        err.contains("b.png") && err.contains("16x8") && err.contains("--allow-mixed-sizes"),
        "{err}"
    );
    assert!(!out_npz.exists(), "nothing is written on error");

    let (_d, broken) = folder(&[("a.png", Some((8, 8))), ("z.png", None)]);
    let err = stderr(&ifvit(&[
        "fid",
        broken.to_str().unwrap(),
        &fixture("stats_a.npz"),
    ]));
    assert!(
        err.contains("z.png") && err.contains("cannot read the image"),
        "{err}"
    );

    let (_d, empty) = folder(&[]);
    let err = stderr(&ifvit(&[
        "fid-features",
        "--images",
        empty.to_str().unwrap(),
        "--out",
        "/tmp/never.npy",
    ]));
    assert!(err.contains("no image files"), "{err}");

    // A valid folder gets as far as loading the network, whose absence is named.
    let (_d, ok) = folder(&[("a.png", Some((8, 8)))]);
    let err = stderr(&ifvit(&[
        "fid",
        ok.to_str().unwrap(),
        &fixture("stats_a.npz"),
    ]));
    assert!(err.contains("/nonexistent-fid-inception"), "{err}");
}

#[test]
fn unknown_inputs_and_dimension_mismatch_are_errors() {
    let err = stderr(&ifvit(&[
        "fid",
        &fixture("feats_a.npy"),
        &fixture("expected.json"),
    ]));
    assert!(
        err.contains("expected.json") && err.contains(".npz"),
        "{err}"
    );
    let err = stderr(&ifvit(&["fid", &fixture("feats_a.npy"), "/no/such/dir"]));
    assert!(err.contains("/no/such/dir"), "{err}");
}
