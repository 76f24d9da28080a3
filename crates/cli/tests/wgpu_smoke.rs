//! wgpu smoke test: the U-ViT runs on the wgpu backend (in CI: Mesa's lavapipe, a software
//! Vulkan driver) and matches the PyTorch reference output and the Flex CPU backend; one
//! training step produces finite gradients.
//!
//! `cargo test -p ifvit-cli --features wgpu --test wgpu_smoke`
#![cfg(feature = "wgpu")]

use std::path::PathBuf;

use burn::tensor::{Device, DeviceKind, DeviceType, Distribution, Tensor, TensorData};
use ifvit_fusion::state::StateDict;
use ifvit_uvit::{UViT, UViTConfig};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../uvit/tests/fixtures")
        .join(name)
}

fn wgpu_device() -> Device {
    assert!(
        !Device::enumerate(DeviceType::Wgpu).is_empty(),
        "no wgpu adapter: install a Vulkan driver (Debian: mesa-vulkan-drivers libvulkan1)"
    );
    Device::wgpu(DeviceKind::DefaultDevice)
}

fn tensor<const D: usize>(sd: &StateDict, name: &str, device: &Device) -> Tensor<D> {
    let t = sd.get(name).unwrap();
    Tensor::from_data(TensorData::new(t.data.clone(), t.shape.clone()), device)
}

#[test]
fn uvit_on_wgpu_matches_pytorch_and_flex() {
    let device = wgpu_device();
    for case in ["early-concat", "intermediate-crossattn-c2v1"] {
        let cfg: UViTConfig = serde_json::from_str(
            &std::fs::read_to_string(fixture(&format!("{case}.config.json"))).unwrap(),
        )
        .unwrap();
        let weights = fixture(&format!("{case}.weights.safetensors"));
        let io = StateDict::read_safetensors(fixture(&format!("{case}.io.safetensors"))).unwrap();
        let run = |device: &Device| {
            let model = UViT::from_safetensors(&cfg, &weights, device).unwrap();
            let out = model.forward(
                tensor(&io, "x", device),
                tensor(&io, "t", device),
                tensor(&io, "context", device),
            );
            out.into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .unwrap()
        };
        let got = run(&device);
        let expected = &io.get("out").unwrap().data;
        let scale = expected.iter().fold(0f32, |m, v| m.max(v.abs()));
        let err = got
            .iter()
            .zip(expected)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        println!("{case}: wgpu vs pytorch max abs err {err:.3e} (max |ref| {scale:.3})");
        assert!(
            err <= 1e-4 * scale,
            "{case}: wgpu output differs from PyTorch by {err}"
        );
        let flex = run(&Device::flex());
        let err = got
            .iter()
            .zip(&flex)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            err <= 1e-4 * scale,
            "{case}: wgpu output differs from Flex by {err}"
        );
    }
}

#[test]
fn a_training_step_on_wgpu_has_finite_gradients() {
    let device = wgpu_device().autodiff();
    let cfg: UViTConfig = serde_json::from_str(
        &std::fs::read_to_string(fixture("intermediate-concat-c1v1.config.json")).unwrap(),
    )
    .unwrap();
    let model = UViT::new(&cfg, &device).unwrap();
    let x = Tensor::<4>::random([2, 4, 8, 8], Distribution::Normal(0.0, 1.0), &device);
    let t = Tensor::<1>::from_floats([3.0, 800.0], &device);
    let ctx = Tensor::<3>::random([2, 5, 24], Distribution::Normal(0.0, 1.0), &device);
    let loss = model.forward(x, t, ctx).powi_scalar(2).mean();
    let grads = loss.backward();
    let g = model
        .pos_embed
        .val()
        .grad(&grads)
        .expect("pos_embed gradient");
    let g = g
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap();
    assert!(g.iter().all(|v| v.is_finite()) && g.iter().any(|v| *v != 0.0));
}
