//! CLIP image preprocessing, as transformers' `CLIPImageProcessor` (PIL backend) and OpenAI's
//! `clip.load` transform do it: resize the shortest side to `S` with PIL's bicubic filter
//! (antialiased when shrinking, 8-bit intermediate), centre crop `S x S`, scale to [0, 1],
//! normalise with the CLIP mean and std. `S` is the vision config's `image_size` (224).
//!
//! The resampler reproduces Pillow's `ImagingResample` (`Resample.c`: bicubic a = -0.5,
//! support scaled by the shrink factor, 22-bit fixed-point coefficients, horizontal pass then
//! vertical pass, each rounded and clipped to 8 bits), so the pixels equal PIL's.
//!
//! Crop offset: `(size - S) / 2` rounded down, as transformers. (torchvision's `CenterCrop`,
//! used by OpenAI's reference, rounds half to even instead: on an odd difference its crop
//! can sit one pixel further right/down.)

use burn::tensor::{Device, Tensor, TensorData};

/// CLIP's per-channel mean (RGB), in [0, 1] units (the published digits, rounded to f32).
#[allow(clippy::excessive_precision)]
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// CLIP's per-channel std (RGB).
#[allow(clippy::excessive_precision)]
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

/// An 8-bit RGB image, row-major, 3 bytes per pixel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rgb8 {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

impl Rgb8 {
    pub fn new(width: usize, height: usize, pixels: Vec<u8>) -> Self {
        assert_eq!(pixels.len(), width * height * 3, "RGB buffer size");
        Self {
            width,
            height,
            pixels,
        }
    }
}

/// Generated images `[B, 3, H, W]` in [-1, 1] -> 8-bit RGB, as U-ViT saves its samples:
/// `(x + 1) / 2` clamped to [0, 1], then torchvision `save_image`'s `floor(255 v + 0.5)`.
pub fn images_from_tensor(x: Tensor<4>) -> Vec<Rgb8> {
    let [b, c, h, w] = x.dims();
    assert_eq!(c, 3, "RGB images expected, got {c} channels");
    let v = x
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 data");
    (0..b)
        .map(|i| {
            let img = &v[i * 3 * h * w..(i + 1) * 3 * h * w];
            let mut px = Vec::with_capacity(h * w * 3);
            for p in 0..h * w {
                for ch in 0..3 {
                    let u = ((img[ch * h * w + p] + 1.0) / 2.0).clamp(0.0, 1.0);
                    px.push((u * 255.0 + 0.5).floor().min(255.0) as u8);
                }
            }
            Rgb8::new(w, h, px)
        })
        .collect()
}

const PRECISION_BITS: u32 = 32 - 8 - 2;

fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// Per output pixel: first input index, fixed-point weights.
fn coefficients(in_size: usize, out_size: usize) -> Vec<(usize, Vec<i64>)> {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = 2.0 * filterscale;
    let ss = 1.0 / filterscale;
    (0..out_size)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            // C's (int) cast truncates toward zero; negatives clamp to 0 either way.
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let w: Vec<f64> = (xmin..xmax)
                .map(|x| bicubic((x as f64 - center + 0.5) * ss))
                .collect();
            let sum: f64 = w.iter().sum();
            let k = w
                .iter()
                .map(|v| {
                    let v = if sum != 0.0 { v / sum } else { *v };
                    let f = v * (1u64 << PRECISION_BITS) as f64;
                    (if v < 0.0 { f - 0.5 } else { f + 0.5 }) as i64
                })
                .collect();
            (xmin, k)
        })
        .collect()
}

fn clip8(acc: i64) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// One resampling pass along x (`horizontal`) or y, on an RGB buffer.
fn pass(img: &Rgb8, out_len: usize, horizontal: bool) -> Rgb8 {
    let (ow, oh) = if horizontal {
        (out_len, img.height)
    } else {
        (img.width, out_len)
    };
    let coeffs = coefficients(if horizontal { img.width } else { img.height }, out_len);
    let mut out = vec![0u8; ow * oh * 3];
    for y in 0..oh {
        for x in 0..ow {
            let (start, k) = &coeffs[if horizontal { x } else { y }];
            let mut acc = [1i64 << (PRECISION_BITS - 1); 3];
            for (i, &kk) in k.iter().enumerate() {
                let (sx, sy) = if horizontal {
                    (start + i, y)
                } else {
                    (x, start + i)
                };
                let p = (sy * img.width + sx) * 3;
                for (a, &v) in acc.iter_mut().zip(&img.pixels[p..p + 3]) {
                    *a += v as i64 * kk;
                }
            }
            let o = (y * ow + x) * 3;
            for (v, a) in out[o..o + 3].iter_mut().zip(acc) {
                *v = clip8(a);
            }
        }
    }
    Rgb8::new(ow, oh, out)
}

/// PIL's `Image.resize((width, height), Image.BICUBIC)` on an RGB image.
pub fn resize_bicubic(img: &Rgb8, width: usize, height: usize) -> Rgb8 {
    let mut out = img.clone();
    if width != img.width {
        out = pass(&out, width, true);
    }
    if height != img.height {
        out = pass(&out, height, false);
    }
    out
}

/// Output size of "resize the shortest side to `size`" (transformers
/// `get_resize_output_image_size(default_to_square=False)`: the long side truncated).
pub fn shortest_side_size(width: usize, height: usize, size: usize) -> (usize, usize) {
    let (short, long) = (width.min(height), width.max(height));
    let new_long = (size as f64 * long as f64 / short as f64) as usize;
    if width <= height {
        (size, new_long)
    } else {
        (new_long, size)
    }
}

/// Resize + centre crop to `size x size` (8-bit).
pub fn resize_and_crop(img: &Rgb8, size: usize) -> Rgb8 {
    let (w, h) = shortest_side_size(img.width, img.height, size);
    let r = resize_bicubic(img, w, h);
    let (top, left) = ((h - size) / 2, (w - size) / 2);
    let mut out = Vec::with_capacity(size * size * 3);
    for y in top..top + size {
        let row = (y * w + left) * 3;
        out.extend_from_slice(&r.pixels[row..row + size * 3]);
    }
    Rgb8::new(size, size, out)
}

/// Images -> CLIP pixel values `[B, 3, size, size]`.
pub fn preprocess(images: &[Rgb8], size: usize, device: &Device) -> Tensor<4> {
    let mut data = Vec::with_capacity(images.len() * 3 * size * size);
    for img in images {
        let c = resize_and_crop(img, size);
        for ch in 0..3 {
            data.extend(
                c.pixels
                    .chunks_exact(3)
                    .map(|p| (p[ch] as f32 / 255.0 - CLIP_MEAN[ch]) / CLIP_STD[ch]),
            );
        }
    }
    Tensor::from_data(TensorData::new(data, [images.len(), 3, size, size]), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensors_become_bytes_like_save_image() {
        let device = Device::flex();
        // pixel (0,0) RGB = -1, 1, 0; pixel (0,1) RGB = 2 (clamped), -3 (clamped), 0.5
        let x = Tensor::<4>::from_data(
            TensorData::new(vec![-1.0f32, 2.0, 1.0, -3.0, 0.0, 0.5], [1, 3, 1, 2]),
            &device,
        );
        let imgs = images_from_tensor(x);
        assert_eq!((imgs[0].width, imgs[0].height), (2, 1));
        // 0.5 -> 127.5 + 0.5 -> 128; 0.75 -> 191.25 + 0.5 -> 191
        assert_eq!(imgs[0].pixels, vec![0, 255, 128, 255, 0, 191]);
    }

    #[test]
    fn shortest_side_truncates_the_long_side() {
        assert_eq!(shortest_side_size(640, 480, 224), (298, 224)); // 224 * 640 / 480 = 298.67
        assert_eq!(shortest_side_size(75, 90, 56), (56, 67)); // 67.2
        assert_eq!(shortest_side_size(50, 50, 56), (56, 56));
    }

    #[test]
    fn constant_image_stays_constant_and_identity_is_a_copy() {
        let img = Rgb8::new(7, 5, [10u8, 200, 77].repeat(35));
        let r = resize_bicubic(&img, 3, 11);
        assert!(r.pixels.chunks(3).all(|p| p == [10, 200, 77]));
        let noisy = Rgb8::new(4, 3, (0..36).map(|i| (i * 37 % 256) as u8).collect());
        assert_eq!(resize_bicubic(&noisy, 4, 3), noisy);
    }
}
