//! The fusion ablation: train every arm under the same budget (same seed, data order and
//! steps), evaluate each (on `shapes`: the exact alignment scorer), and write a report.
//!
//! Layout of the output folder:
//! ```text
//! OUT/config.ron                     the experiment config as run
//! OUT/arms/<arm>/                    one training run per arm (resumable)
//! OUT/arms/<arm>-seed<k>/             run k of `train.seeds` (seed + k), k >= 1
//! OUT/grids/<arm>.png, grids/all.png samples for the same prompts and noise
//! OUT/report.md results.csv results.json loss.png alignment_vs_gmacs.png throughput.png
//! ```
//! Re-running the same command on the same folder resumes: finished arms are not retrained
//! (their final checkpoint is loaded), interrupted ones continue from their last checkpoint.
//!
//! [`ablate`] runs the config's arms (or its c/v `sweep`); [`ablate_arms`] runs any list of
//! [`Arm`]s, a library user's own [`FusionStrategy`] included (see
//! `examples/custom_strategy.rs`). With `train.seeds = N` every arm is trained and scored N
//! times; `eval.unseen_prompts` adds prompts holding compositions training never showed;
//! [`crate::compare`] turns the runs into spreads and paired tests.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use burn::module::Module;
use burn::tensor::Device;
use ifvit_data::fashion_mnist::FashionDataset;
use ifvit_data::shapes::{Aspect, Split, eval_prompts, held_out_prompts};
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
use crate::compare::{ArmSummary, PairedRow};
use crate::config::{DataConfig, ExperimentConfig, SweepConfig};
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
    /// Which run of the arm: trained with `train.seed + seed_index`, evaluated with
    /// `eval.seed + seed_index`.
    #[serde(default)]
    pub seed_index: usize,
    /// Exact alignment on the seen evaluation prompts (`shapes` data only).
    pub alignment: Option<AlignmentReport>,
    /// Exact alignment on the unseen prompts (`eval.unseen_prompts`; `None` without them).
    #[serde(default)]
    pub unseen: Option<AlignmentReport>,
    /// Per prompt all-correct, in prompt order (the items of the paired tests).
    #[serde(default)]
    pub items: Items,
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

/// Per-prompt outcomes (all checks passed) of one run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Items {
    pub seen: Vec<bool>,
    pub unseen: Vec<bool>,
}

/// The caption aspect of every evaluation prompt, in order (the same for every arm and run).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PromptAspects {
    pub seen: Vec<Aspect>,
    pub unseen: Vec<Aspect>,
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
    /// Run 0 of every arm (`train.seed`), in arm order.
    pub arms: Vec<ArmResult>,
    /// Runs per arm (`train.seeds`).
    #[serde(default = "one")]
    pub seeds: usize,
    /// Runs 1.. of every arm (seed-major: all arms of run 1, then of run 2, ...).
    #[serde(default)]
    pub seed_runs: Vec<ArmResult>,
    /// Mean and spread over runs, per arm (in arm order).
    #[serde(default)]
    pub summary: Vec<ArmSummary>,
    /// Paired differences between arms over the same prompts and seeds.
    #[serde(default)]
    pub paired: Vec<PairedRow>,
    pub eval_prompts: usize,
    /// Unseen prompts scored per run (0: none).
    #[serde(default)]
    pub unseen_prompts: usize,
    /// The untrained model and the real-image bounds on the unseen prompts.
    #[serde(default)]
    pub unseen_chance: Option<AlignmentReport>,
    #[serde(default)]
    pub unseen_bounds: Option<Bounds>,
    #[serde(default)]
    pub aspects: PromptAspects,
    /// The c/v grid when the arms are a sweep.
    #[serde(default)]
    pub sweep: Option<SweepConfig>,
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

fn one() -> usize {
    1
}

impl AblationResults {
    /// Every run of every arm: run 0 of each, then the further seeds.
    pub fn all_runs(&self) -> impl Iterator<Item = &ArmResult> {
        self.arms.iter().chain(&self.seed_runs)
    }
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
    let arms: Vec<Arm> = cfg
        .ablation_arms()
        .map_err(|e| TrainError::Other(format!("sweep: {e}")))?
        .into_iter()
        .map(Arm::from)
        .collect();
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
    let seeds = cfg.train.seeds.max(1);
    let mut ab = first.runner.open(cfg, out, device, interrupt, progress)?;
    ab.progress.plan(ab.planned_units(arms.len() * seeds));
    let (chance, unseen_chance) = first.runner.chance(&mut ab)?;
    let bounds = shapes_bounds(cfg, Split::Seen, cfg.eval.prompts)?;
    let unseen_bounds = match cfg.eval.unseen_prompts {
        0 => None,
        n => shapes_bounds(cfg, Split::Unseen, n)?,
    };
    let mut results = Vec::with_capacity(arms.len());
    for arm in arms {
        results.push(arm.runner.run(&mut ab, arm, 0)?);
    }
    ab.grid.save_all()?;
    let mut seed_runs = Vec::with_capacity(arms.len() * (seeds - 1));
    for k in 1..seeds {
        for arm in arms {
            seed_runs.push(arm.runner.run(&mut ab, arm, k)?);
        }
    }
    let mut results = AblationResults {
        name: cfg.name.clone(),
        chance,
        bounds,
        arms: results,
        seeds,
        seed_runs,
        summary: Vec::new(),
        paired: Vec::new(),
        eval_prompts: if ab.scored { cfg.eval.prompts } else { 0 },
        unseen_prompts: if ab.scored {
            cfg.eval.unseen_prompts
        } else {
            0
        },
        unseen_chance,
        unseen_bounds,
        aspects: prompt_aspects(cfg)?,
        sweep: cfg.sweep.clone(),
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
    results.summary = crate::compare::summaries(&results);
    results.paired = crate::compare::paired(&results);
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

/// The aspects of the seen and unseen evaluation prompts (empty unless `shapes`).
fn prompt_aspects(cfg: &ExperimentConfig) -> Result<PromptAspects, TrainError> {
    let DataConfig::Shapes(s) = &cfg.data else {
        return Ok(PromptAspects::default());
    };
    let aspects = |split, n| -> Result<Vec<Aspect>, TrainError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        Ok(eval_prompts(s, n, split)
            .map_err(|e| TrainError::Data(e.to_string()))?
            .iter()
            .map(|p| p.aspect)
            .collect())
    };
    Ok(PromptAspects {
        seen: aspects(Split::Seen, cfg.eval.prompts)?,
        unseen: aspects(Split::Unseen, cfg.eval.unseen_prompts)?,
    })
}

/// The scorer's ceiling and caption-swap chance on `n` evaluation prompts of `split`
/// (`shapes` only).
fn shapes_bounds(
    cfg: &ExperimentConfig,
    split: Split,
    n: usize,
) -> Result<Option<Bounds>, TrainError> {
    let DataConfig::Shapes(s) = &cfg.data else {
        return Ok(None);
    };
    let prompts = eval_prompts(s, n, split).map_err(|e| TrainError::Data(e.to_string()))?;
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
    /// Samples and scores an untrained model of this arm (the chance level, seen and
    /// unseen); its grid too.
    fn chance(&self, ab: &mut Ablation<'_>) -> Result<Reports, TrainError>;
    /// Trains, evaluates and (run 0) draws the grid of run `seed_index` of this arm.
    fn run(
        &self,
        ab: &mut Ablation<'_>,
        arm: &Arm,
        seed_index: usize,
    ) -> Result<ArmResult, TrainError>;
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

    fn chance(&self, ab: &mut Ablation<'_>) -> Result<Reports, TrainError> {
        ab.chance(self.clone())
    }

    fn run(
        &self,
        ab: &mut Ablation<'_>,
        arm: &Arm,
        seed_index: usize,
    ) -> Result<ArmResult, TrainError> {
        ab.arm(self.clone(), arm, seed_index)
    }
}

/// Seen and unseen alignment of one model (`None` where not scored).
type Reports = (Option<AlignmentReport>, Option<AlignmentReport>);

/// A model's scores on the seen and (where configured) unseen prompts.
struct Scored {
    seen: EvalOutcome,
    unseen: Option<EvalOutcome>,
}

/// The run folder of run `seed_index` of the arm `slug`.
pub fn run_dir(out: &Path, slug: &str, seed_index: usize) -> PathBuf {
    let name = match seed_index {
        0 => slug.to_string(),
        k => format!("{slug}-seed{k}"),
    };
    out.join("arms").join(name)
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
            (self.cfg.eval.prompts + self.cfg.eval.unseen_prompts) as f64 * self.per_img
        } else {
            0.0
        }
    }

    fn planned_units(&self, arms: usize) -> f64 {
        self.eval_units() + arms as f64 * (self.cfg.train.steps as f64 + self.eval_units())
    }

    /// Samples and scores `model` on the seen and unseen prompts of `cfg` (`None` unless
    /// `shapes`).
    fn score<S: FusionStrategy>(
        &mut self,
        model: &TextToImage<S>,
        cfg: &ExperimentConfig,
        phase: &str,
    ) -> Result<Option<Scored>, TrainError> {
        let Some(tok) = self.text.as_ref().filter(|_| self.scored) else {
            return Ok(None);
        };
        let (n_seen, n_unseen) = (cfg.eval.prompts, cfg.eval.unseen_prompts);
        self.progress.phase(phase, (n_seen + n_unseen) as u64);
        let (base, per_img, progress) = (self.units, self.per_img, &mut *self.progress);
        let mut tick = |d: usize| progress.advance(d as u64, base + d as f64 * per_img, None);
        let seen = evaluate(model, tok, cfg, Split::Seen, n_seen, self.device, &mut tick)?;
        let unseen = match n_unseen {
            0 => None,
            n => Some(evaluate(
                model,
                tok,
                cfg,
                Split::Unseen,
                n,
                self.device,
                &mut |d| tick(n_seen + d),
            )?),
        };
        self.units += self.eval_units();
        Ok(Some(Scored { seen, unseen }))
    }

    /// Chance level: an untrained model of `strategy`, sampled and scored like the arms.
    fn chance<S: FusionStrategy>(&mut self, strategy: S) -> Result<Reports, TrainError> {
        let ucfg = self.cfg.uvit_with(strategy)?;
        let untrained = TextToImage::seeded(&ucfg, self.vocab, self.device, self.cfg.train.seed)?;
        let scored = self.score(&untrained, self.cfg, "chance: untrained model")?;
        self.grid
            .draw(&untrained, self.text.as_ref(), "untrained", self.device)?;
        Ok(match scored {
            Some(s) => (Some(s.seen.report), s.unseen.map(|u| u.report)),
            None => (None, None),
        })
    }

    /// Trains (or resumes) one run of an arm with `cfg` in `run_dir`.
    fn train<S: FusionStrategy>(
        &mut self,
        strategy: S,
        arm: &Arm,
        cfg: &ExperimentConfig,
        run_dir: PathBuf,
    ) -> Result<TrainOutcome<S>, TrainError> {
        let label = match cfg.train.seed.wrapping_sub(self.cfg.train.seed) {
            0 => arm.name.clone(),
            k => format!("{} (seed {}, run {k})", arm.name, cfg.train.seed),
        };
        let done = CheckpointDir::new(&run_dir)
            .latest()
            .map(|c| c.state.step)
            .unwrap_or(0);
        self.progress
            .phase(&format!("train {label}"), self.cfg.train.steps);
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
        let outcome = train(cfg, &opts, self.device, &mut bridge)?;
        if outcome.stopped_early {
            return Err(TrainError::Other(format!(
                "interrupted while training {label} at step {} (checkpoint saved); run the \
                 same command again to resume",
                outcome.state.step
            )));
        }
        self.units += self.cfg.train.steps as f64;
        Ok(outcome)
    }

    /// Trains, evaluates and (run 0) draws run `seed_index` of one arm.
    fn arm<S: FusionStrategy>(
        &mut self,
        strategy: S,
        arm: &Arm,
        seed_index: usize,
    ) -> Result<ArmResult, TrainError> {
        let cfg = self.cfg.for_seed(seed_index);
        let ucfg = cfg.uvit_with(strategy.clone())?;
        let run_dir = run_dir(self.out, &arm.slug, seed_index);
        let outcome = self.train(strategy, arm, &cfg, run_dir.clone())?;
        let ema = &outcome.ema;
        let ev = self.score(ema, &cfg, &format!("evaluate {}", arm.name))?;
        let mut quality = ArmQuality::default();
        if let (Some(ev), Some(tok)) = (&ev, &self.text) {
            self.progress
                .phase(&format!("FID/KID and attention rank {}", arm.name), 1);
            quality =
                self.quality
                    .arm(ema, tok, &cfg, &arm.name, &ev.seen, &run_dir, self.device)?;
        }
        let images = if seed_index == 0 {
            self.grid
                .draw(ema, self.text.as_ref(), &arm.slug, self.device)?
        } else {
            Vec::new()
        };
        if !images.is_empty() {
            let captions = &self.grid.captions;
            save_png(
                &caption_grid(&images, captions, images.len().min(8)),
                &self.grid.dir.join(format!("{}.png", arm.slug)),
            )?;
        }
        let gmacs = forward_cost(&ucfg).gmacs();
        let mut r = arm_result(
            arm,
            &outcome,
            self.cfg.train.batch_size,
            gmacs,
            gmacs / self.base_gmacs,
            ev,
            quality,
            run_dir,
        );
        r.seed_index = seed_index;
        Ok(r)
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
    ev: Option<Scored>,
    quality: ArmQuality,
    run_dir: PathBuf,
) -> ArmResult {
    let (alignment, unseen, items, sample_seconds) = match ev {
        None => (None, None, Items::default(), 0.0),
        Some(Scored { seen, unseen }) => {
            let items = Items {
                seen: seen.all_correct,
                unseen: unseen
                    .as_ref()
                    .map(|u| u.all_correct.clone())
                    .unwrap_or_default(),
            };
            (
                Some(seen.report),
                unseen.map(|u| u.report),
                items,
                seen.sample_seconds,
            )
        }
    };
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
        seed_index: 0,
        alignment,
        unseen,
        items,
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
