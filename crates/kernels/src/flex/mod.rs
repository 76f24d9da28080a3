//! The Flex kernels: plain functions over f32 slices (testable without burn), and the glue
//! that reads and writes `FlexTensor`s.
//!
//! Every inner loop is written once, generic over `const FMA: bool`, and compiled three times
//! by [`multiversion!`]: AVX-512, AVX2+FMA and the baseline (SSE2 on x86-64), chosen at run
//! time, so a binary built for generic x86-64 still runs the wide kernels where the CPU has them.

#[macro_use]
mod simd;
pub mod adamw;
pub mod attention;
pub mod gelu;
pub mod layer_norm;
pub mod linear;
pub mod math;
pub(crate) mod tensor;

/// Work below this many elements runs on the calling thread (rayon's fork/join costs more).
pub(crate) const PAR_MIN_ELEMS: usize = 1 << 15;
