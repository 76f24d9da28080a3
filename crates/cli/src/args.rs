//! Checked ranges of numeric arguments: every number a user types is parsed by one of these,
//! so a value out of range is a clap error (exit code 2) naming the argument and the range,
//! never a panic or an absurd allocation later.

use std::ops::RangeInclusive;

use clap::builder::RangedU64ValueParser;

/// Most steps a run or extension may ask for.
pub const MAX_STEPS: u64 = 1_000_000_000;
/// Most images in one batch.
pub const MAX_BATCH: u64 = 4096;
/// `--c` / `--v`: blocks, bounded by any sensible depth.
pub const MAX_BLOCKS: u64 = 256;

/// An unsigned count in `range` (as `usize`).
pub fn count(range: RangeInclusive<u64>) -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::<usize>::new().range(range)
}

/// An unsigned 64-bit value in `range`.
pub fn count64(range: RangeInclusive<u64>) -> RangedU64ValueParser<u64> {
    RangedU64ValueParser::<u64>::new().range(range)
}

/// An unsigned 32-bit value in `range`.
pub fn count32(range: RangeInclusive<u64>) -> RangedU64ValueParser<u32> {
    RangedU64ValueParser::<u32>::new().range(range)
}

fn float_in(s: &str, lo: f64, hi: f64, lo_open: bool) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    let above = if lo_open { v > lo } else { v >= lo };
    if v.is_finite() && above && v <= hi {
        Ok(v)
    } else {
        let open = if lo_open { "(" } else { "[" };
        Err(format!("{v} is not in {open}{lo}, {hi}]"))
    }
}

/// `--budget`: a step-budget factor in [0.001, 1000].
pub fn budget(s: &str) -> Result<f64, String> {
    float_in(s, 0.001, 1000.0, false)
}

/// `--guidance`: a guidance scale w in [-100, 100] (1 = no guidance).
pub fn guidance(s: &str) -> Result<f64, String> {
    float_in(s, -100.0, 100.0, false)
}

/// `--eta`: DDIM eta in [0, 1].
pub fn eta(s: &str) -> Result<f64, String> {
    float_in(s, 0.0, 1.0, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_checked() {
        assert_eq!(budget("0.5"), Ok(0.5));
        for bad in ["0", "-1", "nan", "inf", "1e9", "x", ""] {
            let e = budget(bad).unwrap_err();
            assert!(e.contains("not"), "{bad}: {e}");
        }
        assert_eq!(guidance("-5"), Ok(-5.0));
        assert!(guidance("nan").unwrap_err().contains("[-100, 100]"));
        assert_eq!(eta("0"), Ok(0.0));
        assert!(eta("1.5").is_err());
    }
}
