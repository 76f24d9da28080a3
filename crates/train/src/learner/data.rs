//! The training stream as a burn [`DataLoader`]: item `k` is the batch of optimizer step `k`
//! (images, captions with dropout, timesteps, noise), a pure function of `(seed, k)`, so a
//! resumed run sees exactly the batches an uninterrupted one would.

use std::sync::{Arc, Mutex};

use burn::data::dataloader::{DataLoader, DataLoaderIterator, Progress};
use burn::data::dataset::DatasetError;
use burn::tensor::Device;
use ifvit_diffusion::{LossWeighting, NoiseSchedule, Prediction, seeded_rng, training_sample};

use crate::data::TrainData;
use crate::error::TrainError;
use crate::step::DiffusionInput;
use crate::trainer::step_seed;

/// The batches of steps `from .. to`.
#[derive(Clone)]
pub(crate) struct StepBatches {
    pub data: Arc<TrainData>,
    pub schedule: NoiseSchedule,
    pub prediction: Prediction,
    pub weighting: LossWeighting,
    pub seed: u64,
    pub batch_size: usize,
    /// The autodiff device the batches are made on.
    pub device: Device,
    pub from: u64,
    pub to: u64,
    /// The error behind the last failed item (burn's `DatasetError` carries only its text).
    pub error: Arc<Mutex<Option<TrainError>>>,
}

impl StepBatches {
    /// The batch of step `k`.
    pub fn batch(&self, k: u64) -> Result<DiffusionInput, TrainError> {
        let mut rng = seeded_rng(step_seed(self.seed, k));
        let batch = self
            .data
            .batch(k, self.batch_size, &mut rng, &self.device)?;
        let ts = training_sample(&self.schedule, self.prediction, batch.images, &mut rng);
        let weights = match self.weighting {
            LossWeighting::Uniform => None,
            w => Some(w.weights(&self.schedule, self.prediction, &ts.steps)),
        };
        Ok(DiffusionInput {
            x_t: ts.x_t,
            model_time: ts.model_time,
            target: ts.target,
            cond: batch.cond,
            weights,
            loss_scale: 1.0,
        })
    }

    /// No steps (burn-train asks for a validation loader; the loop validates nothing).
    pub fn empty(mut self) -> Self {
        self.to = self.from;
        self
    }

    /// The error behind a failed item.
    pub fn take_error(&self, e: DatasetError) -> TrainError {
        self.error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or_else(|| TrainError::Data(e.to_string()))
    }
}

struct Steps<'a> {
    batches: &'a StepBatches,
    next: u64,
}

impl Iterator for Steps<'_> {
    type Item = Result<DiffusionInput, DatasetError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.batches.to {
            return None;
        }
        let k = self.next;
        self.next += 1;
        Some(self.batches.batch(k).map_err(|e| {
            let text = e.to_string();
            *self.batches.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
            DatasetError::new(std::io::Error::other(text))
        }))
    }
}

impl DataLoaderIterator<DiffusionInput> for Steps<'_> {
    fn progress(&self) -> Progress {
        let b = self.batches;
        Progress::new(
            (self.next - b.from) as usize,
            (b.to - b.from) as usize,
            Some("steps".into()),
        )
    }
}

impl DataLoader<DiffusionInput> for StepBatches {
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<DiffusionInput> + 'a> {
        Box::new(Steps {
            batches: self,
            next: self.from,
        })
    }

    /// Images, not steps (burn's convention: items, not batches).
    fn num_items(&self) -> usize {
        (self.to - self.from) as usize * self.batch_size
    }

    fn to_device(&self, device: &Device) -> Arc<dyn DataLoader<DiffusionInput>> {
        let mut b = self.clone();
        b.device = device.clone();
        Arc::new(b)
    }

    /// Items `start .. end` (images) as whole steps.
    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<DiffusionInput>> {
        let mut b = self.clone();
        let bs = self.batch_size.max(1) as u64;
        b.from = (self.from + start as u64 / bs).min(self.to);
        b.to = (self.from + (end as u64).div_ceil(bs)).min(self.to);
        Arc::new(b)
    }
}
