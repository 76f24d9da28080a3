//! Learning-rate schedule of U-ViT: linear warm-up, then constant.
//!
//! U-ViT's `customized_lr_scheduler` is `LambdaLR(lambda step: min(step / warmup, 1))` with the
//! scheduler stepped after each optimizer step, so optimizer step `k` (0-based) uses
//! `lr * min(k / warmup, 1)` (the very first step has lr 0). It is a pure function of the
//! step, so a resumed run needs no scheduler state.

/// Learning rate of optimizer step `step` (0-based).
pub fn warmup_constant(base_lr: f64, warmup_steps: u64, step: u64) -> f64 {
    if warmup_steps == 0 {
        base_lr
    } else {
        base_lr * (step as f64 / warmup_steps as f64).min(1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_constant() {
        assert_eq!(warmup_constant(2e-4, 5000, 0), 0.0);
        assert!((warmup_constant(2e-4, 5000, 2500) - 1e-4).abs() < 1e-12);
        assert_eq!(warmup_constant(2e-4, 5000, 5000), 2e-4);
        assert_eq!(warmup_constant(2e-4, 5000, 900_000), 2e-4);
        assert_eq!(warmup_constant(1e-3, 0, 0), 1e-3);
    }
}
