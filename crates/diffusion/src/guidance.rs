//! Classifier-free guidance in one batched forward per step.
//!
//! We expose the scale `w` of `out = out_u + w (out_c - out_u)`: `w = 1` is the conditional
//! model alone, `w = 0` the unconditional one. U-ViT writes the same thing as
//! `out_c + s (out_c - out_u)`, so `s = w - 1` (SPEC samples with `s = 1`, i.e. `w = 2`).
//! The combination is affine with weights summing to one, so it is the same whether the
//! network predicts epsilon, x0 or v (see `prediction.rs`).

use burn::tensor::Tensor;

use crate::error::DiffusionError;

/// U-ViT's scale `s` as our `w`: `w = s + 1`.
pub fn w_from_uvit_scale(s: f64) -> f64 {
    s + 1.0
}

/// Our `w` as U-ViT's scale `s`: `s = w - 1`.
pub fn uvit_scale_from_w(w: f64) -> f64 {
    w - 1.0
}

/// Checks that a guidance scale is a finite number.
pub fn check_guidance(w: f64) -> Result<f64, DiffusionError> {
    if w.is_finite() {
        Ok(w)
    } else {
        Err(DiffusionError::BadGuidance { value: w })
    }
}

/// `out_u + w (out_c - out_u)` for separately computed outputs.
pub fn combine(w: f64, out_c: Tensor<4>, out_u: Tensor<4>) -> Tensor<4> {
    out_u.clone() + (out_c - out_u).mul_scalar(w)
}

/// Wraps a model of batch `2B` into a guided model of batch `B`.
///
/// The returned closure takes `x: [B, C, H, W]` and model time `t: [B]`, calls `model` ONCE
/// with `x2 = [x; x]: [2B, C, H, W]` and `t2 = [t; t]: [2B]`, and combines the two halves of
/// its `[2B, C, H, W]` output: the first half is conditional, the second unconditional. The
/// caller's model must therefore hold the contexts `[cond; uncond]` (concatenated once,
/// before sampling) and return `[2B, C, H, W]`.
pub fn guided<M>(
    w: f64,
    mut model: M,
) -> Result<impl FnMut(Tensor<4>, Tensor<1>) -> Tensor<4>, DiffusionError>
where
    M: FnMut(Tensor<4>, Tensor<1>) -> Tensor<4>,
{
    check_guidance(w)?;
    Ok(move |x: Tensor<4>, t: Tensor<1>| {
        let b = x.dims()[0];
        let x2 = Tensor::cat(vec![x.clone(), x], 0); // [2B, C, H, W]
        let t2 = Tensor::cat(vec![t.clone(), t], 0); // [2B]
        let out = model(x2, t2); // [2B, C, H, W]: [cond; uncond]
        let cond = out.clone().narrow(0, 0, b);
        let uncond = out.narrow(0, b, b);
        combine(w, cond, uncond)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn non_finite_scales_are_rejected() {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let e = guided(bad, |x: Tensor<4>, _t: Tensor<1>| x).err().unwrap();
            assert!(e.to_string().contains("finite"), "{e}");
        }
        assert!(guided(0.0, |x: Tensor<4>, _t: Tensor<1>| x).is_ok());
    }

    #[test]
    fn scale_conversions() {
        assert_eq!(w_from_uvit_scale(1.0), 2.0);
        assert!((uvit_scale_from_w(w_from_uvit_scale(0.3)) - 0.3).abs() < 1e-15);
    }

    #[test]
    fn combine_is_the_w_formula() {
        let device = Device::flex();
        let c = Tensor::<4>::from_data(TensorData::new(vec![3f32], [1, 1, 1, 1]), &device);
        let u = Tensor::<4>::from_data(TensorData::new(vec![1f32], [1, 1, 1, 1]), &device);
        let v = |w| {
            combine(w, c.clone(), u.clone())
                .into_data()
                .try_into_vec::<f32>()
                .unwrap()[0]
        };
        assert_eq!((v(0.0), v(1.0), v(2.0)), (1.0, 3.0, 5.0));
    }
}
