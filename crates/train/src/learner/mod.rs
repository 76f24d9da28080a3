//! Training composed by burn-train: a [`Learner`] launched through [`SupervisedTraining`] with
//! a custom learning strategy ([`StepLoop`]) that keeps the step-indexed loop.
//!
//! What burn-train provides here:
//! * the [`Learner`] (model, AdamW, learning-rate scheduler) and its step sequence:
//!   `lr_step` -> `train_step` (forward + backward, `TrainStep`) -> `optimizer_step`
//!   (`TrainStep::optimize`), or `optimizer_step_multi` for data-parallel shards;
//! * the data stream as a burn [`DataLoader`] ([`StepBatches`]): item `k` is the batch of
//!   optimizer step `k`, a function of `(seed, k)` only;
//! * checkpointing through its [`LearningCheckpointer`] (the `Checkpointer` of the model,
//!   optimizer and scheduler records, called with the step as its "epoch"): the records are
//!   handed to our atomic writer ([`capture`]);
//! * metrics (loss, learning rate, images/s) with its event processor, file metric logger
//!   (`RUN/train/epoch-<session>/*.log`) and renderer (its terminal dashboard on a TTY);
//! * the [`Interrupter`] (the dashboard's `q` / Ctrl-C) next to our signal flag.
//!
//! What we add: the EMA update after each optimizer step, the loss CSV with its NaN check,
//! and the atomic, checksummed step folders of [`crate::checkpoint`] (docs/training.md says
//! why burn-train's file checkpointer cannot give those guarantees).

mod capture;
mod data;
mod lr;
mod metric;
mod render;
mod session;

pub(crate) use data::StepBatches;
pub(crate) use lr::WarmupLr;
pub(crate) use session::{Event, Session, SessionEnd, SessionSettings};

use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use burn::train::metric::{LearningRateMetric, LossMetric};
use burn::train::renderer::{MetricsRenderer, default_renderer};
use burn::train::{
    Interrupter, Learner, LearningResult, SupervisedLearningStrategy, SupervisedTraining,
    SupervisedTrainingEventProcessor, TrainLoader, TrainingComponents, TrainingStrategy,
    ValidLoader,
};
use ifvit_fusion::FusionStrategy;

use crate::error::TrainError;
use crate::model::TextToImage;

/// burn-train's custom learning strategy: runs one [`Session`] of the step-indexed loop.
struct StepLoop<S: FusionStrategy> {
    session: Mutex<Option<Session<S>>>,
    result: Mutex<Option<Result<SessionEnd<S>, TrainError>>>,
}

impl<S: FusionStrategy> SupervisedLearningStrategy<TextToImage<S>> for StepLoop<S> {
    fn fit(
        &self,
        mut components: TrainingComponents<TextToImage<S>>,
        mut learner: Learner<TextToImage<S>>,
        loader: TrainLoader<TextToImage<S>>,
        _valid: ValidLoader<TextToImage<S>>,
        _starting_epoch: usize,
    ) -> (
        TextToImage<S>,
        SupervisedTrainingEventProcessor<TextToImage<S>>,
    ) {
        let session = self
            .session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let result = match (session, components.checkpointer.take()) {
            (Some(session), Some(mut checkpointer)) => session.run(
                &mut learner,
                loader,
                &mut components.event_processor,
                &components.interrupter,
                &mut checkpointer,
                &components.event_store,
            ),
            _ => Err(TrainError::Other(
                "internal: the learning strategy runs one session, with checkpointers".into(),
            )),
        };
        *self.result.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
        (learner.model(), components.event_processor)
    }
}

/// Launches burn-train's `SupervisedTraining` on `learner` with the step loop of `session`,
/// on a worker thread; the loop's [`Event`]s go to `on_event` on this thread as they come.
/// `dashboard`: burn-train's terminal dashboard (only when stdout is a terminal).
pub(crate) fn launch<S: FusionStrategy>(
    learner: Learner<TextToImage<S>>,
    session: Session<S>,
    events: std::sync::mpsc::Receiver<Event>,
    dashboard: bool,
    on_event: &mut dyn FnMut(Event),
) -> Result<(SessionEnd<S>, TextToImage<S>), TrainError> {
    std::thread::scope(|scope| {
        let worker = scope.spawn(move || run_learner(learner, session, dashboard));
        for event in events {
            on_event(event);
        }
        worker
            .join()
            .map_err(|_| TrainError::Other("the training thread panicked".into()))?
    })
}

fn run_learner<S: FusionStrategy>(
    learner: Learner<TextToImage<S>>,
    session: Session<S>,
    dashboard: bool,
) -> Result<(SessionEnd<S>, TextToImage<S>), TrainError> {
    let run_dir = session.run_dir();
    let loader: TrainLoader<TextToImage<S>> = Arc::new(session.batches());
    let valid: ValidLoader<TextToImage<S>> = Arc::new(session.batches().empty());
    let interrupter = Interrupter::new();
    let renderer: Box<dyn MetricsRenderer> = if dashboard {
        default_renderer(interrupter.clone(), None)
    } else {
        Box::new(render::Hidden)
    };
    let (checkpointers, records) = capture::checkpointers();
    let strategy = Arc::new(StepLoop {
        session: Mutex::new(Some(session.with_records(records))),
        result: Mutex::new(None),
    });
    let training = SupervisedTraining::new(&run_dir, loader, valid)
        .with_training_strategy(TrainingStrategy::Custom(strategy.clone()))
        .with_custom_checkpointers(checkpointers.0, checkpointers.1, checkpointers.2)
        .with_checkpointing_strategy(capture::EveryCall)
        .metric_train_numeric(LossMetric::new())
        .metric_train_numeric(LearningRateMetric::new())
        .metric_train_numeric(metric::ImagesPerSecond::new())
        .with_application_logger(None)
        .with_interrupter(interrupter)
        .renderer(renderer);
    let LearningResult { model, .. } = training.launch(learner);
    let result = strategy
        .result
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .unwrap_or_else(|| Err(TrainError::Other("the training loop did not run".into())));
    result.map(|end| (end, model))
}

/// Sends `event` to the caller (a closed channel only means nobody listens).
pub(crate) fn send(events: &Sender<Event>, event: Event) {
    let _ = events.send(event);
}
