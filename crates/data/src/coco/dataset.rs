//! The MS-COCO image folder plus its captions file as a burn `Dataset`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::data::dataset::{Dataset, DatasetError};
use image::RgbImage;

use super::captions::{CocoCaptions, CocoEntry};
use super::preprocess::{COCO_IMAGE_SIZE, center_crop_resize, read_rgb};
use super::{BadImagePolicy, CocoError};
use crate::batch::{CaptionedImage, rgb_to_chw};

/// How to open MS-COCO.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CocoOptions {
    /// Side of the square images (256 in SPEC section 5).
    pub image_size: u32,
    /// An image listed in the captions file whose file is absent.
    pub on_missing: BadImagePolicy,
    /// An image file that cannot be decoded (corrupt, truncated).
    pub on_bad: BadImagePolicy,
    /// Keep only the first `limit` captioned images (file order).
    pub limit: Option<usize>,
}

impl Default for CocoOptions {
    fn default() -> Self {
        Self {
            image_size: COCO_IMAGE_SIZE,
            on_missing: BadImagePolicy::Error,
            on_bad: BadImagePolicy::Error,
            limit: None,
        }
    }
}

/// One preprocessed image with all its captions.
#[derive(Clone, Debug)]
pub struct CocoItem {
    pub id: u64,
    /// `image_size x image_size` RGB.
    pub image: RgbImage,
    pub captions: Vec<String>,
}

impl CaptionedImage for CocoItem {
    fn image_chw(&self) -> (Vec<f32>, [usize; 3]) {
        rgb_to_chw(&self.image)
    }
    fn captions(&self) -> &[String] {
        &self.captions
    }
}

/// Images of a COCO split that have at least one caption and (unless skipped) a file.
pub struct CocoDataset {
    images_dir: PathBuf,
    captions_file: PathBuf,
    entries: Vec<CocoEntry>,
    options: CocoOptions,
    /// Listed images whose file was absent, left out under `on_missing = skip`.
    pub missing: Vec<(u64, PathBuf)>,
    /// Images skipped by `Dataset::get` because they could not be decoded.
    bad_seen: AtomicUsize,
}

impl CocoDataset {
    /// Reads the captions file and checks that every listed image file exists.
    pub fn open(
        images_dir: impl AsRef<Path>,
        captions_file: impl AsRef<Path>,
        options: CocoOptions,
    ) -> Result<Self, CocoError> {
        let images_dir = images_dir.as_ref();
        if !images_dir.is_dir() {
            return Err(CocoError::NoImageDir {
                dir: images_dir.to_path_buf(),
            });
        }
        let captions = CocoCaptions::from_file(captions_file)?;
        Self::from_captions(images_dir, captions, options)
    }

    pub fn from_captions(
        images_dir: &Path,
        captions: CocoCaptions,
        options: CocoOptions,
    ) -> Result<Self, CocoError> {
        let mut entries = captions.entries;
        if let Some(n) = options.limit {
            entries.truncate(n);
        }
        let mut missing = Vec::new();
        let mut kept = Vec::with_capacity(entries.len());
        for e in entries {
            let path = images_dir.join(&e.file_name);
            if path.is_file() {
                kept.push(e);
            } else if options.on_missing == BadImagePolicy::Skip {
                missing.push((e.id, path));
            } else {
                return Err(CocoError::MissingImage { id: e.id, path });
            }
        }
        if kept.is_empty() {
            return Err(CocoError::Empty {
                path: captions.path.clone(),
            });
        }
        Ok(Self {
            images_dir: images_dir.to_path_buf(),
            captions_file: captions.path,
            entries: kept,
            options,
            missing,
            bad_seen: AtomicUsize::new(0),
        })
    }

    pub fn images_dir(&self) -> &Path {
        &self.images_dir
    }

    pub fn captions_file(&self) -> &Path {
        &self.captions_file
    }

    pub fn entries(&self) -> &[CocoEntry] {
        &self.entries
    }

    pub fn options(&self) -> &CocoOptions {
        &self.options
    }

    pub fn image_path(&self, index: usize) -> PathBuf {
        self.images_dir.join(&self.entries[index].file_name)
    }

    /// Decodes and preprocesses image `index`: an unreadable file is an error naming it,
    /// whatever `on_bad` says (callers that skip, like `prepare`, count it themselves).
    pub fn load(&self, index: usize) -> Result<CocoItem, CocoError> {
        let e = &self.entries[index];
        let img = read_rgb(&self.image_path(index))?;
        Ok(CocoItem {
            id: e.id,
            image: center_crop_resize(&img, self.options.image_size),
            captions: e.captions.clone(),
        })
    }

    /// Unreadable images met so far by [`Dataset::get`] under `on_bad = skip`.
    pub fn bad_images_seen(&self) -> usize {
        self.bad_seen.load(Ordering::Relaxed)
    }
}

impl Dataset<CocoItem> for CocoDataset {
    /// Under `on_bad = skip` an unreadable image is replaced by the next readable one (and
    /// counted in [`bad_images_seen`](Self::bad_images_seen)); under `on_bad = error` it is
    /// an error naming the file. Panics if `index >= len()` (burn's convention).
    fn get(&self, index: usize) -> Result<CocoItem, DatasetError> {
        let n = self.entries.len();
        assert!(index < n, "index {index} out of range for {n} COCO images");
        let mut first_err = None;
        for k in 0..n {
            match self.load((index + k) % n) {
                Ok(item) => return Ok(item),
                Err(e) if self.options.on_bad == BadImagePolicy::Error => {
                    return Err(DatasetError::new(e));
                }
                Err(e) => {
                    self.bad_seen.fetch_add(1, Ordering::Relaxed);
                    first_err.get_or_insert(e);
                }
            }
        }
        Err(DatasetError::new(first_err.expect("n > 0")))
    }

    fn len(&self) -> usize {
        self.entries.len()
    }
}
