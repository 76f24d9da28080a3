//! Training throughput in images per second, as a burn-train numeric metric.

use std::sync::Arc;
use std::time::Instant;

use burn::tensor::TensorReadError;
use burn::train::metric::state::{FormatOptions, NumericMetricState};
use burn::train::metric::{
    Adaptor, Metric, MetricAttributes, MetricMetadata, MetricName, Numeric, NumericAttributes,
    NumericEntry, SerializedEntry,
};

use crate::step::DiffusionOutput;

/// Images in one step's batch.
pub(crate) struct Images(pub usize);

impl Adaptor<Images> for DiffusionOutput {
    fn adapt(&self) -> Images {
        Images(self.images)
    }
}

/// Images per second between consecutive steps (the first step of a session counts from
/// the metric's creation).
#[derive(Clone)]
pub(crate) struct ImagesPerSecond {
    name: MetricName,
    state: NumericMetricState,
    last: Option<Instant>,
}

impl ImagesPerSecond {
    pub fn new() -> Self {
        Self {
            name: Arc::new("Throughput".to_string()),
            state: NumericMetricState::new(),
            last: None,
        }
    }

    fn format(&self) -> FormatOptions {
        FormatOptions::new(self.name()).unit("img/s").precision(1)
    }
}

impl Metric for ImagesPerSecond {
    type Input = Images;

    fn name(&self) -> MetricName {
        self.name.clone()
    }

    fn update(
        &mut self,
        item: &Images,
        _metadata: &MetricMetadata,
    ) -> Result<SerializedEntry, TensorReadError> {
        let now = Instant::now();
        let rate = match self.last {
            Some(t) => item.0 as f64 / now.duration_since(t).as_secs_f64().max(1e-9),
            None => 0.0,
        };
        self.last = Some(now);
        self.state.update(rate, 1);
        Ok(self.state.compute_update(self.format()))
    }

    fn compute(&mut self) -> Result<SerializedEntry, TensorReadError> {
        Ok(self.state.compute_final(self.format()))
    }

    fn clear(&mut self) {
        self.state.reset();
        self.last = None;
    }

    fn attributes(&self) -> MetricAttributes {
        NumericAttributes {
            unit: Some("img/s".into()),
            higher_is_better: true,
        }
        .into()
    }
}

impl Numeric for ImagesPerSecond {
    fn value(&self) -> Option<NumericEntry> {
        Some(self.state.current_value())
    }

    fn running_value(&self) -> Option<NumericEntry> {
        Some(self.state.running_value())
    }

    fn final_value(&self) -> NumericEntry {
        self.state.final_value()
    }
}
