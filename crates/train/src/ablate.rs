//! The fusion ablation: train every arm under the same budget (same seed, data order and
//! steps), evaluate each (on `shapes`: the exact alignment scorer), and write a report.
//!
//! Layout of the output folder:
//! ```text
//! OUT/config.ron                     the experiment config as run
//! OUT/arms/<arm>/                    one training run per arm (resumable)
//! OUT/grids/<arm>.png, grids/all.png samples for the same prompts and noise
//! OUT/report.md results.csv results.json loss.png alignment_vs_gmacs.png throughput.png
//! ```
//! Re-running the same command on the same folder resumes: finished arms are not retrained
//! (their final checkpoint is loaded), interrupted ones continue from their last checkpoint.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use burn::module::Module;
use burn::tensor::Device;
use ifvit_data::fashion_mnist::FashionDataset;
use ifvit_data::shapes::held_out_prompts;
use ifvit_diffusion::NoiseSchedule;
use ifvit_fusion::Fusion;
use ifvit_metrics::shapes::{Bounds, bounds};
use ifvit_metrics::{AlignmentReport, ShapesScorer, caption_grid};
use ifvit_uvit::forward_cost;
use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::checkpoint::write_atomic;
use crate::config::{DataConfig, ExperimentConfig};
use crate::data::{TrainData, shapes_config};
use crate::error::TrainError;
use crate::eval::evaluate;
use crate::model::TextToImage;
use crate::sample::{SampleSettings, sample_prompts};
use crate::trainer::{TrainOptions, TrainProgress, train};

/// Progress of the whole ablation (the CLI draws bars and an overall ETA).
pub trait AblationProgress {
    /// Total work units: training steps plus evaluation cost expressed in the same units.
    fn plan(&mut self, _total_units: f64) {}
    /// A new phase with `len` items (steps or images).
    fn phase(&mut self, _label: &str, _len: u64) {}
    /// Position in the current phase; `units` of overall work done in total.
    fn advance(&mut self, _pos: u64, _units: f64, _msg: Option<String>) {}
    fn finish(&mut self) {}
}

/// No display.
pub struct Quiet;
impl AblationProgress for Quiet {}

/// One arm's numbers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ArmResult {
    /// `early-concat`, `intermediate-crossattn(c=1,v=1)`, ...
    pub arm: String,
    pub fusion: Fusion,
    pub params: usize,
    /// Forward GMACs per sample (analytic).
    pub gmacs: f64,
    pub gmacs_ratio_to_first_arm: f64,
    pub train_steps: u64,
    pub batch_size: usize,
    /// Seconds of optimizer steps (checkpoint writes excluded), all sessions.
    pub train_seconds: f64,
    /// Training throughput (images/s) and mean step time over all steps.
    pub train_images_per_s: f64,
    pub step_ms: f64,
    /// Mean loss over the last 10% of steps.
    pub final_loss: f64,
    /// Exact alignment on the held-out prompts (`shapes` data only).
    pub alignment: Option<AlignmentReport>,
    pub sample_seconds: f64,
    /// FID of the guided evaluation samples against the shapes reference (`quality.fid`
    /// has KID and the sample count); `None` with the reason in `quality.fid_absent`.
    pub fid: Option<f64>,
    /// CLIP score, or why it is absent (no CLIP weights on this machine).
    pub clip_score: crate::eval_run::ClipField,
    /// FID/KID and the attention-rank analysis (`arm_quality`).
    #[serde(default)]
    pub quality: crate::arm_quality::ArmQuality,
    /// The arm's run folder (config, loss log, checkpoints).
    pub run_dir: PathBuf,
}

/// All of it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AblationResults {
    pub name: String,
    /// An untrained model (random init of the first arm) sampled and scored the same way:
    /// the chance level of the alignment metrics (`shapes` data only).
    pub chance: Option<AlignmentReport>,
    /// Real `shapes` images of the evaluation prompts scored against their own caption
    /// (the scorer's ceiling) and against another caption of the same aspect (chance for a
    /// model that draws plausible scenes but ignores the text). `shapes` data only.
    #[serde(default)]
    pub bounds: Option<Bounds>,
    pub arms: Vec<ArmResult>,
    pub eval_prompts: usize,
    pub sampler: String,
    pub guidance: f64,
    pub total_seconds: f64,
    pub machine: String,
    pub device: String,
    /// The shapes FID reference and the seconds to load it and the Inception.
    #[serde(default)]
    pub fid_reference: Option<crate::quality::ReferenceInfo>,
    #[serde(default)]
    pub quality_setup_seconds: f64,
}

/// Short folder name of an arm.
pub fn slug(f: Fusion) -> String {
    f.slug()
}

/// What this machine is (for the report).
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!("{cpu}, {cores} cores, {}", std::env::consts::OS)
}

struct TrainBridge<'a> {
    p: &'a mut dyn AblationProgress,
    base_units: f64,
}

impl TrainProgress for TrainBridge<'_> {
    fn step(&mut self, step: u64, loss: Option<f64>) {
        self.p.advance(
            step,
            self.base_units + step as f64,
            loss.map(|l| format!("loss {l:.4}")),
        );
    }
}

/// Cost of sampling one image in training-step units (one step = 3 forwards of a batch).
fn eval_units_per_image(cfg: &ExperimentConfig) -> f64 {
    let passes = if cfg.eval.guidance == 1.0 { 1.0 } else { 2.0 };
    cfg.eval.sampler.nfe() as f64 * passes / (3.0 * cfg.train.batch_size as f64)
}

/// Captions shown in the sample grids: held-out `shapes` prompts, one per Fashion-MNIST
/// class, none for feature caches (no decoder to turn latents into images).
fn grid_captions(cfg: &ExperimentConfig) -> Result<Vec<String>, TrainError> {
    let n = cfg.eval.grid_prompts.max(1);
    Ok(match &cfg.data {
        DataConfig::Shapes(s) => held_out_prompts(s, n)
            .map_err(|e| TrainError::Data(e.to_string()))?
            .into_iter()
            .map(|p| p.caption)
            .collect(),
        DataConfig::FashionMnist(_) => (0..10u8)
            .take(n)
            .map(|l| FashionDataset::captions(l)[0].clone())
            .collect(),
        DataConfig::CocoCache(_) => Vec::new(),
    })
}

fn save_png(img: &RgbImage, path: &Path) -> Result<(), TrainError> {
    img.save(path).map_err(|e| TrainError::Output {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// Runs the whole ablation into `out`.
pub fn ablate(
    cfg: &ExperimentConfig,
    out: &Path,
    device: &Device,
    interrupt: Option<Arc<AtomicBool>>,
    progress: &mut dyn AblationProgress,
) -> Result<AblationResults, TrainError> {
    let t_start = Instant::now();
    crate::preflight::check_output_dir(out, 0)?;
    write_atomic(&out.join("config.ron"), cfg.to_ron().as_bytes())?;
    let grids = out.join("grids");
    std::fs::create_dir_all(&grids).map_err(|e| crate::checkpoint::io_err(&grids, e))?;

    let first_cfg = cfg.uvit(cfg.arms[0])?;
    let data = TrainData::open(cfg, &first_cfg, device)?;
    let (image_shape, _) = data.shapes();
    // The text side is opened once and shared by every arm's grid and evaluation (a frozen
    // encoder's caption features are computed once).
    let text = data.text().cloned();
    let shapes = shapes_config(&cfg.data);
    let scored = shapes.is_some();

    let per_img = eval_units_per_image(cfg);
    let eval_units = if scored {
        cfg.eval.prompts as f64 * per_img
    } else {
        0.0
    };
    progress.plan(eval_units + cfg.arms.len() as f64 * (cfg.train.steps as f64 + eval_units));

    // Grid prompts: the same prompts and initial noise for every arm.
    let captions = if text.is_some() {
        grid_captions(cfg)?
    } else {
        Vec::new()
    };
    let caption_refs: Vec<&str> = captions.iter().map(String::as_str).collect();
    let settings = SampleSettings {
        schedule: NoiseSchedule::new(cfg.diffusion.schedule, cfg.diffusion.num_steps)?,
        prediction: cfg.diffusion.prediction,
        sampler: cfg.eval.sampler.clone(),
        guidance: cfg.eval.guidance,
        seed: cfg.eval.seed,
        batch_size: cfg.eval.batch_size,
        image_shape,
    };
    let mut all_images = Vec::new();
    let mut all_captions = Vec::new();
    let mut grid = |model: &TextToImage, label: &str| -> Result<Vec<RgbImage>, TrainError> {
        let Some(tok) = &text else {
            return Ok(Vec::new());
        };
        let images = sample_prompts(model, tok, &caption_refs, &settings, device, &mut |_| {})?;
        all_images.extend(images.iter().cloned());
        all_captions.extend(captions.iter().map(|c| format!("{label}: {c}")));
        Ok(images)
    };

    // Chance level: an untrained model of the first arm, sampled and scored the same way.
    let untrained = TextToImage::seeded(&first_cfg, data.vocab_size(), device, cfg.train.seed)?;
    let mut units = 0.0;
    let chance = match &text {
        Some(tok) if scored => {
            progress.phase("chance: untrained model", cfg.eval.prompts as u64);
            let ev = evaluate(&untrained, tok, cfg, device, &mut |done| {
                progress.advance(done as u64, done as f64 * per_img, None)
            })?;
            units += eval_units;
            Some(ev.report)
        }
        _ => None,
    };
    grid(&untrained, "untrained")?;
    drop(untrained);
    let bounds = match &cfg.data {
        DataConfig::Shapes(s) if scored => {
            let prompts = held_out_prompts(s, cfg.eval.prompts)
                .map_err(|e| TrainError::Data(e.to_string()))?;
            Some(
                bounds(s, &prompts, &ShapesScorer::default(), cfg.eval.seed)
                    .map_err(|e| TrainError::Data(e.to_string()))?,
            )
        }
        _ => None,
    };

    if cfg.eval.fid_images > 0 {
        progress.phase("FID Inception and reference statistics", 1);
    }
    let quality = crate::arm_quality::QualityContext::open(cfg, device)?;
    let base_gmacs = forward_cost(&first_cfg).gmacs();
    let mut arms = Vec::new();
    for &fusion in &cfg.arms {
        let name = fusion.to_string();
        let run_dir = out.join("arms").join(slug(fusion));
        let ucfg = cfg.uvit(fusion)?;
        let done = crate::checkpoint::CheckpointDir::new(&run_dir)
            .latest()
            .ok()
            .map(|c| c.state.step)
            .unwrap_or(0);
        progress.phase(&format!("train {name}"), cfg.train.steps);
        let opts = TrainOptions {
            out_dir: run_dir.clone(),
            fusion,
            resume: done > 0,
            extend_to: None,
            stop_at: None,
            interrupt: interrupt.clone(),
            extra_devices: vec![],
        };
        let outcome = train(
            cfg,
            &opts,
            device,
            &mut TrainBridge {
                p: progress,
                base_units: units,
            },
        )?;
        if outcome.stopped_early {
            return Err(TrainError::Other(format!(
                "interrupted while training {name} at step {} (checkpoint saved); run the same \
                 command again to resume",
                outcome.state.step
            )));
        }
        units += cfg.train.steps as f64;
        let ema = outcome.ema.clone();

        let mut arm_quality = crate::arm_quality::ArmQuality::default();
        let (alignment, sample_seconds) = match &text {
            Some(tok) if scored => {
                progress.phase(&format!("evaluate {name}"), cfg.eval.prompts as u64);
                let base = units;
                let ev = evaluate(&ema, tok, cfg, device, &mut |d| {
                    progress.advance(d as u64, base + d as f64 * per_img, None)
                })?;
                units += eval_units;
                progress.phase(&format!("FID/KID and attention rank {name}"), 1);
                arm_quality = quality.arm(&ema, tok, cfg, &name, &ev, &run_dir, device)?;
                (Some(ev.report), ev.sample_seconds)
            }
            _ => (None, 0.0),
        };
        let images = grid(&ema, &slug(fusion))?;
        if !images.is_empty() {
            save_png(
                &caption_grid(&images, &captions, images.len().min(8)),
                &grids.join(format!("{}.png", slug(fusion))),
            )?;
        }

        let n = outcome.losses.len();
        let tail = &outcome.losses[n - (n / 10).max(1).min(n)..];
        let final_loss = tail.iter().map(|l| l.1).sum::<f64>() / tail.len().max(1) as f64;
        let gmacs = forward_cost(&ucfg).gmacs();
        let steps = outcome.state.step;
        arms.push(ArmResult {
            arm: name,
            fusion,
            params: ema.num_params(),
            gmacs,
            gmacs_ratio_to_first_arm: gmacs / base_gmacs,
            train_steps: steps,
            batch_size: cfg.train.batch_size,
            train_seconds: outcome.state.train_seconds,
            train_images_per_s: steps as f64 * cfg.train.batch_size as f64
                / outcome.state.train_seconds.max(1e-9),
            step_ms: outcome.state.train_seconds / steps.max(1) as f64 * 1e3,
            final_loss,
            alignment,
            sample_seconds,
            fid: arm_quality.fid.as_ref().map(|f| f.fid),
            clip_score: crate::eval_run::ClipField::no_weights(),
            quality: arm_quality,
            run_dir,
        });
    }
    if !all_images.is_empty() {
        save_png(
            &caption_grid(&all_images, &all_captions, captions.len()),
            &grids.join("all.png"),
        )?;
    }

    let results = AblationResults {
        name: cfg.name.clone(),
        chance,
        bounds,
        arms,
        eval_prompts: if scored { cfg.eval.prompts } else { 0 },
        sampler: format!(
            "{} ({} NFE)",
            cfg.eval.sampler.name(),
            cfg.eval.sampler.nfe()
        ),
        guidance: cfg.eval.guidance,
        total_seconds: t_start.elapsed().as_secs_f64(),
        machine: machine(),
        device: format!("{device:?}"),
        fid_reference: quality.reference_info.clone(),
        quality_setup_seconds: quality.setup_seconds,
    };
    crate::report::write_all(&results, cfg, out)?;
    progress.finish();
    Ok(results)
}
