//! Parity with the PyTorch reference (scripts/parity/uvit_reference.py, written from SPEC):
//! same PyTorch-named weights, same inputs, same outputs.
//!
//! Fixtures: `python3 scripts/parity/make_uvit_fixtures.py`.
//! Tolerance: max |rust - torch| <= 5e-6 * max |torch| (measured: 4e-7 to 1.1e-6) (float32 throughout; the two differ
//! only in summation order and in transcendental-function rounding).

use std::path::PathBuf;

use burn::tensor::{Device, Tensor, TensorData};
use ifvit_fusion::state::StateDict;
use ifvit_uvit::{UViT, UViTConfig};

const REL_TOL: f32 = 5e-6;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn tensor<const D: usize>(sd: &StateDict, name: &str, device: &Device) -> Tensor<D> {
    let t = sd
        .get(name)
        .unwrap_or_else(|| panic!("fixture tensor {name}"));
    Tensor::from_data(TensorData::new(t.data.clone(), t.shape.clone()), device)
}

fn check(case: &str) {
    let device = Device::flex();
    let cfg: UViTConfig = serde_json::from_str(
        &std::fs::read_to_string(fixture(&format!("{case}.config.json"))).unwrap(),
    )
    .unwrap();
    let model = UViT::from_safetensors(
        &cfg,
        fixture(&format!("{case}.weights.safetensors")),
        &device,
    )
    .unwrap_or_else(|e| panic!("{case}: {e}"));
    let io = StateDict::read_safetensors(fixture(&format!("{case}.io.safetensors"))).unwrap();
    let out = model.forward(
        tensor(&io, "x", &device),
        tensor(&io, "t", &device),
        tensor(&io, "context", &device),
    );
    let expected = &io.get("out").unwrap();
    assert_eq!(out.dims().to_vec(), expected.shape, "{case}: output shape");
    let got = out.into_data().try_into_vec::<f32>().unwrap();
    let scale = expected.data.iter().fold(0f32, |m, v| m.max(v.abs()));
    let err = got
        .iter()
        .zip(&expected.data)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    println!(
        "{case}: max abs err {err:.3e}, max |ref| {scale:.3}, relative {:.3e}",
        err / scale
    );
    assert!(
        err <= REL_TOL * scale,
        "{case}: max abs err {err} > {REL_TOL} * {scale}"
    );
}

#[test]
fn early_concat_matches_pytorch() {
    check("early-concat");
}

#[test]
fn early_crossattn_matches_pytorch() {
    check("early-crossattn");
}

#[test]
fn intermediate_concat_matches_pytorch() {
    check("intermediate-concat-c1v1");
}

#[test]
fn intermediate_concat_mid_only_matches_pytorch() {
    check("intermediate-concat-c1v2");
}

#[test]
fn intermediate_crossattn_matches_pytorch() {
    check("intermediate-crossattn-c2v1");
}

#[test]
fn early_pixart_crossattn_matches_pytorch() {
    check("early-pixart-crossattn");
}

#[test]
fn intermediate_pixart_crossattn_matches_pytorch() {
    check("intermediate-pixart-crossattn-c1v1");
}

#[test]
fn early_mmdit_joint_matches_pytorch() {
    check("early-mmdit-joint");
}

#[test]
fn intermediate_mmdit_joint_matches_pytorch() {
    check("intermediate-mmdit-joint-c1v1");
}
