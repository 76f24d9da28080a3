//! `ifvit prepare coco` end to end on the tiny COCO fixture of ifvit-data.

use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../data/tests/fixtures/coco")
        .join(name)
}

fn prepare(out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ifvit"))
        .args(["--device", "cpu", "prepare", "coco", "--images"])
        .arg(fixture("val2014"))
        .arg("--captions")
        .arg(fixture("captions_val2014.json"))
        .arg("--out")
        .arg(out)
        .args([
            "--shard-size",
            "4",
            "--image-size",
            "32",
            "--text-dim",
            "4",
            "--quiet",
        ])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn prepare_coco_writes_resumes_and_reports_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cache");

    let o = prepare(&out, &["--max-shards", "1"]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        stdout.contains("1 of 2 shards") && stdout.contains("run the same command again"),
        "{stdout}"
    );

    let o = prepare(&out, &[]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success());
    assert!(
        stdout.contains("2 of 2 shards (1 reused, 1 written now); 6 images, 32 captions"),
        "{stdout}"
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["complete"], true);
    assert_eq!(
        manifest["settings"]["moments_shape"],
        serde_json::json!([6, 4, 4])
    );
    assert!(
        out.join("shard-00001.safetensors").exists()
            && out.join("empty_context.safetensors").exists()
    );

    // Other settings into the same folder: refused, naming the setting.
    let o = prepare(&out, &["--seed", "3"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && stderr.contains("different settings") && stderr.contains("seed=3"),
        "{stderr}"
    );

    // A captions file with a syntax error: file, line and column.
    let bad = dir.path().join("captions.json");
    std::fs::write(&bad, "{\"images\": [],\n  \"annotations\": [}\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_ifvit"))
        .args(["prepare", "coco", "--images"])
        .arg(fixture("val2014"))
        .arg("--captions")
        .arg(&bad)
        .arg("--out")
        .arg(dir.path().join("other"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && stderr.contains("captions.json: line 2 column 19: expected value"),
        "{stderr}"
    );
}
