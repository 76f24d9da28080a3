//! burn-train's step contract for the diffusion objective.
//!
//! The diffusion crate draws the timesteps and noise and builds `x_t` and the target; the
//! step predicts and takes the loss (SPEC: mean over C, H, W, then over the batch), so the
//! model stays ignorant of betas. `TextToImage` implements burn-train's `TrainStep` and
//! `InferenceStep`, so it also plugs into burn-train's `SupervisedTraining` / `Learner`.

use burn::tensor::ExecutionError;
use burn::tensor::Tensor;
use burn::train::metric::{Adaptor, ItemLazy, LossInput};
use burn::train::{InferenceStep, TrainOutput, TrainStep};

use crate::data::Conditioning;
use ifvit_fusion::FusionStrategy;

use crate::model::TextToImage;

/// One batch, ready for the network.
#[derive(Clone, Debug)]
pub struct DiffusionInput {
    /// `[B, C, H, W]` noisy inputs.
    pub x_t: Tensor<4>,
    /// `[B]` model time.
    pub model_time: Tensor<1>,
    /// `[B, C, H, W]` regression target (epsilon, x0 or v).
    pub target: Tensor<4>,
    /// The captions: token ids `[B, L]` or features `[B, L, D]` (the empty caption's where
    /// dropped).
    pub cond: Conditioning,
    /// Per-sample loss weights (`None`: uniform).
    pub weights: Option<Vec<f64>>,
    /// Multiplies the loss before backward (data-parallel shards use `shard / batch`).
    pub loss_scale: f64,
}

/// What a step returns besides the gradients.
#[derive(Clone, Debug)]
pub struct DiffusionOutput {
    /// `[1]` the (unscaled) batch loss, still on the device.
    pub loss: Tensor<1>,
    /// Images in the batch (the throughput metric counts them).
    pub images: usize,
}

impl Adaptor<LossInput> for DiffusionOutput {
    fn adapt(&self) -> LossInput {
        LossInput::new(self.loss.clone())
    }
}

impl ItemLazy for DiffusionOutput {
    fn sync(self) -> Result<Self, ExecutionError> {
        Ok(self)
    }
}

impl<S: FusionStrategy> TextToImage<S> {
    /// Prediction and loss of one batch.
    pub fn diffusion_loss(&self, input: &DiffusionInput) -> Tensor<1> {
        let ctx = self.context_of(&input.cond);
        let pred = self.forward(input.x_t.clone(), input.model_time.clone(), ctx);
        match &input.weights {
            None => ifvit_diffusion::diffusion_loss(pred, input.target.clone()),
            Some(w) => ifvit_diffusion::weighted_diffusion_loss(pred, input.target.clone(), w),
        }
    }
}

impl<S: FusionStrategy> TrainStep for TextToImage<S> {
    type Input = DiffusionInput;
    type Output = DiffusionOutput;

    fn step(&self, input: DiffusionInput) -> TrainOutput<DiffusionOutput> {
        let loss = self.diffusion_loss(&input);
        let scaled = if input.loss_scale == 1.0 {
            loss.clone()
        } else {
            loss.clone().mul_scalar(input.loss_scale)
        };
        TrainOutput::new(
            self,
            scaled.backward(),
            DiffusionOutput {
                loss: loss.detach(),
                images: input.x_t.dims()[0],
            },
        )
    }
}

impl<S: FusionStrategy> InferenceStep for TextToImage<S> {
    type Input = DiffusionInput;
    type Output = DiffusionOutput;

    fn step(&self, input: DiffusionInput) -> DiffusionOutput {
        DiffusionOutput {
            loss: self.diffusion_loss(&input),
            images: input.x_t.dims()[0],
        }
    }
}
