//! burn-train checkpointers that hand the records to our atomic writer.
//!
//! burn-train's `LearningCheckpointer::checkpoint(&learner, n, ..)` is the only way to read the
//! `Learner`'s optimizer state (its `optim` field is private, `learner/base.rs:22`): it calls
//! `Checkpointer::save(n, learner.optim.to_record())`. Our checkpointers receive the model,
//! optimizer and scheduler records there and send them to the loop, which writes them with
//! the EMA into one staging folder, renamed into place, with checksums
//! ([`crate::checkpoint::CheckpointDir::save`]).

use std::sync::mpsc::{Receiver, Sender, channel};

use burn::optim::OptimizerRecord;
use burn::optim::lr_scheduler::LrSchedulerRecord;
use burn::store::ModuleRecord;
use burn::train::checkpoint::{
    Checkpoint, Checkpointer, CheckpointerError, CheckpointingAction, CheckpointingStrategy,
};
use burn::train::metric::store::EventStoreClient;

/// Passes each saved record on; restores nothing (resume loads our verified files).
pub(crate) struct Capture<R>(Sender<R>);

impl<R: Checkpoint> Checkpointer<R> for Capture<R> {
    fn save(&self, _step: usize, record: R) -> Result<(), CheckpointerError> {
        self.0
            .send(record)
            .map_err(|e| CheckpointerError::Unknown(e.to_string()))
    }

    fn restore(&self, step: usize) -> Result<R, CheckpointerError> {
        Err(CheckpointerError::Unknown(format!(
            "step {step}: checkpoints are restored from the run folder, not by burn-train"
        )))
    }

    fn delete(&self, _step: usize) -> Result<(), CheckpointerError> {
        Ok(())
    }
}

/// The receiving ends: the loop takes one record of each per checkpoint.
pub(crate) struct Records {
    pub model: Receiver<ModuleRecord>,
    pub optim: Receiver<OptimizerRecord>,
    pub scheduler: Receiver<LrSchedulerRecord>,
}

type Checkpointers = (
    Capture<ModuleRecord>,
    Capture<OptimizerRecord>,
    Capture<LrSchedulerRecord>,
);

pub(crate) fn checkpointers() -> (Checkpointers, Records) {
    let (m, model) = channel();
    let (o, optim) = channel();
    let (s, scheduler) = channel();
    (
        (Capture(m), Capture(o), Capture(s)),
        Records {
            model,
            optim,
            scheduler,
        },
    )
}

/// Save whenever asked: the loop decides when (every `checkpoint_every` steps, at the end,
/// on an interrupt) and keeps the newest `keep_checkpoints` itself.
pub(crate) struct EveryCall;

impl CheckpointingStrategy for EveryCall {
    fn checkpointing(
        &mut self,
        _step: usize,
        _store: &EventStoreClient,
    ) -> Vec<CheckpointingAction> {
        vec![CheckpointingAction::Save]
    }
}
