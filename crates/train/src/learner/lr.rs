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
