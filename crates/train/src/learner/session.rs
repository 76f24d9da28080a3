//! One session of the step-indexed loop, run inside burn-train's learning strategy.
//!
//! Each optimizer step `k`: the loader's batch of step `k` -> `Learner::lr_step` (the rate of
//! step `k`) -> `Learner::train_step` -> `Learner::optimizer_step` (or, data-parallel, one
//! `TrainStep` per device shard and `optimizer_step_multi`) -> EMA update -> metrics event.
//! Losses are read back at log points and checked (a NaN stops the run naming the last good
//! checkpoint); checkpoints go through burn-train's checkpointer to our atomic writer.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::time::Instant;

use burn::module::Module;
use burn::optim::MultiGradientsParams;
use burn::tensor::{Device, Tensor};
use burn::train::metric::store::EventStoreClient;
use burn::train::{
    EventProcessorTraining, Interrupter, Learner, LearnerEvent, LearningCheckpointer,
    SupervisedTrainingEventProcessor, TrainLoader, TrainStep, TrainingItem,
};
use ifvit_fusion::FusionStrategy;

use super::capture::Records;
use super::data::StepBatches;
use super::send;
use crate::checkpoint::{CheckpointDir, TrainState, io_err};
use crate::ema::ema_update;
use crate::error::TrainError;
use crate::losslog::LossLog;
use crate::model::TextToImage;
use crate::step::{DiffusionInput, DiffusionOutput};
use crate::weights::{module_bytes, optim_record_bytes};

type Model<S> = TextToImage<S>;

/// What the loop tells the caller's progress display.
pub(crate) enum Event {
    Start { first: u64, total: u64 },
    Step { step: u64, loss: Option<f64> },
    Checkpoint(u64),
}

/// Everything one session needs, moved into burn-train's strategy.
pub(crate) struct Session<S: FusionStrategy> {
    pub batches: StepBatches,
    pub ckpts: CheckpointDir,
    pub state: TrainState,
    /// `Some` between steps (taken for the in-place update).
    pub ema: Option<Model<S>>,
    pub log: LossLog,
    pub settings: SessionSettings,
    pub events: Sender<Event>,
    pub records: Option<Records>,
}

/// How a session runs (from the config and the options).
pub(crate) struct SessionSettings {
    /// Devices of the data-parallel shards (autodiff); one: no sharding.
    pub devices: Vec<Device>,
    pub total: u64,
    pub stop_at: u64,
    pub ema_decay: f64,
    pub checkpoint_every: u64,
    pub log_every: u64,
    pub keep: usize,
    /// Write a checkpoint before the first step (a new run).
    pub save_first: bool,
    /// burn-train's file metric logs of this session go to `RUN/train/epoch-<epoch>/`.
    pub epoch: usize,
    pub interrupt: Option<Arc<AtomicBool>>,
}

/// What a session leaves.
pub(crate) struct SessionEnd<S: FusionStrategy> {
    pub ema: Model<S>,
    pub state: TrainState,
    pub log: LossLog,
    pub session_steps: u64,
    pub session_seconds: f64,
    pub stopped_early: bool,
}

/// Losses of finished steps not read back yet: `(step index, loss [1], lr)`.
type Pending = Vec<(u64, Tensor<1>, f64)>;

impl<S: FusionStrategy> Session<S> {
    pub fn run_dir(&self) -> std::path::PathBuf {
        self.ckpts.run_dir()
    }

    /// The loader of this session's steps.
    pub fn batches(&self) -> StepBatches {
        let mut b = self.batches.clone();
        b.from = self.state.step;
        b.to = self.settings.stop_at.max(self.state.step);
        b
    }

    pub fn with_records(mut self, records: Records) -> Self {
        self.records = Some(records);
        self
    }

    fn interrupted(&self, interrupter: &Interrupter) -> bool {
        interrupter.should_stop()
            || self
                .settings
                .interrupt
                .as_ref()
                .is_some_and(|f| f.load(Ordering::SeqCst))
    }

    /// The loop. Errors (data, NaN, disk) end the session; the last checkpoint stays.
    pub fn run(
        mut self,
        learner: &mut Learner<Model<S>>,
        loader: TrainLoader<Model<S>>,
        processor: &mut SupervisedTrainingEventProcessor<Model<S>>,
        interrupter: &Interrupter,
        checkpointer: &mut LearningCheckpointer<Model<S>>,
        store: &EventStoreClient,
    ) -> Result<SessionEnd<S>, TrainError> {
        if self.settings.save_first {
            // A checkpoint before the first step: a run stopped at any later moment resumes.
            self.save(learner, checkpointer, store)?;
        }
        let first = self.state.step;
        send(
            &self.events,
            Event::Start {
                first,
                total: self.settings.total,
            },
        );
        interrupter.fail_on_error(processor.process_train(LearnerEvent::StartSplit {
            epoch_number: self.settings.epoch,
            // Steps, as the items' progress counts them (the loader's `num_items` is images).
            total_items: (self.settings.stop_at.max(first) - first) as usize,
        }));
        let mut items = loader.iter();
        let mut pending: Pending = Vec::new();
        let mut last_good = self.ckpts.latest()?.dir.display().to_string();
        let (mut seconds, mut stopped_early) = (0.0, false);
        while self.state.step < self.settings.stop_at {
            if self.interrupted(interrupter) {
                stopped_early = true;
                break;
            }
            let t0 = Instant::now();
            let input = match items.next() {
                Some(Ok(input)) => input,
                Some(Err(e)) => return Err(self.batches.take_error(e)),
                None => break,
            };
            let progress = items.progress();
            let (loss, lr) = self.optimize(learner, input);
            pending.push((self.state.step, loss.clone(), lr));
            self.state.step += 1;
            self.state.samples_seen += self.batches.batch_size as u64;
            let dt = t0.elapsed().as_secs_f64();
            seconds += dt;
            self.state.train_seconds += dt;
            let item = DiffusionOutput {
                loss,
                images: self.batches.batch_size,
            };
            interrupter.fail_on_error(processor.process_train(LearnerEvent::ProcessedItem(
                TrainingItem::new(
                    item,
                    progress,
                    Some((self.state.step - first) as usize),
                    Some(learner.lr_current()),
                ),
            )));

            let step = self.state.step;
            let ckpt_due = step.is_multiple_of(self.settings.checkpoint_every)
                || step == self.settings.stop_at;
            if step.is_multiple_of(self.settings.log_every) || ckpt_due {
                self.flush(&mut pending, &last_good)?;
            } else {
                send(&self.events, Event::Step { step, loss: None });
            }
            if ckpt_due {
                self.save(learner, checkpointer, store)?;
                last_good = self.ckpts.latest()?.dir.display().to_string();
                send(&self.events, Event::Checkpoint(step));
            }
        }
        if stopped_early && self.state.step > first {
            self.flush(&mut pending, &last_good)?;
            self.save(learner, checkpointer, store)?;
            send(&self.events, Event::Checkpoint(self.state.step));
        }
        interrupter
            .fail_on_error(processor.process_train(LearnerEvent::EndSplit(self.settings.epoch)));
        interrupter
            .fail_on_error(processor.process_train(LearnerEvent::EndEpoch(self.settings.epoch)));
        Ok(SessionEnd {
            session_steps: self.state.step - first,
            ema: self.ema.expect("the EMA is put back after each step"),
            state: self.state,
            log: self.log,
            session_seconds: seconds,
            stopped_early: stopped_early || self.settings.stop_at < self.settings.total,
        })
    }

    /// One optimizer step and the EMA update; returns the step's loss `[1]` and rate.
    fn optimize(
        &mut self,
        learner: &mut Learner<Model<S>>,
        input: DiffusionInput,
    ) -> (Tensor<1>, f64) {
        learner.lr_step();
        let lr = learner.lr_current().base();
        let loss = if self.settings.devices.len() == 1 {
            let out = learner.train_step(input);
            learner.optimizer_step(out.grads);
            out.item.loss
        } else {
            let (grads, loss) = shard_grads(&learner.model(), &self.settings.devices, input);
            learner.optimizer_step_multi(grads);
            loss
        };
        if let Some(ema) = self.ema.take() {
            self.ema = Some(ema_update(ema, &learner.model(), self.settings.ema_decay));
        }
        (loss, lr)
    }

    /// Reads the pending losses back (one device sync), checks them, appends to the log.
    fn flush(&mut self, pending: &mut Pending, last_good: &str) -> Result<(), TrainError> {
        if pending.is_empty() {
            return Ok(());
        }
        let values: Vec<f32> = Tensor::cat(pending.iter().map(|p| p.1.clone()).collect(), 0)
            .into_data()
            .convert::<f32>()
            .try_into_vec()
            .map_err(|e| TrainError::Other(format!("{e:?}")))?;
        for ((step, _, lr), v) in pending.drain(..).zip(values) {
            let v = v as f64;
            if !v.is_finite() {
                return Err(TrainError::NonFiniteLoss {
                    step: step + 1,
                    value: v,
                    last_good: last_good.to_string(),
                });
            }
            self.log.rows.push((step + 1, v, lr));
            self.state.last_loss = Some(v);
        }
        if let Some(&(step, loss, _)) = self.log.rows.last() {
            send(
                &self.events,
                Event::Step {
                    step,
                    loss: Some(loss),
                },
            );
        }
        Ok(())
    }

    /// A checkpoint of the current step: burn-train's checkpointer hands over the model and
    /// optimizer records; they are written with the EMA, atomically and checksummed.
    fn save(
        &mut self,
        learner: &Learner<Model<S>>,
        checkpointer: &mut LearningCheckpointer<Model<S>>,
        store: &EventStoreClient,
    ) -> Result<(), TrainError> {
        self.log.write()?;
        checkpointer.checkpoint(learner, self.state.step as usize, store);
        let records = self
            .records
            .as_ref()
            .ok_or_else(|| TrainError::Other("internal: no checkpoint records".into()))?;
        let lost = |what: &str| TrainError::Other(format!("internal: no {what} record"));
        let model = records.model.recv().map_err(|_| lost("model"))?;
        let optim = records.optim.recv().map_err(|_| lost("optimizer"))?;
        let _ = records.scheduler.recv().map_err(|_| lost("scheduler"))?;
        let rec = |name: &str, r: Result<Vec<u8>, burn::store::RecordError>| {
            r.map_err(|e| io_err(Path::new(name), e))
        };
        let model = rec("model.bpk", model.into_bytes().map(|b| b.to_vec()))?;
        let optim = rec("optim.bpk", optim_record_bytes(optim))?;
        let ema = self
            .ema
            .clone()
            .expect("the EMA is put back after each step");
        let ema = rec("ema.bpk", module_bytes(ema))?;
        self.ckpts.save(&self.state, self.settings.keep, |w| {
            w.file("model.bpk", &model)?;
            w.file("ema.bpk", &ema)?;
            w.file("optim.bpk", &optim)?;
            Ok(())
        })?;
        Ok(())
    }
}

/// Splits the batch row-wise over `devices`, runs `TrainStep` on a fork of the model per
/// device with the loss scaled by its share of the batch; the optimizer sums the gradients
/// (`MultiGradientsParams`), so the update equals the single-device one.
fn shard_grads<S: FusionStrategy>(
    model: &Model<S>,
    devices: &[Device],
    input: DiffusionInput,
) -> (MultiGradientsParams, Tensor<1>) {
    let b = input.x_t.dims()[0];
    let n = devices.len();
    let mut grads = Vec::with_capacity(n);
    let mut losses = Vec::with_capacity(n);
    let mut start = 0;
    for (i, dev) in devices.iter().enumerate() {
        let len = b / n + usize::from(i < b % n);
        if len == 0 {
            continue;
        }
        let replica = if i == 0 {
            model.clone()
        } else {
            model.clone().fork(dev)
        };
        let shard = DiffusionInput {
            x_t: input.x_t.clone().narrow(0, start, len).to_device(dev),
            model_time: input
                .model_time
                .clone()
                .narrow(0, start, len)
                .to_device(dev),
            target: input.target.clone().narrow(0, start, len).to_device(dev),
            cond: input.cond.clone().narrow(start, len).to_device(dev),
            weights: input
                .weights
                .as_ref()
                .map(|w| w[start..start + len].to_vec()),
            loss_scale: len as f64 / b as f64,
        };
        let out = TrainStep::step(&replica, shard);
        losses.push(
            out.item
                .loss
                .to_device(&devices[0])
                .mul_scalar(len as f64 / b as f64),
        );
        grads.push((out.grads, dev.clone()));
        start += len;
    }
    let loss = losses
        .into_iter()
        .reduce(|a, b| a + b)
        .expect("at least one shard");
    (MultiGradientsParams { grads }, loss)
}
