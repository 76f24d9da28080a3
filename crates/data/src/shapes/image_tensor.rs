//! RGB images <-> model tensors: `[B, 3, H, W]` floats in [-1, 1].

use burn::tensor::{Device, Tensor, TensorData};
use image::RgbImage;

/// Why images and a tensor could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageTensorError {
    #[error("no images to batch")]
    Empty,
    #[error("image {index} is {got_w}x{got_h} but image 0 is {w}x{h}; a batch needs one size")]
    SizeMismatch {
        index: usize,
        w: u32,
        h: u32,
        got_w: u32,
        got_h: u32,
    },
    #[error("expected a [batch, 3, height, width] tensor, got shape {0:?}")]
    BadShape(Vec<usize>),
    #[error("cannot read the tensor back from the device: {0}")]
    Read(String),
}

/// `images` (all one size) -> `[B, 3, H, W]`, `v / 127.5 - 1`.
pub fn images_to_tensor(
    images: &[RgbImage],
    device: &Device,
) -> Result<Tensor<4>, ImageTensorError> {
    let first = images.first().ok_or(ImageTensorError::Empty)?;
    let (w, h) = first.dimensions();
    let plane = (w * h) as usize;
    let mut data = vec![0f32; images.len() * 3 * plane];
    for (index, img) in images.iter().enumerate() {
        if img.dimensions() != (w, h) {
            let (got_w, got_h) = img.dimensions();
            return Err(ImageTensorError::SizeMismatch {
                index,
                w,
                h,
                got_w,
                got_h,
            });
        }
        // HWC u8 -> CHW f32.
        let out = &mut data[index * 3 * plane..(index + 1) * 3 * plane];
        for (p, px) in img.as_raw().chunks_exact(3).enumerate() {
            for c in 0..3 {
                out[c * plane + p] = px[c] as f32 / 127.5 - 1.0;
            }
        }
    }
    let shape = [images.len(), 3, h as usize, w as usize];
    Ok(Tensor::from_data(TensorData::new(data, shape), device))
}

/// `[B, 3, H, W]` in [-1, 1] (values outside are clipped) -> `B` images,
/// `round((v + 1) * 127.5)`.
pub fn tensor_to_images(t: Tensor<4>) -> Result<Vec<RgbImage>, ImageTensorError> {
    let [b, c, h, w] = t.dims();
    if c != 3 || h == 0 || w == 0 {
        return Err(ImageTensorError::BadShape(vec![b, c, h, w]));
    }
    let values = t
        .into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| ImageTensorError::Read(format!("{e:?}")))?;
    let plane = h * w;
    Ok(values
        .chunks_exact(3 * plane)
        .map(|chw| {
            let mut raw = vec![0u8; 3 * plane];
            for p in 0..plane {
                for ch in 0..3 {
                    let v = chw[ch * plane + p];
                    // NaN maps to 0 (black) through `as u8`.
                    raw[3 * p + ch] = ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8;
                }
            }
            RgbImage::from_raw(w as u32, h as u32, raw).expect("buffer is w * h * 3")
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use image::Rgb;

    use super::*;

    #[test]
    fn round_trip_and_layout() {
        let device = Device::flex();
        let mut a = RgbImage::new(3, 2);
        a.put_pixel(2, 1, Rgb([255, 0, 128]));
        let b = RgbImage::from_pixel(3, 2, Rgb([0, 255, 255]));
        let t = images_to_tensor(&[a.clone(), b.clone()], &device).unwrap();
        assert_eq!(t.dims(), [2, 3, 2, 3]);
        let v = t.clone().into_data().try_into_vec::<f32>().unwrap();
        // Image 0, channel 0 (R), row 1, column 2 is 255 -> 1.0; channel 2 there is 128.
        assert_eq!(v[5], 1.0);
        assert!((v[2 * 6 + 5] - (128.0 / 127.5 - 1.0)).abs() < 1e-6);
        assert_eq!(v[0], -1.0);
        assert_eq!(tensor_to_images(t).unwrap(), vec![a, b]);
    }

    #[test]
    fn clips_out_of_range_and_rejects_bad_shapes() {
        let device = Device::flex();
        let t = Tensor::<4>::from_data(
            TensorData::new(vec![-3.0f32, 0.0, 2.0], [1, 3, 1, 1]),
            &device,
        );
        assert_eq!(
            tensor_to_images(t).unwrap()[0].get_pixel(0, 0).0,
            [0, 128, 255]
        );
        let t = Tensor::<4>::zeros([1, 1, 2, 2], &device);
        assert_eq!(
            tensor_to_images(t),
            Err(ImageTensorError::BadShape(vec![1, 1, 2, 2]))
        );
        assert_eq!(
            images_to_tensor(&[], &device).unwrap_err(),
            ImageTensorError::Empty
        );
        let e = images_to_tensor(&[RgbImage::new(2, 2), RgbImage::new(3, 2)], &device);
        assert!(matches!(
            e,
            Err(ImageTensorError::SizeMismatch { index: 1, .. })
        ));
    }
}
