//! Fashion-MNIST (Debian `dataset-fashion-mnist`: idx files, gzipped) with template
//! captions ("a photo of an ankle boot"), and a compositional mode: two items on one
//! canvas with a spatial caption ("a sneaker left of a bag").

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::data::dataset::{Dataset, DatasetError};
use image::imageops::{self, FilterType};
use image::{GrayImage, Luma};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::batch::CaptionedImage;

/// Where Debian's `dataset-fashion-mnist` puts the files.
pub const DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";
/// Side of a Fashion-MNIST image.
pub const SIDE: usize = 28;
/// The ten classes, as nouns for captions (label order of the data set: T-shirt/top,
/// Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot).
pub const CLASS_NAMES: [&str; 10] = [
    "t-shirt",
    "pair of trousers",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
];
/// Caption templates; `{}` is the class with its article ("an ankle boot").
pub const TEMPLATES: [&str; 3] = ["a photo of {}", "a picture of {}", "{}"];

/// "a sneaker", "an ankle boot".
pub fn with_article(noun: &str) -> String {
    let an = noun.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {noun}", if an { "an" } else { "a" })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Split {
    /// 60,000 images (`train-*`).
    Train,
    /// 10,000 images (`t10k-*`).
    Test,
}

impl Split {
    fn prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
        }
    }
}

/// How a 28x28 grey image becomes `size x size` RGB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Fit {
    /// Centre it on a black canvas (needs `size >= 28`; 32 adds 2 pixels each side).
    Pad,
    /// Lanczos-3 resize.
    Resize,
}

/// Why Fashion-MNIST could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FashionError {
    #[error(
        "{path} not found: install the Debian package dataset-fashion-mnist \
         (apt-get install dataset-fashion-mnist), or pass the folder holding {file}"
    )]
    Missing { path: PathBuf, file: String },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error("{images} holds {n_images} images but {labels} holds {n_labels} labels")]
    Count {
        images: PathBuf,
        labels: PathBuf,
        n_images: usize,
        n_labels: usize,
    },
    #[error("Fit::Pad needs size >= 28, got {0}; use Fit::Resize for smaller images")]
    PadTooSmall(usize),
}

/// Reads an idx file (optionally gzipped): `(dims, bytes)`. `magic_type` 0x08 = u8.
pub fn read_idx(path: &Path) -> Result<(Vec<usize>, Vec<u8>), FashionError> {
    let fmt = |message: String| FashionError::Format {
        path: path.to_path_buf(),
        message,
    };
    let raw = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => FashionError::Missing {
            path: path.to_path_buf(),
            file: path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
        },
        _ => fmt(e.to_string()),
    })?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| fmt(format!("gzip: {e}")))?;
        out
    } else {
        raw
    };
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 {
        return Err(fmt(
            "not an idx file of unsigned bytes (magic 0x0000 08 nd)".into(),
        ));
    }
    let nd = bytes[3] as usize;
    let header = 4 + 4 * nd;
    if bytes.len() < header {
        return Err(fmt(format!("header of {nd} dimensions is cut short")));
    }
    let dims: Vec<usize> = (0..nd)
        .map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize)
        .collect();
    let n: usize = dims.iter().product();
    if bytes.len() != header + n {
        return Err(fmt(format!(
            "dims {dims:?} need {n} bytes of data, file has {}",
            bytes.len() - header
        )));
    }
    Ok((dims, bytes[header..].to_vec()))
}

/// Images and labels of one split, in memory (47 MB for train).
pub struct FashionMnist {
    /// `[n, 28, 28]`.
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
}

impl FashionMnist {
    /// Reads `{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz` from `dir`.
    pub fn load(dir: impl AsRef<Path>, split: Split) -> Result<Self, FashionError> {
        let dir = dir.as_ref();
        let p = split.prefix();
        let (ip, lp) = (
            dir.join(format!("{p}-images-idx3-ubyte.gz")),
            dir.join(format!("{p}-labels-idx1-ubyte.gz")),
        );
        let (idims, images) = read_idx(&ip)?;
        let (ldims, labels) = read_idx(&lp)?;
        if idims.len() != 3 || idims[1] != SIDE || idims[2] != SIDE {
            return Err(FashionError::Format {
                path: ip,
                message: format!("expected [n, 28, 28] images, found {idims:?}"),
            });
        }
        if ldims.len() != 1 || ldims[0] != idims[0] {
            return Err(FashionError::Count {
                images: ip,
                labels: lp,
                n_images: idims[0],
                n_labels: ldims.first().copied().unwrap_or(0),
            });
        }
        if let Some(bad) = labels.iter().find(|&&l| l >= 10) {
            return Err(FashionError::Format {
                path: lp,
                message: format!("label {bad} outside 0..10"),
            });
        }
        Ok(Self { images, labels })
    }

    /// From Debian's folder.
    pub fn load_debian(split: Split) -> Result<Self, FashionError> {
        Self::load(DEBIAN_DIR, split)
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn gray(&self, index: usize) -> GrayImage {
        let px = self.images[index * SIDE * SIDE..(index + 1) * SIDE * SIDE].to_vec();
        GrayImage::from_raw(SIDE as u32, SIDE as u32, px).expect("28x28")
    }
}

/// A grey picture and its captions.
#[derive(Clone, Debug)]
pub struct FashionItem {
    pub image: GrayImage,
    /// Class of each object (one, or two in compositional mode, subject first).
    pub labels: Vec<u8>,
    pub captions: Vec<String>,
}

impl CaptionedImage for FashionItem {
    /// Grey replicated to RGB, `[3, S, S]` in [-1, 1].
    fn image_chw(&self) -> (Vec<f32>, [usize; 3]) {
        let (w, h) = (self.image.width() as usize, self.image.height() as usize);
        let grey: Vec<f32> = self
            .image
            .as_raw()
            .iter()
            .map(|&v| v as f32 / 127.5 - 1.0)
            .collect();
        let mut out = Vec::with_capacity(3 * h * w);
        (0..3).for_each(|_| out.extend_from_slice(&grey));
        (out, [3, h, w])
    }
    fn captions(&self) -> &[String] {
        &self.captions
    }
}

fn fit(img: &GrayImage, size: usize, fit: Fit) -> GrayImage {
    match fit {
        Fit::Pad => {
            let mut canvas = GrayImage::from_pixel(size as u32, size as u32, Luma([0]));
            let off = ((size - img.width() as usize) / 2) as i64;
            imageops::overlay(&mut canvas, img, off, off);
            canvas
        }
        Fit::Resize if img.width() as usize == size => img.clone(),
        Fit::Resize => imageops::resize(img, size as u32, size as u32, FilterType::Lanczos3),
    }
}

/// One item per image: `size x size`, captions from [`TEMPLATES`].
pub struct FashionDataset {
    data: Arc<FashionMnist>,
    size: usize,
    fit: Fit,
}

impl FashionDataset {
    pub fn new(data: Arc<FashionMnist>, size: usize, fit: Fit) -> Result<Self, FashionError> {
        if fit == Fit::Pad && size < SIDE {
            return Err(FashionError::PadTooSmall(size));
        }
        Ok(Self { data, size, fit })
    }

    /// The captions of class `label`.
    pub fn captions(label: u8) -> Vec<String> {
        let noun = with_article(CLASS_NAMES[label as usize]);
        TEMPLATES.iter().map(|t| t.replace("{}", &noun)).collect()
    }
}

impl Dataset<FashionItem> for FashionDataset {
    fn get(&self, index: usize) -> Result<FashionItem, DatasetError> {
        let label = self.data.labels[index];
        Ok(FashionItem {
            image: fit(&self.data.gray(index), self.size, self.fit),
            labels: vec![label],
            captions: Self::captions(label),
        })
    }

    fn len(&self) -> usize {
        self.data.len()
    }
}

/// Where the subject sits relative to the other item: the `shapes` grammar's relations.
pub use crate::shapes::vocab::Relation;

/// Fashion-MNIST (Debian's `dataset-fashion-mnist`), captions from templates.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FashionConfig {
    /// Folder with the idx.gz files (default: /usr/share/datasets/fashion-mnist).
    #[serde(default)]
    pub dir: Option<PathBuf>,
    pub image_size: usize,
    pub fit: Fit,
    /// Two items on one canvas with a spatial caption ("a bag left of a sneaker").
    #[serde(default)]
    pub pairs: bool,
    pub seed: u64,
}

/// The word vocabulary of Fashion-MNIST captions (templates, class names, relations).
pub fn vocabulary() -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let texts = TEMPLATES
        .iter()
        .flat_map(|t| {
            CLASS_NAMES
                .iter()
                .map(move |c| t.replace("{}", &with_article(c)))
        })
        .chain(Relation::ALL.iter().map(|r| r.phrase().to_string()));
    for text in texts {
        for w in text.split_whitespace() {
            if !words.iter().any(|x| x == w) {
                words.push(w.to_string());
            }
        }
    }
    words
}

/// Compositional mode: item `i` is two random images (seeded by `seed` and `i`) on a
/// 56x56 canvas (each in its own half, the other half of its column/row empty), fitted to
/// `size`. Captions: "a photo of a sneaker left of a bag" and the inverse phrasing.
pub struct FashionPairs {
    data: Arc<FashionMnist>,
    size: usize,
    len: usize,
    seed: u64,
}

impl FashionPairs {
    pub fn new(data: Arc<FashionMnist>, size: usize, len: usize, seed: u64) -> Self {
        Self {
            data,
            size,
            len,
            seed,
        }
    }

    /// `(subject index, other index, relation)` of item `i`.
    pub fn draw(&self, i: usize) -> (usize, usize, Relation) {
        let mut rng =
            StdRng::seed_from_u64(self.seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let n = self.data.len();
        let a = rng.random_range(0..n);
        let mut b = rng.random_range(0..n);
        // Two different classes keep the caption unambiguous.
        while self.data.labels[b] == self.data.labels[a] {
            b = rng.random_range(0..n);
        }
        (a, b, Relation::ALL[rng.random_range(0..4)])
    }

    /// The 56x56 canvas before fitting.
    pub fn canvas(&self, a: usize, b: usize, rel: Relation) -> GrayImage {
        let mut canvas = GrayImage::new(2 * SIDE as u32, 2 * SIDE as u32);
        let s = SIDE as i64;
        let (pa, pb) = match rel {
            Relation::LeftOf => ((0, s / 2), (s, s / 2)),
            Relation::RightOf => ((s, s / 2), (0, s / 2)),
            Relation::Above => ((s / 2, 0), (s / 2, s)),
            Relation::Below => ((s / 2, s), (s / 2, 0)),
        };
        imageops::overlay(&mut canvas, &self.data.gray(a), pa.0, pa.1);
        imageops::overlay(&mut canvas, &self.data.gray(b), pb.0, pb.1);
        canvas
    }
}

impl Dataset<FashionItem> for FashionPairs {
    fn get(&self, index: usize) -> Result<FashionItem, DatasetError> {
        let (a, b, rel) = self.draw(index);
        let (la, lb) = (self.data.labels[a], self.data.labels[b]);
        let (na, nb) = (
            with_article(CLASS_NAMES[la as usize]),
            with_article(CLASS_NAMES[lb as usize]),
        );
        Ok(FashionItem {
            image: fit(&self.canvas(a, b, rel), self.size, Fit::Resize),
            labels: vec![la, lb],
            captions: vec![
                format!("a photo of {na} {} {nb}", rel.phrase()),
                format!("a photo of {nb} {} {na}", rel.inverse().phrase()),
            ],
        })
    }

    fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn articles_and_templates() {
        assert_eq!(with_article("ankle boot"), "an ankle boot");
        assert_eq!(with_article("bag"), "a bag");
        assert_eq!(FashionDataset::captions(9)[0], "a photo of an ankle boot");
        assert_eq!(FashionDataset::captions(1)[2], "a pair of trousers");
    }
}
