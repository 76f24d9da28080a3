//! The other data sources train end to end: Fashion-MNIST (Debian package) and an MS-COCO
//! feature cache written by `prepare` (on the data crate's COCO fixture, with the pixel
//! autoencoder and a learned text encoder standing in for SD-VAE and CLIP).

mod common;

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use ifvit_data::coco::{BadImagePolicy, CocoDataset, CocoOptions};
use ifvit_data::fashion_mnist::Fit;
use ifvit_data::tokenizer::clip::{ClipPadding, ClipTokenizer, Overflow};
use ifvit_encoders::{LearnedTextEncoder, PixelAutoencoder, PrepareOptions, prepare_coco};
use ifvit_train::config::{CacheConfig, DataConfig, FashionConfig};
use ifvit_train::{Silent, TrainOptions, train};

fn opts(dir: &Path, cfg: &ifvit_train::ExperimentConfig) -> TrainOptions {
    TrainOptions {
        out_dir: dir.to_path_buf(),
        fusion: cfg.arms[0],
        resume: false,
        extend_to: None,
        stop_at: None,
        interrupt: None,
        extra_devices: vec![],
    }
}

#[test]
fn fashion_mnist_trains() {
    if !Path::new("/usr/share/datasets/fashion-mnist").is_dir() {
        println!("skipped: Debian package dataset-fashion-mnist is not installed");
        return;
    }
    let mut cfg = common::tiny();
    cfg.data = DataConfig::FashionMnist(FashionConfig {
        dir: None,
        image_size: 32,
        fit: Fit::Pad,
        pairs: false,
        seed: 1,
    });
    cfg.model.patch_size = Some(8);
    cfg.train.steps = 2;
    let dir = tempfile::tempdir().unwrap();
    let o = train(&cfg, &opts(dir.path(), &cfg), &Device::flex(), &mut Silent).unwrap();
    assert_eq!(o.losses.len(), 2);
    assert!(o.losses.iter().all(|l| l.1.is_finite()));
}

fn coco_cache(dir: &Path, text_dim: usize) -> PathBuf {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/tests/fixtures/coco");
    let ds = CocoDataset::open(
        fixture.join("val2014"),
        fixture.join("captions_val2014.json"),
        CocoOptions {
            image_size: 64,
            on_missing: BadImagePolicy::Error,
            on_bad: BadImagePolicy::Error,
            limit: None,
        },
    )
    .unwrap();
    let device = Device::flex();
    let tok = ClipTokenizer::with_options(77, ClipPadding::EndToken, Overflow::Truncate).unwrap();
    let te = LearnedTextEncoder::seeded(tok, text_dim, 3, &device);
    let out = dir.join("cache");
    let o = PrepareOptions {
        shard_size: 4,
        batch_size: 3,
        max_new_shards: None,
        progress: false,
    };
    prepare_coco(&ds, &PixelAutoencoder::new(2), &te, &out, &o, &device).unwrap();
    out
}

#[test]
fn a_coco_feature_cache_trains_and_a_mismatch_is_named() {
    let dir = tempfile::tempdir().unwrap();
    // Pixel "latents" 3x32x32 (64 px images, factor 2); text features 77 x 8.
    let cache = coco_cache(dir.path(), 8);
    let mut cfg = common::tiny();
    cfg.data = DataConfig::CocoCache(CacheConfig {
        dir: cache,
        scale_factor: 1.0,
        seed: 0,
    });
    cfg.model.patch_size = Some(8);
    cfg.model.num_text_tokens = Some(77);
    cfg.model.context_dim = Some(16);
    cfg.train.steps = 2;
    let e = match train(
        &cfg,
        &opts(&dir.path().join("bad"), &cfg),
        &Device::flex(),
        &mut Silent,
    ) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("8-wide cached features trained a model expecting 16"),
    };
    assert!(
        e.contains("77x8") && e.contains("77x16") && e.contains("model.context_dim"),
        "{e}"
    );

    cfg.model.context_dim = Some(8);
    let o = train(
        &cfg,
        &opts(&dir.path().join("run"), &cfg),
        &Device::flex(),
        &mut Silent,
    )
    .unwrap();
    assert_eq!(o.losses.len(), 2);
    assert!(o.losses.iter().all(|l| l.1.is_finite()));
    assert!(
        o.model.text.is_none(),
        "feature-conditioned models have no word embedding"
    );
}
