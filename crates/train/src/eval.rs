//! Alignment evaluation on `shapes` evaluation prompts (seen or unseen compositions) with the
//! exact scorer.

use std::time::Instant;

use burn::tensor::Device;
use ifvit_data::shapes::{Prompt, Split, eval_prompts};
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

/// Mixed into `eval.seed` for the unseen prompts' noise.
const UNSEEN_NOISE: u64 = 0x756E_7365_656E; // "unseen"

/// Scores of one model on the evaluation prompts of one split.
pub struct EvalOutcome {
    pub prompts: Vec<Prompt>,
    pub images: Vec<RgbImage>,
    pub report: AlignmentReport,
    /// Per prompt, in order: every check passed (the items of paired tests).
    pub all_correct: Vec<bool>,
    /// Seconds spent sampling (scoring excluded).
    pub sample_seconds: f64,
    /// Network evaluations per image (x2 batch rows with guidance).
    pub nfe: usize,
}

/// Samples `n` evaluation prompts of `split` (`eval_prompts`; the ablation asks for
/// `eval.prompts` seen and `eval.unseen_prompts` unseen ones) and scores them; the noise
/// comes from `eval.seed` (unseen prompts use a different stream than seen ones).
pub fn evaluate<S: FusionStrategy>(
    model: &TextToImage<S>,
    text: &dyn Conditioner,
    cfg: &ExperimentConfig,
    split: Split,
    n: usize,
    device: &Device,
    on_batch: &mut dyn FnMut(usize),
) -> Result<EvalOutcome, TrainError> {
    let shapes = shapes_config(&cfg.data).ok_or_else(|| {
        TrainError::Data("alignment evaluation needs the `shapes` data (its exact scorer)".into())
    })?;
    let eval = &cfg.eval;
    let schedule = NoiseSchedule::new(cfg.diffusion.schedule, cfg.diffusion.num_steps)?;
    let prediction = cfg.diffusion.prediction;
    let prompts = eval_prompts(shapes, n, split).map_err(|e| TrainError::Data(e.to_string()))?;
    let captions: Vec<&str> = prompts.iter().map(|p| p.caption.as_str()).collect();
    let settings = SampleSettings {
        schedule,
        prediction,
        sampler: eval.sampler.clone(),
        guidance: eval.guidance,
        seed: match split {
            Split::Seen => eval.seed,
            Split::Unseen => eval.seed ^ UNSEEN_NOISE,
        },
        batch_size: eval.batch_size,
        image_shape: [3, shapes.image_size as usize, shapes.image_size as usize],
    };
    let t0 = Instant::now();
    let images = sample_prompts(model, text, &captions, &settings, device, on_batch)?;
    let sample_seconds = t0.elapsed().as_secs_f64();
    let scores = ShapesScorer::default()
        .score_all(&images, &captions)
        .map_err(|e| TrainError::Other(e.to_string()))?;
    Ok(EvalOutcome {
        prompts,
        images,
        report: AlignmentReport::from_scores(&scores),
        all_correct: scores.iter().map(|s| s.all_correct).collect(),
        sample_seconds,
        nfe: eval.sampler.nfe(),
    })
}
