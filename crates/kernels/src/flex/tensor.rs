//! Reading and writing `FlexTensor`s as f32 slices.

use burn::tensor::{Shape, TensorData};
use burn_flex::FlexTensor;
use std::mem::MaybeUninit;

/// `t` in row-major order, copied only when it is not already.
pub(crate) fn contiguous(t: FlexTensor) -> FlexTensor {
    if t.as_slice::<f32>().is_some() {
        t
    } else {
        t.to_contiguous()
    }
}

/// The f32 elements of a contiguous tensor (see [`contiguous`]).
pub(crate) fn values(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>()
        .expect("ifvit-kernels: expected a contiguous f32 Flex tensor")
}

/// The dims of `t`.
pub(crate) fn dims(t: &FlexTensor) -> Vec<usize> {
    t.layout().shape().iter().copied().collect()
}

/// A row-major f32 tensor owning `data`.
pub(crate) fn from_vec(data: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(data, Shape::from(shape)))
}

/// An output buffer of `n` f32 that the kernel fills completely (no zero fill).
pub(crate) fn uninit(n: usize) -> Vec<MaybeUninit<f32>> {
    let mut v = Vec::with_capacity(n);
    // SAFETY: `MaybeUninit` needs no initialisation.
    unsafe { v.set_len(n) };
    v
}

/// The buffer of [`uninit`] after the kernel wrote every element.
///
/// # Safety
/// Every element of `v` must have been written.
pub(crate) unsafe fn assume_init(v: Vec<MaybeUninit<f32>>) -> Vec<f32> {
    let mut v = std::mem::ManuallyDrop::new(v);
    // SAFETY: same allocation, length and capacity; `MaybeUninit<f32>` has f32's layout and
    // the caller guarantees that every element is initialised.
    unsafe { Vec::from_raw_parts(v.as_mut_ptr().cast::<f32>(), v.len(), v.capacity()) }
}
