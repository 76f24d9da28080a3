//! Parity of the SD autoencoder (`AutoencoderKL`) with diffusers on a tiny random model of the
//! real layout, the real sd-vae-ft-mse size, and loading errors.
//! Fixtures: `/opt/py/bin/python scripts/parity/make_vae_fixtures.py`.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use ifvit_encoders::Autoencoder;
use ifvit_encoders::vae::{
    AutoencoderKl, SdAutoencoder, UVIT_COCO_SCALE_FACTOR, VAE_WEIGHTS_FILE, VaeConfig, Weights,
};

/// Max |rust - diffusers| allowed, relative to max(1, |diffusers|): f32 on both sides,
/// different summation orders.
const TOL: f32 = 1e-4;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn io(device: &Device) -> Weights {
    Weights::open(
        &fixtures().join("vae_tiny.io.safetensors"),
        "fixture",
        device,
    )
    .unwrap()
}

fn assert_close(name: &str, got: Tensor<4>, want: Tensor<4>) {
    assert_eq!(got.dims(), want.dims(), "{name}: shape");
    let g = got.into_data().try_to_vec::<f32>().unwrap();
    let w = want.into_data().try_to_vec::<f32>().unwrap();
    let mut worst = 0f32;
    for (a, b) in g.iter().zip(&w) {
        worst = worst.max((a - b).abs() / b.abs().max(1.0));
    }
    eprintln!("{name}: max relative error {worst:.2e}");
    assert!(worst < TOL, "{name}: max relative error {worst} >= {TOL}");
    // The reference is not degenerate.
    assert!(
        w.iter().any(|v| v.abs() > 0.05),
        "{name}: reference is all ~0"
    );
}

#[test]
fn tiny_autoencoder_matches_diffusers() {
    let device = Device::flex();
    let vae = SdAutoencoder::load(&fixtures().join("vae_tiny"), &device).unwrap();
    let io = io(&device);
    assert_eq!(vae.latent_channels(), 4);
    assert_eq!(vae.downsample(), 2);
    assert_eq!(vae.name(), "autoencoder-kl-f2(ch=16,32, z=4):vae_tiny");

    let moments = vae.encode_moments(io.tensor("x", [2, 3, 16, 16]).unwrap());
    assert_close(
        "moments",
        moments.clone(),
        io.tensor("moments", [2, 8, 8, 8]).unwrap(),
    );
    let decoded = vae.model.decode(io.tensor("z", [2, 4, 8, 8]).unwrap());
    assert_close(
        "decoded",
        decoded,
        io.tensor("decoded", [2, 3, 16, 16]).unwrap(),
    );

    // U-ViT's latent convention: scale 0.23010 on sampling, divided out before decoding.
    let z = SdAutoencoder::sample_scaled(
        moments,
        io.tensor("noise", [2, 4, 8, 8]).unwrap(),
        UVIT_COCO_SCALE_FACTOR,
    );
    assert_close(
        "z_scaled",
        z.clone(),
        io.tensor("z_scaled", [2, 4, 8, 8]).unwrap(),
    );
    let img = vae.decode_scaled(z, UVIT_COCO_SCALE_FACTOR);
    assert_close(
        "decoded_scaled",
        img,
        io.tensor("decoded_scaled", [2, 3, 16, 16]).unwrap(),
    );
}

fn counts() -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures().join("vae_param_counts.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn parameter_counts_match_diffusers() {
    let device = Device::flex();
    let tiny = VaeConfig::load(&fixtures().join("vae_tiny/config.json")).unwrap();
    assert_eq!(
        AutoencoderKl::new(&tiny, &device).num_params() as u64,
        counts()["tiny"]
    );

    // stabilityai/sd-vae-ft-mse/config.json as published. Parameters are lazy: nothing is
    // allocated to count them.
    let published = r#"{
      "_class_name": "AutoencoderKL",
      "_diffusers_version": "0.4.2",
      "act_fn": "silu",
      "block_out_channels": [128, 256, 512, 512],
      "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
      "in_channels": 3,
      "latent_channels": 4,
      "layers_per_block": 2,
      "norm_num_groups": 32,
      "out_channels": 3,
      "sample_size": 256,
      "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"]
    }"#;
    let cfg = VaeConfig::parse(Path::new("sd-vae-ft-mse/config.json"), published).unwrap();
    assert_eq!(cfg.downsample(), 8);
    let n = AutoencoderKl::new(&cfg, &device).num_params();
    // diffusers: sum(p.numel() for p in AutoencoderKL(**config).parameters())
    assert_eq!(n, 83_653_863);
    assert_eq!(n as u64, counts()["sd_vae_ft_mse"]);
}

/// Copies the tiny model into a temp dir with its tensors renamed/dropped by `edit`.
fn edited_copy(edit: impl Fn(&str) -> Option<String>) -> tempfile::TempDir {
    let src = fixtures().join("vae_tiny");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(src.join("config.json"), dir.path().join("config.json")).unwrap();
    let bytes = std::fs::read(src.join(VAE_WEIGHTS_FILE)).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let tensors: Vec<(String, safetensors::tensor::TensorView)> = st
        .tensors()
        .into_iter()
        .filter_map(|(name, view)| edit(&name).map(|n| (n, view)))
        .collect();
    let out = safetensors::serialize(tensors, None).unwrap();
    std::fs::write(dir.path().join(VAE_WEIGHTS_FILE), out).unwrap();
    dir
}

#[test]
fn deprecated_attention_names_load_the_same_network() {
    // Older diffusers checkpoints (sd-vae-ft-mse among them) name the mid-block attention
    // `query`, `key`, `value`, `proj_attn`.
    let legacy = edited_copy(|n| {
        Some(
            n.replace(".to_q.", ".query.")
                .replace(".to_k.", ".key.")
                .replace(".to_v.", ".value.")
                .replace(".to_out.0.", ".proj_attn."),
        )
    });
    let device = Device::flex();
    let a = SdAutoencoder::load(legacy.path(), &device).unwrap();
    let io = io(&device);
    let got = a.encode_moments(io.tensor("x", [2, 3, 16, 16]).unwrap());
    assert_close(
        "legacy moments",
        got,
        io.tensor("moments", [2, 8, 8, 8]).unwrap(),
    );
}

#[test]
fn loading_errors_name_file_tensor_and_field() {
    let device = Device::flex();
    let missing = edited_copy(|n| (n != "decoder.conv_out.bias").then(|| n.to_string()));
    let e = SdAutoencoder::load(missing.path(), &device)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(VAE_WEIGHTS_FILE)
            && e.contains("missing tensor `decoder.conv_out.bias`")
            && e.contains("[3]"),
        "{e}"
    );

    // A config that does not fit the weights: the first mismatching tensor is named.
    let dir = edited_copy(|n| Some(n.to_string()));
    let cfg = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
    let cfg_path = dir.path().join("config.json");
    std::fs::write(
        &cfg_path,
        cfg.replace("\"latent_channels\": 4", "\"latent_channels\": 2"),
    )
    .unwrap();
    let e = SdAutoencoder::load(dir.path(), &device)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(
            "tensor `encoder.conv_out.weight`: expected shape [4, 32, 3, 3], found [8, 32, 3, 3]"
        ),
        "{e}"
    );

    std::fs::write(
        &cfg_path,
        cfg.replace(
            "\"mid_block_add_attention\": true",
            "\"mid_block_add_attention\": false",
        ),
    )
    .unwrap();
    let e = SdAutoencoder::load(dir.path(), &device)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("20 tensors are not used")
            && e.contains("`decoder.mid_block.attentions.0.group_norm.bias`"),
        "{e}"
    );

    std::fs::write(
        &cfg_path,
        cfg.replace("\"act_fn\": \"silu\"", "\"act_fn\": \"relu\""),
    )
    .unwrap();
    let e = SdAutoencoder::load(dir.path(), &device)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("config.json: field `act_fn`: expected \"silu\", found \"relu\""),
        "{e}"
    );

    std::fs::remove_file(dir.path().join(VAE_WEIGHTS_FILE)).unwrap();
    std::fs::write(&cfg_path, &cfg).unwrap();
    let e = SdAutoencoder::load(dir.path(), &device)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("diffusion_pytorch_model.safetensors: cannot read"),
        "{e}"
    );
}
