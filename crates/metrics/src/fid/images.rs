//! Image folders -> Inception pool3 features, streamed batch by batch.
//!
//! Defined behaviour (docs/metrics.md): files are taken in sorted order by extension
//! ([`IMAGE_EXTENSIONS`], as pytorch-fid), other files are ignored; every image must have
//! the first image's size (unless `allow_mixed_sizes`) because a folder of mixed sizes
//! usually mixes runs or resolutions; an unreadable file stops the run with its path.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use ifvit_encoders::inception::{FEATURE_DIM, InceptionV3, ResizeMode};

use super::error::FidError;

/// Extensions taken from a folder (pytorch-fid's list); only PNG decodes in this build.
pub const IMAGE_EXTENSIONS: &[&str] = &[
    "bmp", "jpg", "jpeg", "pgm", "png", "ppm", "tif", "tiff", "webp",
];

/// How features are computed from a folder.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureConfig {
    pub batch_size: usize,
    pub resize: ResizeMode,
    pub allow_mixed_sizes: bool,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        Self {
            batch_size: 32,
            resize: ResizeMode::HalfPixel,
            allow_mixed_sizes: false,
        }
    }
}

/// Image files of `dir`, sorted; an error when there are none.
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>, FidError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| FidError::file(dir, format!("cannot list the image folder: {e}")))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(FidError::file(
            dir,
            format!(
                "no image files ({}) in the folder",
                IMAGE_EXTENSIONS.join(", ")
            ),
        ));
    }
    Ok(files)
}

/// The files of a folder and their common size (`None` when sizes are mixed).
pub type FolderCheck = (Vec<PathBuf>, Option<(u32, u32)>);

/// Checks a folder before any network runs, from the image headers only: lists it, and
/// checks that every file is a readable image of the first image's size (unless
/// `allow_mixed_sizes`). Returns the files and the common size (`None` when mixed).
pub fn preflight_folder(dir: &Path, allow_mixed_sizes: bool) -> Result<FolderCheck, FidError> {
    let files = list_images(dir)?;
    let mut first: Option<(u32, u32)> = None;
    let mut mixed = false;
    for f in &files {
        let (w, h) = image::image_dimensions(f)
            .map_err(|e| FidError::file(f, format!("cannot read the image ({e}); this build decodes PNG: convert the file or remove it from the folder")))?;
        match first {
            None => first = Some((w, h)),
            Some((w0, h0)) if (w0, h0) != (w, h) => {
                if !allow_mixed_sizes {
                    return Err(FidError::file(
                        f,
                        format!(
                            "image is {w}x{h} but {} is {w0}x{h0}: the folder mixes sizes; resize the images to one size, split the folder, or pass --allow-mixed-sizes (each image is then resized to 299 on its own)",
                            files[0].display()
                        ),
                    ));
                }
                mixed = true;
            }
            _ => {}
        }
    }
    Ok((files, if mixed { None } else { first }))
}

/// Receives each batch's features `[B, 2048]` (row-major) and the files they came from.
pub type FeatureSink<'a> = dyn FnMut(&[f32], &[PathBuf]) -> Result<(), FidError> + 'a;

/// Runs the Inception over the folder's images in batches; `sink` gets each batch's
/// features `[B, 2048]` (row-major) with the files they came from; `progress(done, total)`.
pub fn stream_folder_features(
    model: &InceptionV3,
    dir: &Path,
    cfg: &FeatureConfig,
    device: &Device,
    sink: &mut FeatureSink,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<usize, FidError> {
    let files = list_images(dir)?;
    let total = files.len();
    let mut first: Option<FirstImage> = None;
    for (k, chunk) in files.chunks(cfg.batch_size.max(1)).enumerate() {
        let images = decode_checked(chunk, cfg.allow_mixed_sizes, &mut first)?;
        let feats = model.features(&images, cfg.resize, device); // [B, 2048]
        let feats = feats
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| FidError::invalid("Inception output", format!("{e:?}")))?;
        debug_assert_eq!(feats.len(), chunk.len() * FEATURE_DIM);
        sink(&feats, chunk)?;
        progress((k * cfg.batch_size.max(1) + chunk.len()).min(total), total);
    }
    Ok(total)
}

/// Size and path of a folder's first image, which the others must match.
type FirstImage = (u32, u32, PathBuf);

/// Decodes `files` as RGB, checking each size against the folder's first image.
pub fn decode_checked(
    files: &[PathBuf],
    allow_mixed_sizes: bool,
    first: &mut Option<FirstImage>,
) -> Result<Vec<image::RgbImage>, FidError> {
    let mut images = Vec::with_capacity(files.len());
    for f in files {
        let img = image::open(f)
            .map_err(|e| FidError::file(f, format!("cannot read the image ({e}); this build decodes PNG: convert the file or remove it from the folder")))?
            .to_rgb8();
        match first {
            None => *first = Some((img.width(), img.height(), f.clone())),
            Some((w, h, path)) if !allow_mixed_sizes && (*w, *h) != (img.width(), img.height()) => {
                return Err(FidError::file(
                    f,
                    format!(
                        "image is {}x{} but {} is {w}x{h}: the folder mixes sizes; resize the images to one size, split the folder, or pass --allow-mixed-sizes (each image is then resized to 299 on its own)",
                        img.width(),
                        img.height(),
                        path.display()
                    ),
                ));
            }
            _ => {}
        }
        images.push(img);
    }
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(dir: &Path, name: &str, w: u32, h: u32) {
        image::RgbImage::new(w, h).save(dir.join(name)).unwrap();
    }

    #[test]
    fn listing_is_sorted_skips_non_images_and_rejects_empty_folders() {
        let dir = tempfile::tempdir().unwrap();
        let err = list_images(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no image files"), "{err}");
        png(dir.path(), "b.png", 4, 4);
        png(dir.path(), "a.PNG", 4, 4);
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        let names: Vec<String> = list_images(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.PNG", "b.png"]);
    }

    #[test]
    fn mixed_sizes_are_an_error_naming_both_files_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        png(dir.path(), "a.png", 8, 8);
        png(dir.path(), "b.png", 8, 6);
        let files = list_images(dir.path()).unwrap();
        let err = decode_checked(&files, false, &mut None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("b.png")
                && err.contains("a.png")
                && err.contains("8x6")
                && err.contains("--allow-mixed-sizes"),
            "{err}"
        );
        assert_eq!(decode_checked(&files, true, &mut None).unwrap().len(), 2);
    }

    #[test]
    fn preflight_reports_size_and_rejects_mixed_or_broken_folders() {
        let dir = tempfile::tempdir().unwrap();
        png(dir.path(), "a.png", 8, 8);
        png(dir.path(), "c.png", 8, 8);
        let (files, size) = preflight_folder(dir.path(), false).unwrap();
        assert_eq!((files.len(), size), (2, Some((8, 8))));
        png(dir.path(), "b.png", 5, 8);
        let err = preflight_folder(dir.path(), false).unwrap_err().to_string();
        assert!(
            err.contains("b.png") && err.contains("5x8") && err.contains("a.png"),
            "{err}"
        );
        assert_eq!(preflight_folder(dir.path(), true).unwrap().1, None);
        std::fs::write(dir.path().join("d.png"), b"junk").unwrap();
        let err = preflight_folder(dir.path(), true).unwrap_err().to_string();
        assert!(
            err.contains("d.png") && err.contains("cannot read"),
            "{err}"
        );
    }

    #[test]
    fn an_unreadable_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        png(dir.path(), "a.png", 8, 8);
        std::fs::write(dir.path().join("broken.png"), b"not a png").unwrap();
        let files = list_images(dir.path()).unwrap();
        let err = decode_checked(&files, false, &mut None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("broken.png") && err.contains("cannot read the image"),
            "{err}"
        );
    }
}
