//! Image degradations for robustness checks of the scorer (and of anything else that
//! reads images): Gaussian pixel noise, Gaussian blur, colour bleed, dimming, and pure
//! noise images. Deterministic given the RNG.

use image::RgbImage;
use rand::Rng;
use rand_distr::{Distribution, Normal};

/// Adds i.i.d. Gaussian noise of standard deviation `sigma` (in 0-255 units) to every
/// channel, then rounds and clips.
pub fn gaussian_noise(img: &RgbImage, sigma: f32, rng: &mut impl Rng) -> RgbImage {
    let normal = Normal::new(0.0f32, sigma.max(0.0)).expect("sigma >= 0 is finite");
    let mut out = img.clone();
    for v in out.iter_mut() {
        *v = (*v as f32 + normal.sample(rng)).round().clamp(0.0, 255.0) as u8;
    }
    out
}

/// Separable Gaussian blur with standard deviation `sigma` px (kernel radius
/// `ceil(3 sigma)`, edges clamped).
pub fn gaussian_blur(img: &RgbImage, sigma: f32) -> RgbImage {
    if sigma <= 0.0 {
        return img.clone();
    }
    let radius = (3.0 * sigma).ceil() as i64;
    let mut kernel: Vec<f32> = (-radius..=radius)
        .map(|d| (-(d * d) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = kernel.iter().sum();
    kernel.iter_mut().for_each(|k| *k /= total);
    let (w, h) = (img.width() as i64, img.height() as i64);
    let src: Vec<f32> = img.iter().map(|&v| v as f32).collect();
    let pass = |src: &[f32], horizontal: bool| {
        let mut dst = vec![0f32; src.len()];
        for y in 0..h {
            for x in 0..w {
                for c in 0..3 {
                    let mut acc = 0.0;
                    for (i, k) in kernel.iter().enumerate() {
                        let d = i as i64 - radius;
                        let (sx, sy) = if horizontal {
                            ((x + d).clamp(0, w - 1), y)
                        } else {
                            (x, (y + d).clamp(0, h - 1))
                        };
                        acc += k * src[((sy * w + sx) * 3 + c) as usize];
                    }
                    dst[((y * w + x) * 3 + c) as usize] = acc;
                }
            }
        }
        dst
    };
    let out = pass(&pass(&src, true), false);
    let raw = out
        .iter()
        .map(|v| v.round().clamp(0.0, 255.0) as u8)
        .collect();
    RgbImage::from_raw(img.width(), img.height(), raw).expect("same size")
}

/// Colour bleed: moves every channel a fraction `amount` towards the pixel's mean
/// (`amount = 0` unchanged, `1` grey).
pub fn desaturate(img: &RgbImage, amount: f32) -> RgbImage {
    let mut out = img.clone();
    for px in out.pixels_mut() {
        let mean = px.0.iter().map(|&v| v as f32).sum::<f32>() / 3.0;
        for v in px.0.iter_mut() {
            *v = ((1.0 - amount) * *v as f32 + amount * mean)
                .round()
                .clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// Multiplies every channel by `factor` (a dimmer, lower-contrast render).
pub fn dim(img: &RgbImage, factor: f32) -> RgbImage {
    let mut out = img.clone();
    for v in out.iter_mut() {
        *v = (*v as f32 * factor).round().clamp(0.0, 255.0) as u8;
    }
    out
}

/// Uniform random pixels.
pub fn uniform_noise_image(width: u32, height: u32, rng: &mut impl Rng) -> RgbImage {
    let raw = (0..width * height * 3)
        .map(|_| rng.random::<u8>())
        .collect();
    RgbImage::from_raw(width, height, raw).expect("w * h * 3 bytes")
}

/// Smooth random colour blobs: uniform noise blurred with `sigma` px and its contrast
/// stretched back to the full 0-255 range (what an untrained diffusion model tends to
/// emit, and the hardest kind of noise for a blob detector).
pub fn smooth_noise_image(width: u32, height: u32, sigma: f32, rng: &mut impl Rng) -> RgbImage {
    let blurred = gaussian_blur(&uniform_noise_image(width, height, rng), sigma);
    let (lo, hi) = blurred
        .iter()
        .fold((255u8, 0u8), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let span = (hi.saturating_sub(lo)).max(1) as f32;
    let raw = blurred
        .iter()
        .map(|&v| ((v - lo) as f32 * 255.0 / span).round() as u8)
        .collect();
    RgbImage::from_raw(width, height, raw).expect("same size")
}

#[cfg(test)]
mod tests {
    use image::Rgb;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn blur_preserves_mass_and_spreads_edges() {
        let mut img = RgbImage::new(9, 9);
        img.put_pixel(4, 4, Rgb([255, 0, 0]));
        let b = gaussian_blur(&img, 1.0);
        let total: u32 = b.pixels().map(|p| p.0[0] as u32).sum();
        assert!((total as i32 - 255).abs() < 12, "{total}");
        assert!(b.get_pixel(4, 4).0[0] < 100 && b.get_pixel(5, 4).0[0] > 10);
        assert_eq!(b.get_pixel(4, 4).0[1], 0);
    }

    #[test]
    fn noise_has_the_requested_spread() {
        let img = RgbImage::from_pixel(32, 32, Rgb([128, 128, 128]));
        let n = gaussian_noise(&img, 20.0, &mut StdRng::seed_from_u64(0));
        let var = n.iter().map(|&v| (v as f32 - 128.0).powi(2)).sum::<f32>() / (32.0 * 32.0 * 3.0);
        assert!((var.sqrt() - 20.0).abs() < 1.5, "{}", var.sqrt());
        assert_eq!(desaturate(&img, 0.5), img);
        assert_eq!(dim(&img, 0.5).get_pixel(0, 0).0, [64, 64, 64]);
        let s = smooth_noise_image(16, 16, 1.5, &mut StdRng::seed_from_u64(1));
        assert_eq!(s.iter().min(), Some(&0));
        assert_eq!(s.iter().max(), Some(&255));
    }
}
