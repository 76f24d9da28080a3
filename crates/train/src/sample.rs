//! Text-to-image sampling with classifier-free guidance.
//!
//! Prompts are processed in batches; each batch runs ONE network call per sampler step on
//! `[cond ; uncond]` (the contexts concatenated once, before the loop). The initial noise of
//! prompt `j` depends only on `(seed, j)`, so the same prompt list gives the same starting
//! points for every model (arms are compared on identical noise).

use burn::tensor::{Device, Int, Tensor, TensorData};
use ifvit_data::shapes::tensor_to_images;
use ifvit_data::tokenizer::TextTokenizer;
use ifvit_diffusion::{
    NoiseSchedule, Prediction, SamplerConfig, guided, randn, sample, seeded_rng,
};
use ifvit_fusion::FusionStrategy;
use image::RgbImage;

use crate::error::TrainError;
use crate::model::TextToImage;
use crate::text::Conditioner;
use crate::trainer::step_seed;

/// How to sample.
#[derive(Clone, Debug)]
pub struct SampleSettings {
    pub schedule: NoiseSchedule,
    pub prediction: Prediction,
    pub sampler: SamplerConfig,
    /// `w` in `eps_u + w (eps_c - eps_u)`; 1 = no guidance (one pass), U-ViT's s = w - 1.
    pub guidance: f64,
    pub seed: u64,
    pub batch_size: usize,
    /// `[C, H, W]` of the images.
    pub image_shape: [usize; 3],
}

/// Token ids `[n, L]` of `captions` (errors name the caption, e.g. an unknown word).
pub fn tokenize(
    tokenizer: &dyn TextTokenizer,
    captions: &[&str],
    device: &Device,
) -> Result<Tensor<2, Int>, TrainError> {
    let l = tokenizer.context_length();
    let mut ids = Vec::with_capacity(captions.len() * l);
    for c in captions {
        let t = tokenizer
            .encode(c)
            .map_err(|e| TrainError::Data(format!("prompt \"{c}\": {e}")))?;
        ids.extend(t.into_iter().map(|v| v as i64));
    }
    Ok(Tensor::from_data(
        TensorData::new(ids, [captions.len(), l]),
        device,
    ))
}

/// Initial noise of prompts `first .. first + n`: row `j` is drawn from `(seed, j)` alone.
fn initial_noise(
    seed: u64,
    first: usize,
    n: usize,
    shape: [usize; 3],
    device: &Device,
) -> Tensor<4> {
    let rows: Vec<Tensor<4>> = (first..first + n)
        .map(|j| {
            let mut rng = seeded_rng(step_seed(seed, j as u64));
            randn([1, shape[0], shape[1], shape[2]], &mut rng, device)
        })
        .collect();
    Tensor::cat(rows, 0)
}

/// Samples one image per prompt with `model` (use the EMA weights), in `[-1, 1]` tensors
/// converted to RGB. `on_batch(done)` is called after each batch (progress).
pub fn sample_prompts<S: FusionStrategy>(
    model: &TextToImage<S>,
    text: &dyn Conditioner,
    prompts: &[&str],
    settings: &SampleSettings,
    device: &Device,
    on_batch: &mut dyn FnMut(usize),
) -> Result<Vec<RgbImage>, TrainError> {
    let (schedule, prediction) = (&settings.schedule, settings.prediction);
    ifvit_diffusion::check_guidance(settings.guidance)?;
    settings.sampler.validate(schedule.num_steps())?;
    // Check every prompt before any compute.
    let _ = text.context(model, prompts, device)?;
    let mut images = Vec::with_capacity(prompts.len());
    let bs = settings.batch_size.max(1);
    for (bi, chunk) in prompts.chunks(bs).enumerate() {
        let first = bi * bs;
        let n = chunk.len();
        let cond = text.context(model, chunk, device)?; // [n, L, D]
        let x_t = initial_noise(settings.seed, first, n, settings.image_shape, device);
        let mut rng = seeded_rng(step_seed(settings.seed ^ 0x005A_3B1E, first as u64));
        let x0 = if settings.guidance == 1.0 {
            sample(
                &settings.sampler,
                schedule,
                prediction,
                x_t,
                &mut rng,
                |x, t| model.forward(x, t, cond.clone()),
            )?
        } else {
            let empty = vec![""; n];
            let uncond = text.context(model, &empty, device)?; // [n, L, D]: context of ""
            let ctx2 = Tensor::cat(vec![cond, uncond], 0); // [2n, L, D]: [cond ; uncond]
            let model_fn = guided(settings.guidance, |x2, t2| {
                model.forward(x2, t2, ctx2.clone())
            })?;
            sample(
                &settings.sampler,
                schedule,
                prediction,
                x_t,
                &mut rng,
                model_fn,
            )?
        };
        images.extend(tensor_to_images(x0).map_err(|e| TrainError::Other(e.to_string()))?);
        on_batch(first + n);
    }
    Ok(images)
}
