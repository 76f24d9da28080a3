//! SPEC section 5 image preprocessing, as U-ViT's `center_crop`: centre square crop,
//! Lanczos resize, then [0, 255] -> [-1, 1].

use std::path::Path;

use image::imageops::{self, FilterType};
use image::{ImageFormat, RgbImage};

use super::CocoError;

/// MS-COCO training resolution (256x256 pixels -> 32x32 SD latents).
pub const COCO_IMAGE_SIZE: u32 = 256;

/// Crop the centred `min(w, h)` square (offset `(w - side) / 2`, rounded down, as numpy
/// slicing does) and resize it to `size x size` with Lanczos-3 (PIL's `Image.LANCZOS`).
pub fn center_crop_resize(img: &RgbImage, size: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let side = w.min(h);
    let crop = imageops::crop_imm(img, (w - side) / 2, (h - side) / 2, side, side).to_image();
    if side == size {
        return crop;
    }
    imageops::resize(&crop, size, size, FilterType::Lanczos3)
}

/// Decodes any supported file (JPEG, PNG) to RGB (grey and CMYK JPEGs are converted, as
/// PIL's `.convert("RGB")`). A corrupt file is an error naming it; so is a JPEG without its
/// end-of-image marker (a truncated download), which the decoder would otherwise fill
/// with grey where PIL raises "image file is truncated".
pub fn read_rgb(path: &Path) -> Result<RgbImage, CocoError> {
    let bad = |message: String| CocoError::BadImage {
        path: path.to_path_buf(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let format = image::guess_format(&bytes).map_err(|e| bad(e.to_string()))?;
    if format == ImageFormat::Jpeg && !ends_with_eoi(&bytes) {
        return Err(bad("truncated JPEG: no end-of-image marker".into()));
    }
    let img =
        image::load_from_memory_with_format(&bytes, format).map_err(|e| bad(e.to_string()))?;
    Ok(img.to_rgb8())
}

/// A JPEG ends with `FF D9`, possibly followed by zero or white-space padding.
fn ends_with_eoi(bytes: &[u8]) -> bool {
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, 0 | b' ' | b'\n' | b'\r' | b'\t'))
        .map_or(0, |i| i + 1);
    bytes[..end].ends_with(&[0xFF, 0xD9])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_is_centred_with_floor_offset() {
        // 5x2 image whose pixel value is its column: the crop keeps columns 1 and 2.
        let img = RgbImage::from_fn(5, 2, |x, _| image::Rgb([x as u8, 0, 0]));
        let out = center_crop_resize(&img, 2);
        assert_eq!(out.dimensions(), (2, 2));
        assert_eq!((out.get_pixel(0, 0)[0], out.get_pixel(1, 1)[0]), (1, 2));
    }

    #[test]
    fn eoi_check_allows_padding_only() {
        assert!(ends_with_eoi(&[0xFF, 0xD8, 1, 2, 0xFF, 0xD9]));
        assert!(ends_with_eoi(&[0xFF, 0xD8, 0xFF, 0xD9, 0, 0, b'\n']));
        assert!(!ends_with_eoi(&[0xFF, 0xD8, 1, 2, 3]));
        assert!(!ends_with_eoi(&[]));
    }
}
