//! Which path a call takes: the fused kernels for f32 tensors on the Flex device (plain or
//! under autodiff), burn's own ops for everything else.

use burn::tensor::{DType, Tensor};

/// True when `x` is an f32 tensor on the Flex device (plain, or under autodiff when this crate's
/// `autodiff` feature is on): the tensors the fused kernels of this crate handle.
pub fn fused_available<const D: usize>(x: &Tensor<D>) -> bool {
    if x.dtype() != DType::F32 {
        return false;
    }
    on_flex(x.device())
}

#[cfg(feature = "flex")]
fn on_flex(device: burn::tensor::Device) -> bool {
    use burn::backend::DispatchDevice;
    let autodiff = device.is_autodiff();
    let inner = device.inner();
    matches!(inner.as_dispatch(), DispatchDevice::Flex(_))
        && (!autodiff || cfg!(feature = "autodiff"))
}

#[cfg(not(feature = "flex"))]
fn on_flex(_device: burn::tensor::Device) -> bool {
    false
}
