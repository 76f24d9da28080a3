//! `ifvit forward` against the PyTorch parity fixtures, and `ifvit convert --from
//! released-fusion` on checkpoints renamed to the released intermediate-fusion layout.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ifvit_fusion::state::StateDict;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../uvit/tests/fixtures")
        .join(name)
}

fn ifvit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ifvit"))
        .args(args)
        .output()
        .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs `ifvit forward` on the fixture's inputs and returns the max relative error.
fn forward_error(case: &str, weights: &Path, dir: &Path) -> f32 {
    let out = dir.join(format!("{case}.out.safetensors"));
    let r = ifvit(&[
        "forward",
        "--model",
        s(&fixture(&format!("{case}.config.json"))),
        "--weights",
        s(weights),
        "--inputs",
        s(&fixture(&format!("{case}.io.safetensors"))),
        "--out",
        s(&out),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let got = StateDict::read_safetensors(&out).unwrap();
    let io = StateDict::read_safetensors(fixture(&format!("{case}.io.safetensors"))).unwrap();
    let (got, want) = (got.get("out").unwrap(), io.get("out").unwrap());
    assert_eq!(got.shape, want.shape);
    let scale = want.data.iter().fold(0f32, |m, v| m.max(v.abs()));
    let err = got
        .data
        .iter()
        .zip(&want.data)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    err / scale
}

#[test]
fn forward_matches_the_pytorch_fixtures() {
    let dir = tempfile::tempdir().unwrap();
    for case in ["early-concat", "intermediate-mmdit-joint-c1v1"] {
        let w = fixture(&format!("{case}.weights.safetensors"));
        let e = forward_error(case, &w, dir.path());
        assert!(e < 5e-6, "{case}: relative error {e}");
    }
}

/// Renames an ifvit-layout fixture to the released code's layout: blocks by role, position
/// rows `[image, time, text]`, and (cross variants) `attn.q`/`attn.kv` in every block.
fn to_released(case: &str, v: usize, n_joint: usize, uvit_rows: bool, cross: bool) -> StateDict {
    let sd = StateDict::read_safetensors(fixture(&format!("{case}.weights.safetensors"))).unwrap();
    let mut out = StateDict::new("released");
    for name in sd.names() {
        let t = sd.get(name).unwrap().clone();
        let (head, rest) = name.split_once('.').unwrap_or((name, ""));
        let (index, tail) = rest.split_once('.').unwrap_or(("", rest));
        let i: usize = index.parse().unwrap_or(0);
        let renamed = match head {
            "text_blocks" => format!("caption_blocks.{i}.{tail}"),
            "in_blocks" if i < v => format!("image_blocks.{i}.{tail}"),
            "in_blocks" => format!("joint_blocks.{}.{tail}", i - v),
            "out_blocks" if i < n_joint => format!("joint_skip_blocks.{i}.{tail}"),
            "out_blocks" => format!("image_skip_blocks.{}.{tail}", i - n_joint),
            _ => name.to_string(),
        };
        if renamed == "pos_embed" && uvit_rows {
            // [time, text, image] -> [image, time, text]; image rows are the last 16.
            let d = t.shape[2];
            let n = t.shape[1];
            let np = 16;
            let mut data = t.data[(n - np) * d..].to_vec();
            data.extend_from_slice(&t.data[..(n - np) * d]);
            out.insert(renamed, t.shape.clone(), data);
        } else if cross && renamed.ends_with("attn.qkv.weight") {
            let d = t.shape[1];
            let q = renamed.replace("attn.qkv", "attn.q");
            let kv = renamed.replace("attn.qkv", "attn.kv");
            out.insert(q, vec![d, d], t.data[..d * d].to_vec());
            out.insert(kv, vec![2 * d, d], t.data[d * d..].to_vec());
        } else {
            out.insert(renamed, t.shape.clone(), t.data);
        }
    }
    out
}

#[test]
fn released_fusion_checkpoints_convert_and_match_pytorch() {
    let dir = tempfile::tempdir().unwrap();
    // (case, v, joint in-blocks, U-ViT position rows, cross variant)
    for (case, v, n_joint, uvit_rows, cross) in [
        ("intermediate-crossattn-c2v1", 1, 1, false, true),
        ("early-concat", 0, 2, true, false),
    ] {
        let released = dir.path().join(format!("{case}.released.safetensors"));
        to_released(case, v, n_joint, uvit_rows, cross)
            .write_safetensors(&released)
            .unwrap();

        // Loading it as is: the error names the layout and the command that converts it.
        let out = dir.path().join("unused.safetensors");
        let r = ifvit(&[
            "forward",
            "--model",
            s(&fixture(&format!("{case}.config.json"))),
            "--weights",
            s(&released),
            "--inputs",
            s(&fixture(&format!("{case}.io.safetensors"))),
            "--out",
            s(&out),
        ]);
        assert!(!r.status.success());
        let e = String::from_utf8_lossy(&r.stderr);
        assert!(e.contains("ifvit convert --from released-fusion"), "{e}");

        let converted = dir.path().join(format!("{case}.converted.safetensors"));
        let r = ifvit(&[
            "convert",
            "--from",
            "released-fusion",
            "--model",
            s(&fixture(&format!("{case}.config.json"))),
            s(&released),
            s(&converted),
        ]);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let e = forward_error(case, &converted, dir.path());
        assert!(e < 5e-6, "{case}: relative error {e}");
    }
}

#[test]
fn a_released_checkpoint_for_other_knobs_names_the_flags() {
    let dir = tempfile::tempdir().unwrap();
    let released = dir.path().join("released.safetensors");
    to_released("intermediate-crossattn-c2v1", 1, 1, false, true)
        .write_safetensors(&released)
        .unwrap();
    let cfg: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("intermediate-crossattn-c2v1.config.json")).unwrap(),
    )
    .unwrap();
    // Same sizes, but c = 1: the second caption block has nowhere to go.
    let mut other = cfg.clone();
    other["fusion"] = serde_json::json!({"IntermediateCrossAttn": {"c": 1, "v": 1}});
    let model = dir.path().join("c1v1.json");
    std::fs::write(&model, other.to_string()).unwrap();
    let r = ifvit(&[
        "convert",
        "--from",
        "released-fusion",
        "--model",
        s(&model),
        s(&released),
        s(&dir.path().join("out.safetensors")),
    ]);
    assert!(!r.status.success());
    let e = String::from_utf8_lossy(&r.stderr);
    assert!(
        e.contains("caption_blocks.1") && e.contains("--c") && e.contains("only 1"),
        "{e}"
    );
    assert!(!dir.path().join("out.safetensors").exists());
}
