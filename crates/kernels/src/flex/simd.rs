//! Run-time selection between an AVX-512, an AVX2+FMA and a baseline build of one loop.

/// `multiversion!(pub fn name(a: A, b: B) -> R = body);` defines `name`, which calls
/// `body::<true>(a, b)` compiled with AVX-512 or AVX2+FMA when the CPU has them, else
/// `body::<false>(a, b)` (no FMA: `mul_add` would be a libm call there). `body` must be
/// `#[inline(always)]` so that it is compiled inside each target-feature wrapper.
macro_rules! multiversion {
    ($vis:vis fn $name:ident($($a:ident: $t:ty),* $(,)?) $(-> $r:ty)? = $body:ident;) => {
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($a: $t),*) $(-> $r)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[allow(clippy::too_many_arguments)]
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                fn v4($($a: $t),*) $(-> $r)? {
                    $body::<true>($($a),*)
                }
                #[allow(clippy::too_many_arguments)]
                #[target_feature(enable = "avx2,fma")]
                fn v3($($a: $t),*) $(-> $r)? {
                    $body::<true>($($a),*)
                }
                if $crate::flex::simd::has_avx512() {
                    // SAFETY: the CPU supports the features `v4` was compiled for.
                    return unsafe { v4($($a),*) };
                }
                if $crate::flex::simd::has_avx2_fma() {
                    // SAFETY: the CPU supports the features `v3` was compiled for.
                    return unsafe { v3($($a),*) };
                }
            }
            $body::<false>($($a),*)
        }
    };
}

/// AVX-512 F + VL (checked once; `is_x86_feature_detected!` caches).
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn has_avx512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512vl")
}

/// AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn has_avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// `a * b + c`, fused where the build has FMA (`FMA`), else two roundings.
#[inline(always)]
pub(crate) fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// f64 [`madd`].
#[inline(always)]
pub(crate) fn madd64<const FMA: bool>(a: f64, b: f64, c: f64) -> f64 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// Lanes of the multi-accumulator reductions (wide enough for AVX-512, unrolled on AVX2).
pub(crate) const LANES: usize = 16;

/// Sum of `x`, in [`LANES`] partial sums (vectorises; the order differs from a serial sum).
#[inline(always)]
pub(crate) fn sum<const FMA: bool>(x: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            acc[i] += c[i];
        }
    }
    let mut s = tail.iter().sum::<f32>();
    for a in acc {
        s += a;
    }
    s
}

/// `sum_i a[i] * b[i]`, in [`LANES`] partial sums.
#[inline(always)]
pub(crate) fn dot<const FMA: bool>(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0.0f32; LANES];
    let ca = a.chunks_exact(LANES);
    let cb = b.chunks_exact(LANES);
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] = madd::<FMA>(x[i], y[i], acc[i]);
        }
    }
    let mut s = 0.0;
    for (x, y) in ta.iter().zip(tb) {
        s = madd::<FMA>(*x, *y, s);
    }
    for a in acc {
        s += a;
    }
    s
}

/// Maximum of `x` (`-inf` when empty).
#[inline(always)]
pub(crate) fn max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            acc[i] = if c[i] > acc[i] { c[i] } else { acc[i] };
        }
    }
    let mut m = f32::NEG_INFINITY;
    for v in tail.iter().chain(acc.iter()) {
        m = if *v > m { *v } else { m };
    }
    m
}
