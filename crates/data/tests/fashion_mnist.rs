//! Fashion-MNIST: the idx reader on synthetic files (always), the genuine Debian data
//! (skipped with a printed reason only where `dataset-fashion-mnist` is not installed;
//! .ci/install-data.sh installs it), captions, fitting and the compositional mode.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use burn::data::dataset::Dataset;
use ifvit_data::batch::CaptionedImage;
use ifvit_data::fashion_mnist::{
    DEBIAN_DIR, FashionDataset, FashionError, FashionMnist, FashionPairs, Fit, Relation, Split,
};

fn write_idx_gz(path: &Path, dims: &[u32], data: &[u8]) {
    let mut raw = vec![0, 0, 0x08, dims.len() as u8];
    dims.iter()
        .for_each(|d| raw.extend_from_slice(&d.to_be_bytes()));
    raw.extend_from_slice(data);
    let mut gz =
        flate2::write::GzEncoder::new(std::fs::File::create(path).unwrap(), Default::default());
    gz.write_all(&raw).unwrap();
    gz.finish().unwrap();
}

/// Three 28x28 images, image k filled with value 100 k + its pixel row; labels 9, 0, 8.
fn synthetic(dir: &Path) {
    let mut px = Vec::new();
    for k in 0..3u8 {
        for row in 0..28u8 {
            px.extend(std::iter::repeat_n(100 * k + row, 28));
        }
    }
    write_idx_gz(&dir.join("t10k-images-idx3-ubyte.gz"), &[3, 28, 28], &px);
    write_idx_gz(&dir.join("t10k-labels-idx1-ubyte.gz"), &[3], &[9, 0, 8]);
}

#[test]
fn synthetic_idx_files_read_fit_and_caption() {
    let dir = tempfile::tempdir().unwrap();
    synthetic(dir.path());
    let data = Arc::new(FashionMnist::load(dir.path(), Split::Test).unwrap());
    assert_eq!(data.labels, vec![9, 0, 8]);
    let ds = FashionDataset::new(data.clone(), 32, Fit::Pad).unwrap();
    let item = ds.get(2).unwrap();
    assert_eq!(item.captions()[0], "a photo of a bag");
    let (px, shape) = item.image_chw();
    assert_eq!(shape, [3, 32, 32]);
    // Padding: 2 black (-1) pixels each side; row r of the picture is at row r + 2.
    assert_eq!(px[0], -1.0);
    let at = |c: usize, y: usize, x: usize| px[c * 1024 + y * 32 + x];
    assert!((at(0, 2, 2) - (200.0 / 127.5 - 1.0)).abs() < 1e-6);
    assert!((at(2, 29, 29) - (227.0 / 127.5 - 1.0)).abs() < 1e-6);
    assert_eq!(at(1, 30, 16), -1.0);
    assert_eq!(ds.get(0).unwrap().captions()[0], "a photo of an ankle boot");
    let resized = FashionDataset::new(data, 16, Fit::Resize)
        .unwrap()
        .get(1)
        .unwrap();
    assert_eq!(resized.image_chw().1, [3, 16, 16]);
    assert!(matches!(
        FashionDataset::new(
            Arc::new(FashionMnist::load(dir.path(), Split::Test).unwrap()),
            20,
            Fit::Pad
        ),
        Err(FashionError::PadTooSmall(20))
    ));
}

#[test]
fn missing_and_damaged_files_name_the_package_or_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let msg = FashionMnist::load(dir.path(), Split::Train)
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("train-images-idx3-ubyte.gz")
            && msg.contains("apt-get install dataset-fashion-mnist"),
        "{msg}"
    );

    synthetic(dir.path());
    let labels = dir.path().join("t10k-labels-idx1-ubyte.gz");
    write_idx_gz(&labels, &[4], &[1, 2, 3]); // says 4, holds 3
    let msg = FashionMnist::load(dir.path(), Split::Test)
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("t10k-labels-idx1-ubyte.gz") && msg.contains("need 4 bytes"),
        "{msg}"
    );
    write_idx_gz(&labels, &[2], &[1, 2]);
    let msg = FashionMnist::load(dir.path(), Split::Test)
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("3 images") && msg.contains("2 labels"),
        "{msg}"
    );
    std::fs::write(&labels, b"\x1f\x8bnot really gzip").unwrap();
    let msg = FashionMnist::load(dir.path(), Split::Test)
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("gzip"), "{msg}");
}

fn debian(split: Split) -> Option<FashionMnist> {
    if !Path::new(DEBIAN_DIR)
        .join("t10k-labels-idx1-ubyte.gz")
        .exists()
    {
        println!(
            "SKIPPED: {DEBIAN_DIR} absent; install it with `apt-get install dataset-fashion-mnist`"
        );
        return None;
    }
    Some(FashionMnist::load_debian(split).unwrap())
}

/// Numbers from numpy on the same files: sizes, balanced classes, first labels, the
/// pixel sum of image 0 and of the whole split.
#[test]
fn debian_fashion_mnist_test_split() {
    let Some(d) = debian(Split::Test) else { return };
    assert_eq!(d.len(), 10_000);
    assert_eq!(&d.labels[..10], &[9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
    let mut counts = [0usize; 10];
    d.labels.iter().for_each(|&l| counts[l as usize] += 1);
    assert_eq!(counts, [1000; 10]);
    assert_eq!(
        d.images[..784].iter().map(|&v| v as u64).sum::<u64>(),
        33_456
    );
    assert_eq!(d.images.iter().map(|&v| v as u64).sum::<u64>(), 573_469_082);
}

#[test]
fn debian_fashion_mnist_train_split() {
    let Some(d) = debian(Split::Train) else {
        return;
    };
    assert_eq!(d.len(), 60_000);
    assert_eq!(&d.labels[..5], &[9, 0, 0, 3, 0]);
    assert_eq!(
        d.images.iter().map(|&v| v as u64).sum::<u64>(),
        3_431_114_169
    );
}

#[test]
fn pairs_put_the_subject_where_the_caption_says() {
    let Some(d) = debian(Split::Test) else { return };
    let data = Arc::new(d);
    let pairs = FashionPairs::new(data.clone(), 64, 200, 5);
    let mut relations = std::collections::HashSet::new();
    for i in 0..40 {
        let (a, b, rel) = pairs.draw(i);
        assert_eq!(pairs.draw(i), (a, b, rel), "deterministic");
        relations.insert(rel.phrase());
        let item = pairs.get(i).unwrap();
        assert_ne!(data.labels[a], data.labels[b]);
        assert!(
            item.captions[0].contains(rel.phrase())
                && item.captions[1].contains(rel.inverse().phrase())
        );
        assert_eq!(item.image_chw().1, [3, 64, 64]);
        // On the 56x56 canvas the subject's 28x28 picture sits in the named half.
        let canvas = pairs.canvas(a, b, rel);
        let (x, y) = match rel {
            Relation::LeftOf => (0, 14),
            Relation::RightOf => (28, 14),
            Relation::Above => (14, 0),
            Relation::Below => (14, 28),
        };
        let sub = image::imageops::crop_imm(&canvas, x, y, 28, 28).to_image();
        assert_eq!(sub, data.gray(a), "item {i}: {}", item.captions[0]);
    }
    assert_eq!(relations.len(), 4);
    let other = FashionPairs::new(data, 64, 200, 6);
    assert!((0..20).any(|i| other.draw(i) != pairs.draw(i)));
}
