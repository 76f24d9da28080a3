//! Parity of CLIP (text and vision towers, preprocessing, CLIP score) with transformers'
//! `CLIPModel` on a tiny random model of the ViT-L/14 layout, the published ViT-L/14 sizes,
//! and loading errors. Fixtures: `/opt/py/bin/python scripts/parity/make_clip_fixtures.py`.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use ifvit_data::tokenizer::{TextTokenizer, TokenizeError};
use ifvit_encoders::TextEncoder;
use ifvit_encoders::clip::text::pool_index;
use ifvit_encoders::clip::{
    ClipConfig, ClipModel, ClipScorer, ClipTextEncoder, ClipTextModel, ClipVisionModel, Rgb8,
    preprocess,
};
use ifvit_encoders::vae::Weights;

/// Max |rust - transformers| relative to max(1, |transformers|): f32 on both sides.
const TOL: f32 = 1e-4;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn io(device: &Device) -> Weights {
    Weights::open(
        &fixtures().join("clip_tiny.io.safetensors"),
        "fixture",
        device,
    )
    .unwrap()
}

fn assert_close<const D: usize>(name: &str, got: Tensor<D>, want: Tensor<D>) {
    assert_eq!(got.dims(), want.dims(), "{name}: shape");
    let g = got.into_data().try_to_vec::<f32>().unwrap();
    let w = want.into_data().try_to_vec::<f32>().unwrap();
    let worst = g
        .iter()
        .zip(&w)
        .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
        .fold(0f32, f32::max);
    eprintln!("{name}: max relative error {worst:.2e}");
    assert!(worst < TOL, "{name}: max relative error {worst} >= {TOL}");
    assert!(
        w.iter().any(|v| v.abs() > 0.05),
        "{name}: reference is all ~0"
    );
}

fn ids(io: &Weights, name: &str, rows: usize) -> Vec<u32> {
    io.values(name, &[rows, 77])
        .unwrap()
        .into_iter()
        .map(|v| v as u32)
        .collect()
}

#[test]
fn text_tower_matches_transformers() {
    let device = Device::flex();
    let model = ClipModel::load(&fixtures().join("clip_tiny"), &device).unwrap();
    let io = io(&device);
    let ids = ids(&io, "input_ids", 3);
    assert_eq!(pool_index(&ids[2 * 77..3 * 77], 2), 2); // zero padding after the end token
    let out = model.text.forward(&ids, 3, &device);
    assert_close(
        "text last_hidden_state",
        out.last_hidden_state,
        io.tensor("text_last_hidden_state", [3, 77, 32]).unwrap(),
    );
    assert_close(
        "text pooled",
        out.pooled,
        io.tensor("text_pooled", [3, 32]).unwrap(),
    );
    assert_close(
        "text_embeds",
        out.text_embeds,
        io.tensor("text_embeds", [3, 24]).unwrap(),
    );
}

#[test]
fn gelu_variant_pools_at_the_first_eos_id() {
    // hidden_act "gelu", eos_token_id 300: transformers pools at the first 300 (or position 0).
    let device = Device::flex();
    let (cfg, text) = ClipModel::load_text(&fixtures().join("clip_text_gelu"), &device).unwrap();
    assert_eq!(
        cfg.text.tower.hidden_act,
        ifvit_encoders::clip::ClipActivation::Gelu
    );
    let io = Weights::open(
        &fixtures().join("clip_text_gelu.io.safetensors"),
        "fixture",
        &device,
    )
    .unwrap();
    let ids = ids(&io, "input_ids", 2);
    assert_eq!(
        (pool_index(&ids[..77], 300), pool_index(&ids[77..], 300)),
        (2, 0)
    );
    let out = text.forward(&ids, 2, &device);
    assert_close(
        "gelu last_hidden_state",
        out.last_hidden_state,
        io.tensor("last_hidden_state", [2, 77, 32]).unwrap(),
    );
    assert_close(
        "gelu pooled",
        out.pooled,
        io.tensor("pooled", [2, 32]).unwrap(),
    );
    assert_close(
        "gelu text_embeds",
        out.text_embeds,
        io.tensor("text_embeds", [2, 24]).unwrap(),
    );
}

#[test]
fn vision_tower_matches_transformers() {
    let device = Device::flex();
    let model = ClipModel::load(&fixtures().join("clip_tiny"), &device).unwrap();
    let io = io(&device);
    let out = model
        .vision
        .forward(io.tensor("pixel_values", [2, 3, 56, 56]).unwrap());
    assert_close(
        "vision last_hidden_state",
        out.last_hidden_state,
        io.tensor("vision_last_hidden_state", [2, 17, 48]).unwrap(),
    );
    assert_close(
        "vision pooled",
        out.pooled,
        io.tensor("vision_pooled", [2, 48]).unwrap(),
    );
    assert_close(
        "image_embeds",
        out.image_embeds,
        io.tensor("image_embeds", [2, 24]).unwrap(),
    );
}

/// The fixture's 8-bit images (`image{i}`, `[H, W, 3]` U8).
fn image(i: usize) -> Rgb8 {
    let bytes = std::fs::read(fixtures().join("clip_tiny.io.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let t = st.tensor(&format!("image{i}")).unwrap();
    assert_eq!(t.dtype(), safetensors::Dtype::U8);
    let s = t.shape();
    Rgb8::new(s[1], s[0], t.data().to_vec())
}

#[test]
fn preprocessing_matches_clip_image_processor() {
    // PIL bicubic + crop + normalise: equal pixels give errors ~1e-7; one 8-bit level off
    // would be 1 / 255 / 0.27 = 0.015.
    let device = Device::flex();
    let io = io(&device);
    for i in 0..4 {
        let img = image(i);
        let got = preprocess(std::slice::from_ref(&img), 56, &device);
        let want = io.tensor(&format!("processed{i}"), [3, 56, 56]).unwrap();
        let name = format!("processed{i} ({}x{})", img.width, img.height);
        assert_close(&name, got.reshape([3, 56, 56]), want);
    }
}

/// Test tokenizer mirrored in the script: start 510, UTF-8 bytes, end 511, end-padding.
struct ByteTokenizer;

impl TextTokenizer for ByteTokenizer {
    fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizeError> {
        let mut ids = vec![510];
        ids.extend(text.bytes().take(75).map(u32::from));
        ids.push(511);
        ids.resize(77, 511);
        Ok(ids)
    }
    fn context_length(&self) -> usize {
        77
    }
    fn vocab_size(&self) -> usize {
        512
    }
}

#[test]
fn clip_score_matches_transformers_in_both_conventions() {
    let device = Device::flex();
    let model = ClipModel::load(&fixtures().join("clip_tiny"), &device).unwrap();
    let io = io(&device);
    let captions = [
        "a red circle left of a blue square",
        "two dogs on the grass",
    ];
    // The scorer prefixes "A photo depicts ": its ids are the script's.
    let mut want_ids = Vec::new();
    for c in captions {
        want_ids.extend(
            ByteTokenizer
                .encode(&format!("A photo depicts {c}"))
                .unwrap(),
        );
    }
    assert_eq!(want_ids, ids(&io, "score_ids", 2));
    let scorer = ClipScorer {
        model: &model,
        tokenizer: &ByteTokenizer,
    };
    let s = scorer
        .score(&[image(0), image(1)], &captions, &device)
        .unwrap();
    let cos = io.values("score_cos", &[2]).unwrap();
    for (a, b) in s.cosines.iter().zip(&cos) {
        assert!((*a as f32 - b).abs() < 1e-5, "cos {a} vs {b}");
    }
    let hessel = io.values("score_hessel", &[1]).unwrap()[0];
    let cos100 = io.values("score_cos100", &[1]).unwrap()[0];
    eprintln!("{} (transformers: {hessel}, {cos100})", s.describe());
    assert!((s.hessel as f32 - hessel).abs() < 1e-5);
    assert!((s.cos100 as f32 - cos100).abs() < 1e-3);
}

#[test]
fn text_encoder_trait_gives_last_hidden_state() {
    let device = Device::flex();
    let dir = fixtures().join("clip_tiny");
    let (_, text) = ClipModel::load_text(&dir, &device).unwrap();
    let direct = text
        .forward(&ByteTokenizer.encode("a cat").unwrap(), 1, &device)
        .last_hidden_state;
    let enc =
        ClipTextEncoder::new(ByteTokenizer, text, "clip_tiny", &dir.join("config.json")).unwrap();
    assert_eq!((enc.context_length(), enc.dim()), (77, 32));
    assert_eq!(enc.name(), "clip-text(d=32, L=77):clip_tiny");
    let f = enc.encode(&["a cat", ""], &device).unwrap().features;
    assert_eq!(f.dims(), [2, 77, 32]);
    let first = f.slice([0..1, 0..77, 0..32]);
    assert_close("encode(a cat)", first, direct);

    // The genuine CLIP BPE (49408 ids) does not fit this tiny vocabulary: refused by field.
    let (_, text) = ClipModel::load_text(&dir, &device).unwrap();
    let tok = ifvit_data::tokenizer::clip::ClipTokenizer::new();
    let e = ClipTextEncoder::new(tok, text, "clip_tiny", &dir.join("config.json"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains(
            "field `text_config.vocab_size`: expected at least the tokenizer's 49408, found 512"
        ),
        "{e}"
    );
}

fn counts() -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures().join("clip_param_counts.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn published_vit_l14_config_builds_the_right_sizes() {
    let device = Device::flex();
    let cfg = ClipConfig::load(&fixtures().join("clip_vit_l14/config.json")).unwrap();
    assert_eq!(cfg.projection_dim, 768);
    let t = &cfg.text;
    assert_eq!(
        (
            t.tower.hidden_size,
            t.tower.num_hidden_layers,
            t.tower.num_attention_heads
        ),
        (768, 12, 12)
    );
    assert_eq!(
        (
            t.tower.intermediate_size,
            t.vocab_size,
            t.max_position_embeddings
        ),
        (3072, 49408, 77)
    );
    let v = &cfg.vision;
    assert_eq!(
        (
            v.tower.hidden_size,
            v.tower.num_hidden_layers,
            v.tower.num_attention_heads
        ),
        (1024, 24, 16)
    );
    assert_eq!(
        (
            v.tower.intermediate_size,
            v.patch_size,
            v.image_size,
            v.grid()
        ),
        (4096, 14, 224, 16)
    );

    // Lazy parameters: counting allocates nothing.
    let text = ClipTextModel::new(&cfg, &device);
    let projection = text.text_projection.num_params();
    assert_eq!(projection, 768 * 768);
    // transformers: sum(p.numel() for p in CLIPModel(config).text_model.parameters()): the text
    // transformer (embeddings, 12 layers, final LayerNorm) without text_projection.
    assert_eq!(text.num_params() - projection, 123_060_480);
    assert_eq!(
        (text.num_params() - projection) as u64,
        counts()["text_model"]
    );
    assert_eq!(
        text.num_params() as u64,
        counts()["text_model+text_projection"]
    );
    let vision = ClipVisionModel::new(&cfg, &device);
    assert_eq!(
        vision.num_params() as u64,
        counts()["vision_model+visual_projection"]
    );
    // CLIPModel's total also holds the scalar logit_scale, which inference does not use.
    assert_eq!(
        (text.num_params() + vision.num_params() + 1) as u64,
        counts()["clip_model_total"]
    );

    let tiny = ClipConfig::load(&fixtures().join("clip_tiny/config.json")).unwrap();
    assert_eq!(
        ClipTextModel::new(&tiny, &device).num_params() as u64,
        counts()["tiny_text_model+text_projection"]
    );
    assert_eq!(
        ClipVisionModel::new(&tiny, &device).num_params() as u64,
        counts()["tiny_vision_model+visual_projection"]
    );
}

#[test]
fn loading_errors_name_file_tensor_and_field() {
    let device = Device::flex();
    let src = fixtures().join("clip_tiny");
    let dir = tempfile::tempdir().unwrap();
    let cfg = std::fs::read_to_string(src.join("config.json")).unwrap();
    let cfg_path = dir.path().join("config.json");

    std::fs::write(&cfg_path, cfg.replace("\"quick_gelu\"", "\"relu\"")).unwrap();
    let e = ClipModel::load(dir.path(), &device)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("config.json: field `text_config.hidden_act`: expected \"quick_gelu\" or \"gelu\", found \"relu\""),
        "{e}"
    );

    std::fs::write(&cfg_path, &cfg).unwrap();
    let e = ClipModel::load(dir.path(), &device)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("model.safetensors: cannot read") && e.contains("openai/clip-vit-large-patch14"),
        "{e}"
    );

    // Weights of a different width than the config.
    std::fs::copy(
        src.join("model.safetensors"),
        dir.path().join("model.safetensors"),
    )
    .unwrap();
    std::fs::write(
        &cfg_path,
        cfg.replace("\"projection_dim\": 24", "\"projection_dim\": 16"),
    )
    .unwrap();
    let e = ClipModel::load(dir.path(), &device)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("tensor `text_projection.weight`: expected shape [16, 32], found [24, 32]"),
        "{e}"
    );

    // A text-only file (no vision tensors) loads the text tower but not the full model.
    let bytes = std::fs::read(src.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let text_only: Vec<_> = st
        .tensors()
        .into_iter()
        .filter(|(n, _)| n.starts_with("text"))
        .collect();
    std::fs::write(
        dir.path().join("model.safetensors"),
        safetensors::serialize(text_only, None).unwrap(),
    )
    .unwrap();
    std::fs::write(&cfg_path, &cfg).unwrap();
    assert!(ClipModel::load_text(dir.path(), &device).is_ok());
    let e = ClipModel::load(dir.path(), &device)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(
            "missing tensor `vision_model.embeddings.class_embedding` (expected shape [48])"
        ),
        "{e}"
    );
}
