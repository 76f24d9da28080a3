//! Loading checkpoints: the public U-ViT-S/2 (MS-COCO) `nnet` layout, round trips, and
//! clear errors for names/shapes that do not match.

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::tensor::Device;
use ifvit_fusion::Fusion;
use ifvit_fusion::state::StateDict;
use ifvit_uvit::{UViT, UViTConfig, param_count};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Deterministic pseudo-random values (no RNG crate needed), distinct per tensor.
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect()
}

/// A random state dict with the exact names and shapes of U-ViT-S/2's `nnet` (listed in
/// the fixture, read off the reference model).
fn random_uvit_s2(path: &std::path::Path) -> StateDict {
    let layout: BTreeMap<String, Vec<usize>> =
        serde_json::from_str(&std::fs::read_to_string(fixture("uvit_s2_layout.json")).unwrap())
            .unwrap();
    let mut sd = StateDict::new("random uvit-s2");
    for (i, (name, shape)) in layout.into_iter().enumerate() {
        let n = shape.iter().product();
        sd.insert(name, shape, values(n, i as u64));
    }
    sd.write_safetensors(path).unwrap();
    sd
}

#[test]
fn loads_the_public_uvit_s2_layout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nnet.safetensors");
    let original = random_uvit_s2(&path);
    let cfg = UViTConfig::preset("uvit-s2", Fusion::EarlyConcat).unwrap();
    let total: usize = original
        .names()
        .map(|n| original.get(n).unwrap().data.len())
        .sum();
    assert_eq!(total as u64, param_count(&cfg));

    let device = Device::flex();
    let model = UViT::from_safetensors(&cfg, &path, &device).unwrap();
    // Every tensor went where its name says: export and compare bit for bit.
    let export = dir.path().join("export.safetensors");
    model.save_safetensors(&export).unwrap();
    let back = StateDict::read_safetensors(&export).unwrap();
    assert_eq!(back.len(), original.len());
    for name in original.names() {
        assert_eq!(back.get(name), original.get(name), "tensor {name}");
    }
}

fn small(fusion: Fusion) -> UViTConfig {
    serde_json::from_value(serde_json::json!({
        "img_size": 8, "in_chans": 4, "patch_size": 2, "embed_dim": 32, "depth": 4,
        "num_heads": 4, "mlp_ratio": 4.0, "qkv_bias": false, "context_dim": 24,
        "num_text_tokens": 5, "conv_head": true, "fusion": fusion,
    }))
    .unwrap()
}

/// Number of parameter tensors of a module.
fn param_tensors<M: burn::module::Module>(m: &M) -> usize {
    struct Count(usize);
    impl burn::module::ModuleVisitor for Count {
        fn visit_float<const D: usize>(
            &mut self,
            _: &burn::module::Param<burn::tensor::Tensor<D>>,
        ) {
            self.0 += 1;
        }
    }
    let mut c = Count(0);
    m.visit(&mut c);
    c.0
}

#[test]
fn save_then_load_round_trips_every_strategy() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    for f in Fusion::catalogue(1, 1) {
        let cfg = small(f);
        let path = dir.path().join(format!("{}.safetensors", f.family()));
        let a = UViT::new(&cfg, &device).unwrap();
        a.save_safetensors(&path).unwrap();
        let b = UViT::from_safetensors(&cfg, &path, &device).unwrap();
        let back = dir.path().join(format!("{}.back.safetensors", f.family()));
        b.save_safetensors(&back).unwrap();
        let (sa, sb) = (
            StateDict::read_safetensors(&path).unwrap(),
            StateDict::read_safetensors(&back).unwrap(),
        );
        assert_eq!(sa.len(), param_tensors(&a), "{f}");
        for n in sa.names() {
            assert_eq!(sa.get(n), sb.get(n), "{f}: {n}");
        }
    }
}

/// Half-precision checkpoints load into the f32 model (values rounded to f16).
#[test]
fn f16_checkpoints_load_as_f32() {
    use safetensors::{Dtype, tensor::TensorView};
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let cfg = small(Fusion::IntermediateMmditJoint { c: 1, v: 1 });
    let f32_path = dir.path().join("f32.safetensors");
    UViT::new(&cfg, &device)
        .unwrap()
        .save_safetensors(&f32_path)
        .unwrap();
    let sd = StateDict::read_safetensors(&f32_path).unwrap();
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = sd
        .names()
        .map(|n| {
            let t = sd.get(n).unwrap();
            let b = t
                .data
                .iter()
                .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
                .collect();
            (n.to_string(), b, t.shape.clone())
        })
        .collect();
    let views: Vec<(String, TensorView)> = bytes
        .iter()
        .map(|(n, b, s)| {
            (
                n.clone(),
                TensorView::new(Dtype::F16, s.clone(), b).unwrap(),
            )
        })
        .collect();
    let f16_path = dir.path().join("f16.safetensors");
    std::fs::write(&f16_path, safetensors::serialize(views, None).unwrap()).unwrap();

    let model = UViT::from_safetensors(&cfg, &f16_path, &device).unwrap();
    let out = model.forward(
        burn::tensor::Tensor::zeros([1, 4, 8, 8], &device),
        burn::tensor::Tensor::from_floats([10.0], &device),
        burn::tensor::Tensor::zeros([1, 5, 24], &device),
    );
    assert_eq!(out.dtype(), burn::tensor::DType::F32);
    let back_path = dir.path().join("back.safetensors");
    model.save_safetensors(&back_path).unwrap();
    let back = StateDict::read_safetensors(&back_path).unwrap();
    for n in sd.names() {
        let (a, b) = (sd.get(n).unwrap(), back.get(n).unwrap());
        assert_eq!(a.shape, b.shape, "{n}");
        for (x, y) in a.data.iter().zip(&b.data) {
            assert_eq!(half::f16::from_f32(*x).to_f32(), *y, "{n}");
        }
    }
}

/// The names and shapes the loader checks against are the ones burn's store writes.
#[test]
fn expected_names_are_burns_pytorch_names() {
    use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot};
    let device = Device::flex();
    for f in Fusion::catalogue(1, 1) {
        let model = UViT::new(&small(f), &device).unwrap();
        let ours = ifvit_uvit::checkpoint::expected_tensors(&model);
        let burns: Vec<(String, Vec<usize>)> = model
            .collect(None, Some(Box::new(BurnToPyTorchAdapter)), true)
            .into_iter()
            .map(|t| (t.name.clone(), t.shape.to_vec()))
            .collect();
        assert_eq!(ours, burns, "{f}");
    }
}

#[test]
fn mismatched_checkpoints_name_the_tensor() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let concat = small(Fusion::IntermediateConcat { c: 1, v: 1 });
    let path = dir.path().join("concat.safetensors");
    UViT::new(&concat, &device)
        .unwrap()
        .save_safetensors(&path)
        .unwrap();

    // Cross-attention model from a concat checkpoint: `attn.q.weight` is missing.
    let cross = small(Fusion::IntermediateCrossAttn { c: 1, v: 1 });
    let e = UViT::from_safetensors(&cross, &path, &device)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("missing tensor `in_blocks.1.attn.q.weight`"),
        "{e}"
    );
    assert!(e.contains("concat.safetensors"), "{e}");

    // Wider model: shape mismatch names found and expected shapes.
    let mut wide = concat.clone();
    wide.embed_dim = 64;
    let e = UViT::from_safetensors(&wide, &path, &device)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`patch_embed.proj.weight` has shape [32, 4, 2, 2]"),
        "{e}"
    );
    assert!(e.contains("expects [64, 4, 2, 2]"), "{e}");

    // Fewer text blocks than the checkpoint: the extra tensors are reported.
    let fewer = small(Fusion::IntermediateConcat { c: 0, v: 1 });
    let e = UViT::from_safetensors(&fewer, &path, &device)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("not used by the model") && e.contains("text_blocks.0"),
        "{e}"
    );

    // Not a safetensors file at all.
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"not a checkpoint").unwrap();
    let e = UViT::from_safetensors(&concat, &junk, &device)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("junk.safetensors") && e.contains("not a valid safetensors"),
        "{e}"
    );
}
