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
//!
//! [`ablate`] runs the config's arms; [`ablate_arms`] runs any list of [`Arm`]s, a library
//! user's own [`FusionStrategy`] included (see `examples/custom_strategy.rs`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use burn::module::Module;
use burn::tensor::Device;
use ifvit_data::fashion_mnist::FashionDataset;
use ifvit_data::shapes::held_out_prompts;
use ifvit_diffusion::NoiseSchedule;
use ifvit_fusion::{Fusion, FusionStrategy};
use ifvit_metrics::shapes::{Bounds, bounds};
use ifvit_metrics::{AlignmentReport, ShapesScorer, caption_grid};
use ifvit_uvit::forward_cost;
use image::RgbImage;
use serde::{Deserialize, Serialize};

pub use crate::arm::Arm;
use crate::arm_quality::{ArmQuality, QualityContext};
use crate::checkpoint::{CheckpointDir, io_err, write_atomic};
use crate::config::{DataConfig, ExperimentConfig};
use crate::data::{TrainData, shapes_config};
use crate::error::TrainError;
use crate::eval::{EvalOutcome, evaluate};
use crate::eval_run::ClipField;
use crate::model::TextToImage;
use crate::sample::{SampleSettings, sample_prompts};
use crate::text::TextSide;
use crate::trainer::{TrainOptions, TrainOutcome, TrainProgress, train};

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
    /// The config-level name; `None` for a library user's own strategy.
    pub fusion: Option<Fusion>,
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

/// Runs the whole ablation of the config's arms into `out`.
pub fn ablate(
    cfg: &ExperimentConfig,
    out: &Path,
    device: &Device,
    interrupt: Option<Arc<AtomicBool>>,
    progress: &mut dyn AblationProgress,
) -> Result<AblationResults, TrainError> {
    let arms: Vec<Arm> = cfg.arms.iter().copied().map(Arm::from).collect();
    ablate_arms(cfg, &arms, out, device, interrupt, progress)
}

/// Runs the ablation of `arms` (any fusion strategies; `cfg.arms` is not used) under the
/// budget, data and evaluation of `cfg`, into `out`.
pub fn ablate_arms(
    cfg: &ExperimentConfig,
    arms: &[Arm],
    out: &Path,
    device: &Device,
    interrupt: Option<Arc<AtomicBool>>,
    progress: &mut dyn AblationProgress,
) -> Result<AblationResults, TrainError> {
    let t_start = Instant::now();
    let first = arms
        .first()
        .ok_or_else(|| TrainError::Other("an ablation needs at least one arm".into()))?;
    prepare_output(cfg, arms, out)?;
    let mut ab = first.runner.open(cfg, out, device, interrupt, progress)?;
    ab.progress.plan(ab.planned_units(arms.len()));
    let chance = first.runner.chance(&mut ab)?;
    let bounds = shapes_bounds(cfg)?;
    let mut results = Vec::with_capacity(arms.len());
    for arm in arms {
        results.push(arm.runner.run(&mut ab, arm)?);
    }
    ab.grid.save_all()?;
    let results = AblationResults {
        name: cfg.name.clone(),
        chance,
        bounds,
        arms: results,
        eval_prompts: if ab.scored { cfg.eval.prompts } else { 0 },
        sampler: format!(
            "{} ({} NFE)",
            cfg.eval.sampler.name(),
            cfg.eval.sampler.nfe()
        ),
        guidance: cfg.eval.guidance,
        total_seconds: t_start.elapsed().as_secs_f64(),
        machine: machine(),
        device: format!("{device:?}"),
        fid_reference: ab.quality.reference_info.clone(),
        quality_setup_seconds: ab.quality.setup_seconds,
    };
    crate::report::write_all(&results, cfg, out)?;
    ab.progress.finish();
    Ok(results)
}

/// Checks the output folder and writes `OUT/config.ron` (`arms` = the arms run; a user's
/// own strategies, which RON cannot name, are listed in a comment above it).
fn prepare_output(cfg: &ExperimentConfig, arms: &[Arm], out: &Path) -> Result<(), TrainError> {
    crate::preflight::check_output_dir(out, 0)?;
    let mut c = cfg.clone();
    let mut text = String::new();
    match arms
        .iter()
        .map(|a| a.fusion)
        .collect::<Option<Vec<Fusion>>>()
    {
        Some(builtin) => c.arms = builtin,
        None => {
            text.push_str("// Arms run (user-defined strategies; `arms` below is not used):\n");
            for a in arms {
                text.push_str(&format!("//   {}\n", a.name));
            }
        }
    }
    text.push_str(&c.to_ron());
    write_atomic(&out.join("config.ron"), text.as_bytes())?;
    let grids = out.join("grids");
    std::fs::create_dir_all(&grids).map_err(|e| io_err(&grids, e))?;
    Ok(())
}

/// The scorer's ceiling and caption-swap chance on the evaluation prompts (`shapes` only).
fn shapes_bounds(cfg: &ExperimentConfig) -> Result<Option<Bounds>, TrainError> {
    let DataConfig::Shapes(s) = &cfg.data else {
        return Ok(None);
    };
    let prompts =
        held_out_prompts(s, cfg.eval.prompts).map_err(|e| TrainError::Data(e.to_string()))?;
    let b = bounds(s, &prompts, &ShapesScorer::default(), cfg.eval.seed)
        .map_err(|e| TrainError::Data(e.to_string()))?;
    Ok(Some(b))
}

/// What an arm does in an ablation, whatever its strategy type (`Arm` holds it boxed).
pub(crate) trait RunArm {
    /// Opens the data and text side (sized by this arm's model) shared by all arms.
    fn open<'a>(
        &self,
        cfg: &'a ExperimentConfig,
        out: &'a Path,
        device: &'a Device,
        interrupt: Option<Arc<AtomicBool>>,
        progress: &'a mut dyn AblationProgress,
    ) -> Result<Ablation<'a>, TrainError>;
    /// Samples and scores an untrained model of this arm (the chance level); its grid too.
    fn chance(&self, ab: &mut Ablation<'_>) -> Result<Option<AlignmentReport>, TrainError>;
    /// Trains, evaluates and draws the grid of this arm.
    fn run(&self, ab: &mut Ablation<'_>, arm: &Arm) -> Result<ArmResult, TrainError>;
}

impl<S: FusionStrategy> RunArm for S {
    fn open<'a>(
        &self,
        cfg: &'a ExperimentConfig,
        out: &'a Path,
        device: &'a Device,
        interrupt: Option<Arc<AtomicBool>>,
        progress: &'a mut dyn AblationProgress,
    ) -> Result<Ablation<'a>, TrainError> {
        Ablation::open(cfg, self.clone(), out, device, interrupt, progress)
    }

    fn chance(&self, ab: &mut Ablation<'_>) -> Result<Option<AlignmentReport>, TrainError> {
        ab.chance(self.clone())
    }

    fn run(&self, ab: &mut Ablation<'_>, arm: &Arm) -> Result<ArmResult, TrainError> {
        ab.arm(self.clone(), arm)
    }
}

/// The state shared by the arms of one ablation.
pub(crate) struct Ablation<'a> {
    cfg: &'a ExperimentConfig,
    out: &'a Path,
    device: &'a Device,
    interrupt: Option<Arc<AtomicBool>>,
    progress: &'a mut dyn AblationProgress,
    /// The text side, opened once: a frozen encoder's caption features are computed once.
    text: Option<TextSide>,
    vocab: Option<usize>,
    scored: bool,
    /// Evaluation cost of one image, in training-step units.
    per_img: f64,
    /// Work units done so far (training steps plus evaluation).
    units: f64,
    /// GMACs of the first arm (the report's ratio column).
    base_gmacs: f64,
    grid: Grids,
    /// The FID Inception and shapes reference (or why not), loaded once.
    quality: QualityContext,
}

impl<'a> Ablation<'a> {
    fn open<S: FusionStrategy>(
        cfg: &'a ExperimentConfig,
        first: S,
        out: &'a Path,
        device: &'a Device,
        interrupt: Option<Arc<AtomicBool>>,
        progress: &'a mut dyn AblationProgress,
    ) -> Result<Self, TrainError> {
        let first_cfg = cfg.uvit_with(first)?;
        let data = TrainData::open(cfg, &first_cfg, device)?;
        let (image_shape, _) = data.shapes();
        let text = data.text().cloned();
        let captions = if text.is_some() {
            grid_captions(cfg)?
        } else {
            Vec::new()
        };
        if cfg.eval.fid_images > 0 {
            progress.phase("FID Inception and reference statistics", 1);
        }
        let quality = QualityContext::open(cfg, device)?;
        let settings = SampleSettings {
            schedule: NoiseSchedule::new(cfg.diffusion.schedule, cfg.diffusion.num_steps)?,
            prediction: cfg.diffusion.prediction,
            sampler: cfg.eval.sampler.clone(),
            guidance: cfg.eval.guidance,
            seed: cfg.eval.seed,
            batch_size: cfg.eval.batch_size,
            image_shape,
        };
        Ok(Self {
            cfg,
            out,
            device,
            interrupt,
            progress,
            text,
            vocab: data.vocab_size(),
            scored: shapes_config(&cfg.data).is_some(),
            per_img: eval_units_per_image(cfg),
            units: 0.0,
            base_gmacs: forward_cost(&first_cfg).gmacs(),
            grid: Grids {
                dir: out.join("grids"),
                captions,
                settings,
                images: Vec::new(),
                labels: Vec::new(),
            },
            quality,
        })
    }

    /// Evaluation work of one model, in training-step units (0 when nothing is scored).
    fn eval_units(&self) -> f64 {
        if self.scored {
            self.cfg.eval.prompts as f64 * self.per_img
        } else {
            0.0
        }
    }

    fn planned_units(&self, arms: usize) -> f64 {
        self.eval_units() + arms as f64 * (self.cfg.train.steps as f64 + self.eval_units())
    }

    /// Samples and scores `model` on the held-out prompts (`None` unless `shapes`).
    fn score<S: FusionStrategy>(
        &mut self,
        model: &TextToImage<S>,
        phase: &str,
    ) -> Result<Option<EvalOutcome>, TrainError> {
        let Some(tok) = self.text.as_ref().filter(|_| self.scored) else {
            return Ok(None);
        };
        self.progress.phase(phase, self.cfg.eval.prompts as u64);
        let (base, per_img, progress) = (self.units, self.per_img, &mut *self.progress);
        let ev = evaluate(model, tok, self.cfg, self.device, &mut |d| {
            progress.advance(d as u64, base + d as f64 * per_img, None)
        })?;
        self.units += self.eval_units();
        Ok(Some(ev))
    }

    /// Chance level: an untrained model of `strategy`, sampled and scored like the arms.
    fn chance<S: FusionStrategy>(
        &mut self,
        strategy: S,
    ) -> Result<Option<AlignmentReport>, TrainError> {
        let ucfg = self.cfg.uvit_with(strategy)?;
        let untrained = TextToImage::seeded(&ucfg, self.vocab, self.device, self.cfg.train.seed)?;
        let report = self
            .score(&untrained, "chance: untrained model")?
            .map(|ev| ev.report);
        self.grid
            .draw(&untrained, self.text.as_ref(), "untrained", self.device)?;
        Ok(report)
    }

    /// Trains (or resumes) one arm in `OUT/arms/<slug>`.
    fn train<S: FusionStrategy>(
        &mut self,
        strategy: S,
        arm: &Arm,
    ) -> Result<TrainOutcome<S>, TrainError> {
        let run_dir = self.out.join("arms").join(&arm.slug);
        let done = CheckpointDir::new(&run_dir)
            .latest()
            .map(|c| c.state.step)
            .unwrap_or(0);
        self.progress
            .phase(&format!("train {}", arm.name), self.cfg.train.steps);
        let opts = TrainOptions {
            out_dir: run_dir,
            fusion: strategy,
            resume: done > 0,
            extend_to: None,
            stop_at: None,
            interrupt: self.interrupt.clone(),
            extra_devices: vec![],
        };
        let mut bridge = TrainBridge {
            p: &mut *self.progress,
            base_units: self.units,
        };
        let outcome = train(self.cfg, &opts, self.device, &mut bridge)?;
        if outcome.stopped_early {
            return Err(TrainError::Other(format!(
                "interrupted while training {} at step {} (checkpoint saved); run the same \
                 command again to resume",
                arm.name, outcome.state.step
            )));
        }
        self.units += self.cfg.train.steps as f64;
        Ok(outcome)
    }

    /// Trains, evaluates and draws one arm.
    fn arm<S: FusionStrategy>(&mut self, strategy: S, arm: &Arm) -> Result<ArmResult, TrainError> {
        let ucfg = self.cfg.uvit_with(strategy.clone())?;
        let outcome = self.train(strategy, arm)?;
        let ema = &outcome.ema;
        let run_dir = self.out.join("arms").join(&arm.slug);
        let ev = self.score(ema, &format!("evaluate {}", arm.name))?;
        let mut quality = ArmQuality::default();
        if let (Some(ev), Some(tok)) = (&ev, &self.text) {
            self.progress
                .phase(&format!("FID/KID and attention rank {}", arm.name), 1);
            quality = self
                .quality
                .arm(ema, tok, self.cfg, &arm.name, ev, &run_dir, self.device)?;
        }
        let images = self
            .grid
            .draw(ema, self.text.as_ref(), &arm.slug, self.device)?;
        if !images.is_empty() {
            let captions = &self.grid.captions;
            save_png(
                &caption_grid(&images, captions, images.len().min(8)),
                &self.grid.dir.join(format!("{}.png", arm.slug)),
            )?;
        }
        let gmacs = forward_cost(&ucfg).gmacs();
        Ok(arm_result(
            arm,
            &outcome,
            self.cfg.train.batch_size,
            gmacs,
            gmacs / self.base_gmacs,
            ev,
            quality,
            run_dir,
        ))
    }
}

/// The report row of a trained arm.
#[allow(clippy::too_many_arguments)]
fn arm_result<S: FusionStrategy>(
    arm: &Arm,
    outcome: &TrainOutcome<S>,
    batch_size: usize,
    gmacs: f64,
    gmacs_ratio_to_first_arm: f64,
    ev: Option<EvalOutcome>,
    quality: ArmQuality,
    run_dir: PathBuf,
) -> ArmResult {
    let (alignment, sample_seconds) =
        ev.map_or((None, 0.0), |ev| (Some(ev.report), ev.sample_seconds));
    let n = outcome.losses.len();
    let tail = &outcome.losses[n - (n / 10).max(1).min(n)..];
    let final_loss = tail.iter().map(|l| l.1).sum::<f64>() / tail.len().max(1) as f64;
    let steps = outcome.state.step;
    let seconds = outcome.state.train_seconds;
    ArmResult {
        arm: arm.name.clone(),
        fusion: arm.fusion,
        params: outcome.ema.num_params(),
        gmacs,
        gmacs_ratio_to_first_arm,
        train_steps: steps,
        batch_size,
        train_seconds: seconds,
        train_images_per_s: steps as f64 * batch_size as f64 / seconds.max(1e-9),
        step_ms: seconds / steps.max(1) as f64 * 1e3,
        final_loss,
        alignment,
        sample_seconds,
        fid: quality.fid.as_ref().map(|f| f.fid),
        clip_score: ClipField::no_weights(),
        quality,
        run_dir,
    }
}

/// Sample grids: the same prompts and initial noise for every arm.
struct Grids {
    dir: PathBuf,
    captions: Vec<String>,
    settings: SampleSettings,
    /// Every arm's images, for `grids/all.png`, with `label: caption` under each.
    images: Vec<RgbImage>,
    labels: Vec<String>,
}

impl Grids {
    /// Samples the grid prompts with `model` (none without a text side).
    fn draw<S: FusionStrategy>(
        &mut self,
        model: &TextToImage<S>,
        text: Option<&TextSide>,
        label: &str,
        device: &Device,
    ) -> Result<Vec<RgbImage>, TrainError> {
        let Some(tok) = text else {
            return Ok(Vec::new());
        };
        let refs: Vec<&str> = self.captions.iter().map(String::as_str).collect();
        let images = sample_prompts(model, tok, &refs, &self.settings, device, &mut |_| {})?;
        self.images.extend(images.iter().cloned());
        self.labels
            .extend(self.captions.iter().map(|c| format!("{label}: {c}")));
        Ok(images)
    }

    /// `grids/all.png`: every model's row.
    fn save_all(&self) -> Result<(), TrainError> {
        if self.images.is_empty() {
            return Ok(());
        }
        save_png(
            &caption_grid(&self.images, &self.labels, self.captions.len()),
            &self.dir.join("all.png"),
        )
    }
}
