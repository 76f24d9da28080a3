//! Run-time backend selection: `--device cpu|wgpu|cuda` (or `BURN_DEVICE`).

use anyhow::{Result, bail};
use burn::tensor::Device;

/// The backends a user can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DeviceArg {
    /// burn's Flex CPU backend (Cargo feature `flex`, on by default).
    Cpu,
    /// GPU through wgpu (Cargo feature `wgpu`).
    Wgpu,
    /// CUDA (Cargo feature `cuda`).
    Cuda,
}

impl DeviceArg {
    /// The device, or an error saying which Cargo feature to build with.
    pub fn device(self) -> Result<Device> {
        match self {
            DeviceArg::Cpu => cpu(),
            DeviceArg::Wgpu => wgpu(),
            DeviceArg::Cuda => cuda(),
        }
    }
}

#[cfg(feature = "flex")]
fn cpu() -> Result<Device> {
    Ok(Device::flex())
}
#[cfg(not(feature = "flex"))]
fn cpu() -> Result<Device> {
    bail!(
        "this ifvit was built without the `flex` feature; rebuild with `--features flex` or pick another --device"
    )
}

#[cfg(feature = "wgpu")]
fn wgpu() -> Result<Device> {
    use burn::tensor::{DeviceKind, DeviceType};
    if Device::enumerate(DeviceType::Wgpu).is_empty() {
        bail!(
            "--device wgpu: no wgpu adapter found (no GPU driver, and no software Vulkan such as \
             Debian's mesa-vulkan-drivers); use --device cpu"
        );
    }
    Ok(Device::wgpu(DeviceKind::DefaultDevice))
}
#[cfg(not(feature = "wgpu"))]
fn wgpu() -> Result<Device> {
    bail!(
        "--device wgpu: this ifvit was built without the `wgpu` feature; rebuild with `cargo build --release --features wgpu`"
    )
}

#[cfg(feature = "cuda")]
fn cuda() -> Result<Device> {
    Ok(Device::cuda(0))
}
#[cfg(not(feature = "cuda"))]
fn cuda() -> Result<Device> {
    bail!(
        "--device cuda: this ifvit was built without the `cuda` feature; rebuild with \
         `cargo build --release --features cuda` (burn 0.22 downloads an LLVM bundle at build \
         time, so the build needs internet access)"
    )
}
