//! `KernelOps` for Flex and for autodiff over Flex.

#[cfg(feature = "autodiff")]
mod autodiff;
pub(crate) mod flex;
