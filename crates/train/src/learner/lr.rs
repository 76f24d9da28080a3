//! The learning-rate schedule as a burn scheduler: linear warmup, then constant.

use burn::optim::LearningRate;
use burn::optim::lr_scheduler::{LrScheduler, LrSchedulerRecord};

use crate::lr::warmup_constant;

/// Gives the rate of step `next`, then advances. Its position is the run's step (restored
/// from `state.json` on resume), so it records nothing itself.
#[derive(Clone, Debug)]
pub(crate) struct WarmupLr {
    pub base: f64,
    pub warmup: u64,
    pub next: u64,
}

impl LrScheduler for WarmupLr {
    fn step(&mut self) -> LearningRate {
        let lr = warmup_constant(self.base, self.warmup, self.next);
        self.next += 1;
        lr
    }

    fn to_record(&self) -> LrSchedulerRecord {
        LrSchedulerRecord::new()
    }

    fn load_record(&mut self, _record: LrSchedulerRecord) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scheduler started at step `k` gives the rates of steps `k, k+1, ...` (a resumed
    /// run continues the warmup where it stopped).
    #[test]
    fn gives_the_rate_of_each_step_from_where_it_starts() {
        let mut s = WarmupLr {
            base: 1e-3,
            warmup: 4,
            next: 2,
        };
        let got: Vec<f64> = (0..4).map(|_| s.step()).collect();
        let want: Vec<f64> = (2..6).map(|k| warmup_constant(1e-3, 4, k)).collect();
        assert_eq!(got, want);
        assert!(got[0] < got[3]);
    }
}
