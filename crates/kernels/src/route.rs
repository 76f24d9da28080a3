//! Which path a call takes: the fused kernels for f32 tensors on the Flex device (plain or
//! under autodiff), burn's own ops for everything else.

use std::sync::atomic::{AtomicBool, Ordering};

use burn::tensor::{DType, Tensor};

/// The process-wide switch (on unless [`set_enabled`]`(false)`; the `IFVIT_KERNELS=off`
/// environment variable turns it off at start-up in the `ifvit` binary).
static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns the fused kernels on or off for the whole process (off: every function takes burn's
/// own op). For benchmarks that compare both paths in one process, and for bisecting.
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether the fused kernels are switched on (see [`set_enabled`]).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// True when the kernels are [`enabled`] and `x` is an f32 tensor on the Flex device (plain, or
/// under autodiff when this crate's `autodiff` feature is on): the tensors the fused kernels of
/// this crate handle.
pub fn fused_available<const D: usize>(x: &Tensor<D>) -> bool {
    if !enabled() || x.dtype() != DType::F32 {
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
