//! Branch-free `exp` and `erf` that the compiler vectorises (libm's are scalar calls).

use super::simd::{madd, madd64};

/// `e^x` for f32, within about 2 ulp of the exact value for `x` in [-87.3, 88.3]; inputs
/// outside are clamped there (so `exp(-inf)` is about 1e-38, not 0, and large inputs do
/// not overflow). Cephes `expf`: `x = n ln2 + r`, `|r| <= ln2/2`, degree-5 polynomial.
#[inline(always)]
pub fn exp<const FMA: bool>(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 * 2^23: adding and subtracting it rounds to the nearest integer (no `round` call).
    const SHIFTER: f32 = 12_582_912.0;
    // Selects rather than `clamp`/`max` (NaN-aware, slower when vectorised); NaN stays NaN.
    let x = if x < -87.3 { -87.3 } else { x };
    let x = if x > 88.3 { 88.3 } else { x };
    // k = SHIFTER + n: its low mantissa bits hold the integer n = round(x log2 e).
    let k = madd::<FMA>(x, LOG2E, SHIFTER);
    let n = k - SHIFTER;
    let r = madd::<FMA>(-n, LN2_HI, x);
    let r = madd::<FMA>(-n, LN2_LO, r);
    let mut p = 1.987_569_1e-4;
    p = madd::<FMA>(p, r, 1.398_199_9e-3);
    p = madd::<FMA>(p, r, 8.333_452e-3);
    p = madd::<FMA>(p, r, 4.166_579_6e-2);
    p = madd::<FMA>(p, r, 1.666_666_5e-1);
    p = madd::<FMA>(p, r, 0.5);
    let e = madd::<FMA>(p, r * r, r) + 1.0;
    // 2^n from the bits of k (SHIFTER's own bits vanish in the shift): integer ops only, no
    // saturating float-to-int conversion.
    let scale = f32::from_bits((k.to_bits() << 23).wrapping_add(127 << 23));
    e * scale
}

/// `erf(x)` for f32 input, evaluated in f64 and returned in f64: absolute error below 1e-7
/// (6.5e-8 from the approximation itself). The rational minimax approximation of
/// Eigen/XLA (`generic_fast_erf_float`), `x P(x^2) / Q(x^2)` on [-4, 4] (erf is +-1 to f32
/// precision outside); f64 evaluation avoids the cancellation that costs the f32 version
/// ~4e-7 near |x| = 3.
#[inline(always)]
pub fn erf64<const FMA: bool>(x: f32) -> f64 {
    let x = x as f64;
    let x = if x < -4.0 { -4.0 } else { x };
    let x = if x > 4.0 { 4.0 } else { x };
    let x2 = x * x;
    let mut p = -2.726_142_258_013_06e-10;
    p = madd64::<FMA>(p, x2, 2.770_681_424_959_02e-8);
    p = madd64::<FMA>(p, x2, -2.101_024_020_825_08e-6);
    p = madd64::<FMA>(p, x2, -5.692_506_394_623_46e-5);
    p = madd64::<FMA>(p, x2, -7.349_906_303_268_55e-4);
    p = madd64::<FMA>(p, x2, -2.954_599_808_540_25e-3);
    p = madd64::<FMA>(p, x2, -1.609_603_332_624_15e-2);
    let mut q = -1.456_607_184_649_96e-5;
    q = madd64::<FMA>(q, x2, -2.133_740_552_789_05e-4);
    q = madd64::<FMA>(q, x2, -1.682_826_974_382_03e-3);
    q = madd64::<FMA>(q, x2, -7.373_329_167_204_68e-3);
    q = madd64::<FMA>(q, x2, -1.426_473_905_141_89e-2);
    x * p / q
}

multiversion!(pub fn exp_slice(x: &[f32], out: &mut [f32]) = exp_slice_body;);
multiversion!(pub fn erf_slice(x: &[f32], out: &mut [f32]) = erf_slice_body;);

#[inline(always)]
fn exp_slice_body<const FMA: bool>(x: &[f32], out: &mut [f32]) {
    for (o, v) in out.iter_mut().zip(x) {
        *o = exp::<FMA>(*v);
    }
}

#[inline(always)]
fn erf_slice_body<const FMA: bool>(x: &[f32], out: &mut [f32]) {
    for (o, v) in out.iter_mut().zip(x) {
        *o = erf64::<FMA>(*v) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(lo: f32, hi: f32, n: usize) -> Vec<f32> {
        (0..=n)
            .map(|i| lo + (hi - lo) * i as f32 / n as f32)
            .collect()
    }

    #[test]
    fn erf_within_1e7_of_libm_f64() {
        let x = grid(-6.0, 6.0, 200_001);
        let mut y = vec![0.0; x.len()];
        erf_slice(&x, &mut y);
        let worst = x
            .iter()
            .zip(&y)
            .map(|(x, y)| (*y as f64 - libm::erf(*x as f64)).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1.0e-7, "max |erf - libm::erf| = {worst:e}");
        // The baseline (no FMA) build agrees too.
        let worst0 = x
            .iter()
            .map(|x| (erf64::<false>(*x) - libm::erf(*x as f64)).abs())
            .fold(0.0, f64::max);
        assert!(worst0 < 1.0e-7, "baseline max error {worst0:e}");
    }

    #[test]
    fn exp_within_3_ulp_of_libm() {
        let x = grid(-87.0, 88.0, 400_001);
        let mut y = vec![0.0; x.len()];
        exp_slice(&x, &mut y);
        let worst = x
            .iter()
            .zip(&y)
            .map(|(x, y)| ((*y as f64 - (*x as f64).exp()) / (*x as f64).exp()).abs())
            .fold(0.0, f64::max);
        // f32 epsilon is 1.19e-7; 3 ulp relative is ~3.6e-7.
        assert!(worst < 3.6e-7, "max relative error {worst:e}");
        assert_eq!(exp::<false>(0.0), 1.0);
        assert!(exp::<false>(f32::NEG_INFINITY) < 1.3e-38);
        assert!(exp::<false>(1000.0).is_finite());
    }
}
