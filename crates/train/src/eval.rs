//! Alignment evaluation on the held-out `shapes` prompts with the exact scorer.

use std::time::Instant;

use burn::tensor::Device;
use ifvit_data::shapes::{Prompt, held_out_prompts};
use ifvit_diffusion::NoiseSchedule;
use ifvit_fusion::FusionStrategy;
use ifvit_metrics::{AlignmentReport, ShapesScorer};
use image::RgbImage;

use crate::config::ExperimentConfig;
use crate::data::shapes_config;
use crate::error::TrainError;
use crate::model::TextToImage;
use crate::sample::{SampleSettings, sample_prompts};
use crate::text::Conditioner;

/// Scores of one model on the held-out prompts.
pub struct EvalOutcome {
    pub prompts: Vec<Prompt>,
    pub images: Vec<RgbImage>,
    pub report: AlignmentReport,
    /// Seconds spent sampling (scoring excluded).
    pub sample_seconds: f64,
    /// Network evaluations per image (x2 batch rows with guidance).
    pub nfe: usize,
}

/// Samples the `eval.prompts` held-out prompts and scores them.
pub fn evaluate<S: FusionStrategy>(
    model: &TextToImage<S>,
    text: &dyn Conditioner,
    cfg: &ExperimentConfig,
    device: &Device,
    on_batch: &mut dyn FnMut(usize),
) -> Result<EvalOutcome, TrainError> {
    let shapes = shapes_config(&cfg.data).ok_or_else(|| {
        TrainError::Data("alignment evaluation needs the `shapes` data (its exact scorer)".into())
    })?;
    let eval = &cfg.eval;
    let schedule = NoiseSchedule::new(cfg.diffusion.schedule, cfg.diffusion.num_steps)?;
    let prediction = cfg.diffusion.prediction;
    let prompts =
        held_out_prompts(shapes, eval.prompts).map_err(|e| TrainError::Data(e.to_string()))?;
    let captions: Vec<&str> = prompts.iter().map(|p| p.caption.as_str()).collect();
    let settings = SampleSettings {
        schedule,
        prediction,
        sampler: eval.sampler.clone(),
        guidance: eval.guidance,
        seed: eval.seed,
        batch_size: eval.batch_size,
        image_shape: [3, shapes.image_size as usize, shapes.image_size as usize],
    };
    let t0 = Instant::now();
    let images = sample_prompts(model, text, &captions, &settings, device, on_batch)?;
    let sample_seconds = t0.elapsed().as_secs_f64();
    let report = ShapesScorer::default()
        .report(&images, &captions)
        .map_err(|e| TrainError::Other(e.to_string()))?;
    Ok(EvalOutcome {
        prompts,
        images,
        report,
        sample_seconds,
        nfe: eval.sampler.nfe(),
    })
}
