//! Training with a frozen pretrained text encoder (`text_encoder: Bert { dir }` on a tiny
//! random BERT of the real layout; `MiniLm` is the same code on the genuine weights):
//! trains, resumes to the same losses, the run loads for sampling, and a context width
//! that does not match the encoder is an error naming the field.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use ifvit_encoders::bert::tiny::write_tiny_bert;
use ifvit_train::config::TextEncoderConfig;
use ifvit_train::load::load_run;
use ifvit_train::sample::{SampleSettings, sample_prompts};
use ifvit_train::{Silent, TrainOptions, train};

fn tiny_bert(dir: &Path) {
    let gz = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../data/tests/fixtures/all-minilm-l6-v2.tokenizer.json.gz");
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(gz).unwrap())
        .read_to_end(&mut json)
        .unwrap();
    write_tiny_bert(dir, &json, 16, 1, 2, 5).unwrap();
}

fn config(bert: &Path) -> ifvit_train::ExperimentConfig {
    let mut cfg = common::tiny();
    cfg.text_encoder = TextEncoderConfig::Bert {
        dir: bert.to_path_buf(),
    };
    // "[CLS] a red circle left of a blue square [SEP]" is 10 WordPiece tokens.
    cfg.model.num_text_tokens = Some(12);
    cfg
}

fn opts(dir: &Path, cfg: &ifvit_train::ExperimentConfig) -> TrainOptions {
    TrainOptions {
        out_dir: dir.to_path_buf(),
        fusion: cfg.arms[0],
        resume: false,
        stop_at: None,
        interrupt: None,
        extra_devices: vec![],
        extend_to: None,
    }
}

#[test]
fn trains_resumes_and_samples_with_frozen_bert_features() {
    let bert = tempfile::tempdir().unwrap();
    tiny_bert(bert.path());
    let cfg = config(bert.path());
    let device = Device::flex();
    let a = tempfile::tempdir().unwrap();
    let full = train(&cfg, &opts(a.path(), &cfg), &device, &mut Silent).unwrap();
    assert_eq!(full.losses.len(), 6);
    assert!(full.losses.iter().all(|l| l.1.is_finite()));
    // No learned text table: the model takes the frozen features.
    assert!(full.ema.text.is_none());

    let b = tempfile::tempdir().unwrap();
    let mut o = opts(b.path(), &cfg);
    o.stop_at = Some(3);
    train(&cfg, &o, &device, &mut Silent).unwrap();
    o.stop_at = None;
    o.resume = true;
    let resumed = train(&cfg, &o, &device, &mut Silent).unwrap();
    for (p, q) in full.losses.iter().zip(&resumed.losses) {
        assert!(
            (p.1 - q.1).abs() <= 1e-6 * p.1.abs().max(1.0),
            "{p:?} vs {q:?}"
        );
    }

    let run = load_run(a.path(), true, &device).unwrap();
    assert_eq!(run.config.text_encoder, cfg.text_encoder);
    let settings = SampleSettings {
        schedule: ifvit_diffusion::NoiseSchedule::new(cfg.diffusion.schedule, 1000).unwrap(),
        prediction: cfg.diffusion.prediction,
        sampler: cfg.eval.sampler.clone(),
        guidance: 2.0,
        seed: 0,
        batch_size: 2,
        image_shape: [3, 16, 16],
    };
    let images = sample_prompts(
        &run.model,
        &run.text,
        &["a red circle", "two blue squares"],
        &settings,
        &device,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(images.len(), 2);
}

#[test]
fn a_context_width_other_than_the_encoders_is_an_error() {
    let bert = tempfile::tempdir().unwrap();
    tiny_bert(bert.path());
    let mut cfg = config(bert.path());
    cfg.model.context_dim = Some(8);
    let out = tempfile::tempdir().unwrap();
    let e = train(&cfg, &opts(out.path(), &cfg), &Device::flex(), &mut Silent)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("16-d") && e.contains("context_dim"), "{e}");

    let mut cfg = config(bert.path());
    cfg.model.num_text_tokens = Some(4);
    let e = train(&cfg, &opts(out.path(), &cfg), &Device::flex(), &mut Silent)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("context holds 4"), "{e}");
}
