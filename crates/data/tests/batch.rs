//! Batching: any `CaptionedImage` data set + any `TextTokenizer`, seeded caption choice
//! and classifier-free-guidance dropout to the empty caption's encoding.

use std::sync::Arc;

use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, InMemDataset};
use burn::tensor::Device;
use ifvit_data::batch::{
    CaptionSampling, CaptionedImage, CaptionedSamples, TextImageBatcher, check_captions,
};
use ifvit_data::tokenizer::TextTokenizer;
use ifvit_data::tokenizer::clip::{ClipPadding, ClipTokenizer, Overflow};

/// Shaped like the `shapes` items: an RGB image and one or more captions.
#[derive(Clone, Debug)]
struct Toy {
    image: image::RgbImage,
    captions: Vec<String>,
}

impl CaptionedImage for Toy {
    fn image_chw(&self) -> (Vec<f32>, [usize; 3]) {
        ifvit_data::batch::rgb_to_chw(&self.image)
    }
    fn captions(&self) -> &[String] {
        &self.captions
    }
}

fn toys(n: usize) -> InMemDataset<Toy> {
    InMemDataset::new(
        (0..n)
            .map(|i| Toy {
                image: image::RgbImage::from_pixel(4, 4, image::Rgb([i as u8, 0, 255])),
                captions: vec![
                    format!("a photo of {i} cats"),
                    format!("{i} dogs"),
                    format!("{i} birds"),
                ],
            })
            .collect(),
    )
}

fn tokenizer() -> Arc<ClipTokenizer> {
    Arc::new(ClipTokenizer::with_options(8, ClipPadding::EndToken, Overflow::Truncate).unwrap())
}

#[test]
fn batch_has_images_tokens_and_empty_caption_encoding_for_dropped_rows() {
    let device = Device::flex();
    let tok = tokenizer();
    let samples = CaptionedSamples::new(toys(16), CaptionSampling::new(1, 0.3));
    let items: Vec<_> = (0..16).map(|i| samples.get(i).unwrap()).collect();
    let batch = TextImageBatcher::new(tok.clone()).batch(items.clone(), &device);
    assert_eq!(batch.images.dims(), [16, 3, 4, 4]);
    assert_eq!(batch.tokens.dims(), [16, 8]);
    let ids = batch
        .tokens
        .into_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .unwrap();
    let px = batch.images.into_data().try_to_vec::<f32>().unwrap();
    let empty: Vec<i64> = tok.encode("").unwrap().into_iter().map(i64::from).collect();
    assert_eq!(
        &empty[..3],
        &[49406, 49407, 49407],
        "the empty caption is start, end, padding: not zeros"
    );
    let n_dropped = batch.dropped.iter().filter(|d| **d).count();
    assert!(
        (1..16).contains(&n_dropped),
        "{n_dropped} of 16 dropped at p = 0.3"
    );
    for (row, it) in items.iter().enumerate() {
        let row_ids = &ids[row * 8..(row + 1) * 8];
        if it.dropped {
            assert_eq!(row_ids, &empty[..]);
        } else {
            let want: Vec<i64> = tok
                .encode(&it.caption)
                .unwrap()
                .into_iter()
                .map(i64::from)
                .collect();
            assert_eq!(row_ids, &want[..]);
            assert!(it.caption.contains(&row.to_string()));
        }
        // Red channel holds the item index / 127.5 - 1.
        assert!((px[row * 48] - (row as f32 / 127.5 - 1.0)).abs() < 1e-6);
    }
}

#[test]
fn draws_are_reproducible_after_a_restart_and_change_with_the_epoch() {
    let sampling = CaptionSampling::new(9, 0.2);
    let run = |epoch: u64| {
        let s = CaptionedSamples::new(toys(50), sampling); // a fresh process after a restart
        s.set_epoch(epoch);
        (0..50)
            .map(|i| s.get(i).unwrap().caption)
            .collect::<Vec<_>>()
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3), run(4));
    // Over epochs every caption of an item gets its turn.
    let seen: std::collections::HashSet<String> = (0..30).map(|e| run(e)[7].clone()).collect();
    assert!(
        seen.contains("a photo of 7 cats") && seen.contains("7 dogs") && seen.contains("7 birds")
    );
    assert!(seen.contains(""), "p = 0.2 drops some");
}

#[test]
fn data_loader_runs_an_epoch_and_epoch_is_settable_through_an_arc() {
    let samples = Arc::new(CaptionedSamples::new(
        toys(10),
        CaptionSampling::new(2, 0.1),
    ));
    let loader = DataLoaderBuilder::new(TextImageBatcher::new(tokenizer()))
        .batch_size(4)
        .shuffle(5)
        .set_device(Device::flex())
        .build(samples.clone());
    samples.set_epoch(1);
    let mut seen = Vec::new();
    for batch in loader.iter() {
        let batch = batch.unwrap();
        assert_eq!(batch.tokens.dims()[1], 8);
        for (i, dropped) in batch.indices.iter().zip(&batch.dropped) {
            let want = CaptionSampling::new(2, 0.1).choose(1, *i, 3).is_none();
            assert_eq!(*dropped, want, "item {i} follows epoch 1");
        }
        seen.extend(batch.indices);
    }
    seen.sort();
    assert_eq!(seen, (0..10).collect::<Vec<_>>());
}

#[test]
fn refused_captions_are_reported_not_panicked() {
    let strict =
        Arc::new(ClipTokenizer::with_options(4, ClipPadding::EndToken, Overflow::Error).unwrap());
    let err = check_captions(strict.as_ref(), ["a cat", "a very long caption indeed"]).unwrap_err();
    assert!(
        err.to_string()
            .contains("needs 7 tokens but the context holds 4"),
        "{err}"
    );
    let samples = CaptionedSamples::new(toys(2), CaptionSampling::new(0, 0.0));
    let items = vec![samples.get(0).unwrap()];
    let tiny =
        Arc::new(ClipTokenizer::with_options(3, ClipPadding::EndToken, Overflow::Error).unwrap());
    let err = TextImageBatcher::new(tiny)
        .try_batch(items, &Device::flex())
        .unwrap_err();
    assert!(err.to_string().starts_with("item 0:"), "{err}");
}
