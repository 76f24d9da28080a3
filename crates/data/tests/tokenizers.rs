//! Golden token ids from transformers (made by fixtures/make_tokenizer_goldens.py).

use std::path::PathBuf;

use ifvit_data::tokenizer::bert::BertTokenizer;
use ifvit_data::tokenizer::clip::{ClipTokenizer, Overflow};
use ifvit_data::tokenizer::{TextTokenizer, TokenizeError};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn goldens() -> Value {
    let text = std::fs::read_to_string(fixture("tokenizer_goldens.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn cases(v: &Value) -> Vec<(String, Vec<u32>)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let ids = c["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_u64().unwrap() as u32);
            (c["text"].as_str().unwrap().to_string(), ids.collect())
        })
        .collect()
}

#[test]
fn clip_matches_transformers() {
    let g = goldens();
    let tok = ClipTokenizer::new();
    let cases = cases(&g["clip"]["cases"]);
    assert!(cases.len() >= 10);
    for (text, ids) in &cases {
        assert_eq!(&tok.encode(text).unwrap(), ids, "caption {text:?}");
    }
    // The brief's golden, stated literally.
    assert_eq!(&cases[0].1[..7], &[49406, 320, 1125, 539, 320, 2368, 49407]);
    assert_eq!(tok.vocab_size(), 49408);
}

#[test]
fn clip_long_caption_is_truncated_keeping_end_or_refused() {
    let g = goldens();
    let (long, ids) = cases(&g["clip"]["cases"]).pop().unwrap();
    assert_eq!(ids.len(), 77);
    assert_eq!(ids[76], 49407, "truncation keeps the end token");
    assert!(ids[1..76].iter().all(|&i| i != 49407));
    let strict = ClipTokenizer::with_options(77, Default::default(), Overflow::Error).unwrap();
    assert!(matches!(
        strict.encode(&long),
        Err(TokenizeError::TooLong { max: 77, .. })
    ));
}

#[test]
fn bert_minilm_matches_transformers() {
    let g = goldens();
    let file = fixture(g["bert"]["file"].as_str().unwrap());
    for (n, expected) in g["bert"]["cases"].as_object().unwrap() {
        let n: usize = n.parse().unwrap();
        let tok = BertTokenizer::from_file(&file, n, Overflow::Truncate).unwrap();
        assert_eq!(tok.vocab_size(), 30522);
        assert_eq!(tok.pad_id(), 0);
        for (text, ids) in cases(expected) {
            assert_eq!(
                tok.encode(&text).unwrap(),
                ids,
                "context {n}, caption {text:?}"
            );
        }
    }
}

#[test]
fn bert_long_caption_policy() {
    let file = fixture("all-minilm-l6-v2.tokenizer.json.gz");
    let strict = BertTokenizer::from_file(&file, 8, Overflow::Error).unwrap();
    match strict.encode("a man riding a wave on top of a surfboard") {
        Err(TokenizeError::TooLong { needed, max, .. }) => assert_eq!((needed, max), (13, 8)), // surfboard = surf ##board
        other => panic!("expected TooLong, got {other:?}"),
    }
    let ids = BertTokenizer::from_file(&file, 8, Overflow::Truncate)
        .unwrap()
        .encode("a man riding a wave on top of a surfboard")
        .unwrap();
    assert_eq!(ids, vec![101, 1037, 2158, 5559, 1037, 4400, 2006, 102]);
}

#[test]
fn bert_bad_file_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("tokenizer.json");
    std::fs::write(&bad, "{ not json").unwrap();
    let msg = BertTokenizer::from_file(&bad, 16, Overflow::Truncate)
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("tokenizer.json") && msg.contains("not a Hugging Face"),
        "{msg}"
    );
    let missing = dir.path().join("nope.json");
    let msg = BertTokenizer::from_file(&missing, 16, Overflow::Truncate)
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("nope.json"), "{msg}");
}
