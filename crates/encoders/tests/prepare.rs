//! The feature cache: contents, atomic shards, resuming after an interruption, bad input.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::tensor::{Device, Tensor, TensorData};
use ifvit_data::batch::{CaptionSampling, rgb_to_chw};
use ifvit_data::cache::{CacheError, FeatureBatcher, FeatureCache, Manifest};
use ifvit_data::coco::{BadImagePolicy, CocoDataset, CocoOptions};
use ifvit_data::tokenizer::clip::{ClipPadding, ClipTokenizer, Overflow};
use ifvit_encoders::{
    Autoencoder, LearnedTextEncoder, PixelAutoencoder, PrepareError, PrepareOptions, PrepareReport,
    TextEncoder, prepare_coco,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../data/tests/fixtures")
        .join(name)
}

/// Counts the images it encodes, to prove finished shards are not redone.
struct Counting {
    inner: PixelAutoencoder,
    images: AtomicUsize,
}

impl Autoencoder for Counting {
    fn name(&self) -> String {
        self.inner.name()
    }
    fn latent_channels(&self) -> usize {
        3
    }
    fn downsample(&self) -> usize {
        self.inner.downsample()
    }
    fn encode_moments(&self, images: Tensor<4>) -> Tensor<4> {
        self.images.fetch_add(images.dims()[0], Ordering::Relaxed);
        self.inner.encode_moments(images)
    }
    fn decode(&self, latents: Tensor<4>) -> Tensor<4> {
        self.inner.decode(latents)
    }
}

fn counting() -> Counting {
    Counting {
        inner: PixelAutoencoder::new(8),
        images: AtomicUsize::new(0),
    }
}

fn text_encoder(overflow: Overflow) -> LearnedTextEncoder<ClipTokenizer> {
    let tok = ClipTokenizer::with_options(77, ClipPadding::EndToken, overflow).unwrap();
    LearnedTextEncoder::seeded(tok, 4, 11, &Device::flex())
}

struct Setup {
    _dir: tempfile::TempDir,
    images: PathBuf,
    captions: PathBuf,
    out: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("val2014");
    std::fs::create_dir(&images).unwrap();
    for e in std::fs::read_dir(fixture("coco/val2014")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, images.join(p.file_name().unwrap())).unwrap();
    }
    let captions = dir.path().join("captions_val2014.json");
    std::fs::copy(fixture("coco/captions_val2014.json"), &captions).unwrap();
    let out = dir.path().join("cache");
    Setup {
        _dir: dir,
        images,
        captions,
        out,
    }
}

fn dataset(s: &Setup, on_bad: BadImagePolicy) -> CocoDataset {
    let opts = CocoOptions {
        image_size: 32,
        on_missing: BadImagePolicy::Error,
        on_bad,
        limit: None,
    };
    CocoDataset::open(&s.images, &s.captions, opts).unwrap()
}

fn options(max_new_shards: Option<usize>) -> PrepareOptions {
    PrepareOptions {
        shard_size: 4,
        batch_size: 3,
        max_new_shards,
        progress: false,
    }
}

fn run(
    s: &Setup,
    ds: &CocoDataset,
    ae: &dyn Autoencoder,
    te: &dyn TextEncoder,
    max: Option<usize>,
) -> Result<PrepareReport, PrepareError> {
    prepare_coco(ds, ae, te, &s.out, &options(max), &Device::flex())
}

fn vec4(t: Tensor<4>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

fn vec3(t: Tensor<3>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn cache_holds_moments_and_every_caption() {
    let s = setup();
    let ds = dataset(&s, BadImagePolicy::Error);
    let (ae, te) = (counting(), text_encoder(Overflow::Truncate));
    let r = run(&s, &ds, &ae, &te, None).unwrap();
    assert!(r.complete);
    assert_eq!(
        (r.shards_total, r.shards_written, r.images, r.captions),
        (2, 2, 6, 32)
    );

    let m = Manifest::load(&s.out.join("manifest.json")).unwrap();
    assert_eq!(m.settings.moments_shape, [6, 4, 4]);
    assert_eq!(m.settings.context_shape, [77, 4]);
    assert_eq!(
        m.shards.iter().map(|s| s.images).collect::<Vec<_>>(),
        vec![4, 2]
    );

    let cache = FeatureCache::open(&s.out).unwrap();
    assert_eq!(cache.len(), 6);
    let device = Device::flex();
    for i in [0, 3, 5] {
        let item = ds.load(i).unwrap();
        assert_eq!(cache.image_id(i), item.id);
        let (px, _) = rgb_to_chw(&item.image);
        let direct = ae.encode_moments(Tensor::from_data(
            TensorData::new(px, [1, 3, 32, 32]),
            &device,
        ));
        assert_eq!(cache.moments(i).unwrap(), vec4(direct), "image {i}");
        assert_eq!(cache.num_captions(i), item.captions.len());
        let k = item.captions.len() - 1;
        let direct = te.encode(&[&item.captions[k]], &device).unwrap().features;
        assert_eq!(
            cache.context(i, k).unwrap(),
            vec3(direct),
            "image {i} caption {k}"
        );
    }
    // The empty caption's context is its encoding, not zeros.
    let empty = vec3(te.encode(&[""], &device).unwrap().features);
    assert_eq!(cache.empty_context(), &empty[..]);
    assert!(empty.iter().any(|v| *v != 0.0));
}

#[test]
fn interrupted_run_resumes_without_redoing_or_corrupting_shards() {
    let s = setup();
    let ds = dataset(&s, BadImagePolicy::Error);
    let te = text_encoder(Overflow::Truncate);

    let first = counting();
    let r = run(&s, &ds, &first, &te, Some(1)).unwrap();
    assert_eq!(
        (
            r.complete,
            r.shards_written,
            first.images.load(Ordering::Relaxed)
        ),
        (false, 1, 4)
    );
    assert!(matches!(
        FeatureCache::open(&s.out),
        Err(CacheError::Incomplete {
            done: 1,
            total: 2,
            ..
        })
    ));
    assert_eq!(FeatureCache::open_partial(&s.out).unwrap().len(), 4);

    let shard0 = s.out.join("shard-00000.safetensors");
    let bytes0 = std::fs::read(&shard0).unwrap();
    let mtime0 = std::fs::metadata(&shard0).unwrap().modified().unwrap();
    // What a crash leaves behind: a half-written temp file, and a shard renamed into place
    // whose manifest update never happened (garbage here, to prove it is rewritten).
    std::fs::write(s.out.join("shard-00001.safetensors.tmp"), b"half a shard").unwrap();
    std::fs::write(
        s.out.join("shard-00001.safetensors"),
        b"not listed in the manifest",
    )
    .unwrap();

    let second = counting();
    let r = run(&s, &ds, &second, &te, None).unwrap();
    assert!(r.complete);
    assert_eq!((r.shards_reused, r.shards_written), (1, 1));
    assert_eq!(
        second.images.load(Ordering::Relaxed),
        2,
        "only the unfinished shard is encoded"
    );
    assert_eq!(std::fs::read(&shard0).unwrap(), bytes0);
    assert_eq!(
        std::fs::metadata(&shard0).unwrap().modified().unwrap(),
        mtime0
    );
    assert!(!s.out.join("shard-00001.safetensors.tmp").exists());

    // Same bytes as one uninterrupted run.
    let fresh = setup();
    run(
        &fresh,
        &dataset(&fresh, BadImagePolicy::Error),
        &counting(),
        &te,
        None,
    )
    .unwrap();
    for f in [
        "shard-00000.safetensors",
        "shard-00001.safetensors",
        "empty_context.safetensors",
    ] {
        assert_eq!(
            std::fs::read(s.out.join(f)).unwrap(),
            std::fs::read(fresh.out.join(f)).unwrap(),
            "{f}"
        );
    }

    // A finished run has nothing left to do.
    let third = counting();
    let r = run(&s, &ds, &third, &te, None).unwrap();
    assert_eq!(
        (r.shards_written, third.images.load(Ordering::Relaxed)),
        (0, 0)
    );
}

#[test]
fn damaged_shard_is_detected_and_rewritten() {
    let s = setup();
    let ds = dataset(&s, BadImagePolicy::Error);
    let te = text_encoder(Overflow::Truncate);
    run(&s, &ds, &counting(), &te, None).unwrap();
    let shard1 = s.out.join("shard-00001.safetensors");
    let good = std::fs::read(&shard1).unwrap();
    std::fs::write(&shard1, &good[..good.len() - 10]).unwrap();
    let msg = FeatureCache::open(&s.out).err().unwrap().to_string();
    assert!(
        msg.contains("shard-00001.safetensors") && msg.contains("not a readable cache file"),
        "{msg}"
    );
    let again = counting();
    let r = run(&s, &ds, &again, &te, None).unwrap();
    assert_eq!(
        (
            r.shards_reused,
            r.shards_written,
            again.images.load(Ordering::Relaxed)
        ),
        (1, 1, 2)
    );
    assert_eq!(std::fs::read(&shard1).unwrap(), good);
}

#[test]
fn changed_settings_are_refused() {
    let s = setup();
    let ds = dataset(&s, BadImagePolicy::Error);
    run(
        &s,
        &ds,
        &counting(),
        &text_encoder(Overflow::Truncate),
        Some(1),
    )
    .unwrap();
    let other = LearnedTextEncoder::seeded(
        ClipTokenizer::with_options(77, ClipPadding::EndToken, Overflow::Truncate).unwrap(),
        4,
        12,
        &Device::flex(),
    );
    let err = run(&s, &ds, &counting(), &other, None).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, PrepareError::Cache(CacheError::SettingsChanged { .. })),
        "{msg}"
    );
    assert!(
        msg.contains("text_encoder") && msg.contains("seed=11") && msg.contains("seed=12"),
        "{msg}"
    );
}

#[test]
fn bad_images_are_skipped_and_counted_or_stop_the_run() {
    let s = setup();
    let victim = s.images.join("COCO_val2014_000000000074.jpg");
    let bytes = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, &bytes[..bytes.len() - 100]).unwrap();
    let te = text_encoder(Overflow::Truncate);

    let err = run(
        &s,
        &dataset(&s, BadImagePolicy::Error),
        &counting(),
        &te,
        None,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("COCO_val2014_000000000074.jpg"),
        "{err}"
    );

    std::fs::remove_dir_all(&s.out).unwrap();
    let r = run(
        &s,
        &dataset(&s, BadImagePolicy::Skip),
        &counting(),
        &te,
        None,
    )
    .unwrap();
    assert_eq!((r.complete, r.images, r.bad_images), (true, 5, 1));
    let m = Manifest::load(&s.out.join("manifest.json")).unwrap();
    assert_eq!(m.shards[0].bad_images, vec![74]);
    assert_eq!((m.shards[0].planned, m.shards[0].images), (4, 3));
    let cache = FeatureCache::open(&s.out).unwrap();
    let ids: Vec<u64> = (0..cache.len()).map(|i| cache.image_id(i)).collect();
    assert_eq!(ids, vec![42, 73, 133, 136, 139]);
}

#[test]
fn caption_longer_than_the_context_truncates_or_names_the_image() {
    let s = setup();
    let ds = dataset(&s, BadImagePolicy::Error);
    let err = run(&s, &ds, &counting(), &text_encoder(Overflow::Error), None).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, PrepareError::Caption { image_id: 133, .. }),
        "{msg}"
    );
    assert!(msg.contains("context holds 77"), "{msg}");
}

#[test]
fn cached_dataset_drops_captions_to_the_empty_context_deterministically() {
    let s = setup();
    let ds = dataset(&s, BadImagePolicy::Error);
    run(
        &s,
        &ds,
        &counting(),
        &text_encoder(Overflow::Truncate),
        None,
    )
    .unwrap();
    let cache = FeatureCache::open(&s.out)
        .unwrap()
        .with_sampling(CaptionSampling::new(3, 0.5));
    let a: Vec<_> = (0..cache.len()).map(|i| cache.get(i).unwrap()).collect();
    let b: Vec<_> = (0..cache.len()).map(|i| cache.get(i).unwrap()).collect();
    assert_eq!(
        a.iter().map(|x| &x.context).collect::<Vec<_>>(),
        b.iter().map(|x| &x.context).collect::<Vec<_>>()
    );
    for x in &a {
        assert_eq!(
            x.dropped,
            x.context == cache.empty_context(),
            "item {}",
            x.index
        );
    }
    let dropped = a.iter().filter(|x| x.dropped).count();
    assert_eq!(
        dropped,
        (0..6)
            .filter(|&i| CaptionSampling::new(3, 0.5).choose(0, i, 5).is_none())
            .count()
    );
    let batch = FeatureBatcher::for_cache(&cache).batch(a, &Device::flex());
    assert_eq!(batch.moments.dims(), [6, 6, 4, 4]);
    assert_eq!(batch.context.dims(), [6, 77, 4]);
}
