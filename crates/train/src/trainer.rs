//! Training one arm: `train` sets the run up (folder lock, config, data, model, resume from
//! the latest checkpoint) and hands the step loop to burn-train's `Learner`
//! ([`crate::learner`]).
//!
//! Everything random is a pure function of `(seed, step)`: the batch (data position =
//! step), the caption dropout, the timesteps and the noise. With the model, EMA and AdamW
//! state restored from a checkpoint, a resumed run continues exactly as an uninterrupted
//! one.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::tensor::Device;
use burn::train::Learner;
use ifvit_diffusion::NoiseSchedule;
use ifvit_fusion::{Fusion, FusionStrategy};

use crate::checkpoint::{CheckpointDir, Extension, TrainState, io_err, write_atomic};
use crate::config::ExperimentConfig;
use crate::data::TrainData;
use crate::ema::ema_init;
use crate::error::TrainError;
use crate::learner::{Event, Session, SessionSettings, StepBatches, WarmupLr};
use crate::losslog::LossLog;
pub use crate::losslog::read_losses;
use crate::model::TextToImage;
use crate::optim::FusedAdamW;
use crate::preflight::{check_output_dir, checkpoint_bytes, checkpoints_to_fit};
use crate::runlock::RunLock;
use crate::weights::{load_module, load_optim, stable_param_ids};

/// Callbacks for progress display (the CLI draws bars; tests ignore them).
pub trait TrainProgress {
    /// Show burn-train's terminal dashboard instead (when stdout is a terminal); a display
    /// that answers `true` should then draw nothing itself.
    fn dashboard(&self) -> bool {
        false
    }
    fn start(&mut self, _first_step: u64, _total_steps: u64) {}
    /// After each optimizer step; `loss` is present at log points.
    fn step(&mut self, _step: u64, _loss: Option<f64>) {}
    fn checkpoint(&mut self, _step: u64) {}
    /// Something the user should know (e.g. resuming from a fallback checkpoint).
    fn note(&mut self, _message: &str) {}
    fn finish(&mut self) {}
}

/// No display.
pub struct Silent;
impl TrainProgress for Silent {}

/// How to run. `S`: the arm's fusion strategy (the built-in [`Fusion`], or a library
/// user's own [`FusionStrategy`]).
#[derive(Clone, Debug)]
pub struct TrainOptions<S = Fusion> {
    /// The run folder (config, loss log, checkpoints).
    pub out_dir: PathBuf,
    /// The arm (fusion strategy) to train.
    pub fusion: S,
    /// Continue from the run folder's latest checkpoint.
    pub resume: bool,
    /// On resume: change the total step budget (`train.steps`) to this; recorded in the
    /// run's `config.ron` and in the checkpoint state (`extensions`).
    pub extend_to: Option<u64>,
    /// Stop (with a checkpoint) once this many steps are done in total; `None`: run to
    /// `train.steps`. Used to split a run into sessions.
    pub stop_at: Option<u64>,
    /// Set by a signal handler (`signals::install`): save a checkpoint and stop at the next
    /// step boundary.
    pub interrupt: Option<Arc<AtomicBool>>,
    /// Extra devices for data-parallel training (`train.devices - 1` of them); empty:
    /// fork the main device.
    pub extra_devices: Vec<Device>,
}

/// What a finished (or stopped) run produced.
pub struct TrainOutcome<S: FusionStrategy = Fusion> {
    /// Detached EMA weights (used for sampling and evaluation).
    pub ema: TextToImage<S>,
    /// Detached raw weights.
    pub model: TextToImage<S>,
    pub state: TrainState,
    /// The run's step budget (`train.steps`, after any `extend_to`).
    pub total_steps: u64,
    /// `(step, loss)` of every step, this and earlier sessions (from `loss.csv`).
    pub losses: Vec<(u64, f64)>,
    /// Wall-clock seconds of optimizer steps in this session (checkpoint writes excluded).
    pub session_seconds: f64,
    /// Steps run in this session.
    pub session_steps: u64,
    /// Stopped early (interrupt or `stop_at`).
    pub stopped_early: bool,
    pub params: usize,
}

impl<S: FusionStrategy> TrainOutcome<S> {
    /// Images per second in this session.
    pub fn images_per_s(&self, batch: usize) -> f64 {
        self.session_steps as f64 * batch as f64 / self.session_seconds.max(1e-9)
    }
}

fn optimizer(cfg: &ExperimentConfig) -> ModuleOptimizer {
    let o = &cfg.optim;
    FusedAdamW {
        beta_1: o.betas.0,
        beta_2: o.betas.1,
        epsilon: o.eps,
        weight_decay: o.weight_decay,
    }
    .init(o.grad_clip_norm.map(GradientClippingConfig::Norm))
}

/// Mixes the run seed and the step into the seed of that step's timesteps and noise.
pub fn step_seed(seed: u64, step: u64) -> u64 {
    use ifvit_data::seed::{GOLDEN_GAMMA, mix64};
    mix64(seed ^ step.wrapping_mul(GOLDEN_GAMMA) ^ 0xD1B5_4A32_D192_ED03)
}

/// Writes `config.ron` (the exact config, with `arms: [the trained arm]`) into the run folder.
/// A library user's own strategy has no RON name: its config keeps the experiment's `arms`
/// and `CUSTOM_STRATEGY_FILE` names the strategy (so `load_run` refuses to guess it).
fn write_run_config<S: FusionStrategy>(
    cfg: &ExperimentConfig,
    strategy: &S,
    run: &Path,
) -> Result<(), TrainError> {
    let mut c = cfg.clone();
    let custom = run.join(CUSTOM_STRATEGY_FILE);
    match (strategy as &dyn std::any::Any).downcast_ref::<Fusion>() {
        Some(f) => {
            c.arms = vec![*f];
            if custom.exists() {
                std::fs::remove_file(&custom).map_err(|e| io_err(&custom, e))?;
            }
        }
        None => write_atomic(&custom, format!("{}\n", strategy.name()).as_bytes())?,
    }
    write_atomic(&run.join("config.ron"), c.to_ron().as_bytes())?;
    Ok(())
}

/// In a run folder trained with a user-defined strategy: the strategy's name.
pub const CUSTOM_STRATEGY_FILE: &str = "custom-strategy.txt";

/// Checks that the data's images (or latents) and text features fit the model.
fn check_data_fits_model<S>(
    data: &TrainData,
    m: &ifvit_uvit::UViTConfig<S>,
) -> Result<(), TrainError> {
    let ([c, h, w], features) = data.shapes();
    if [c, h, w] != [m.in_chans, m.img_size, m.img_size] {
        return Err(TrainError::Data(format!(
            "the data has {c}x{h}x{w} inputs but the model expects {}x{}x{}; pick a preset \
             (model.preset) that matches the data",
            m.in_chans, m.img_size, m.img_size
        )));
    }
    if let Some((l, d)) = features
        && (l, d) != (m.num_text_tokens, m.context_dim)
    {
        return Err(TrainError::Data(format!(
            "the cached text features are {l}x{d} but the model expects {}x{}; set \
             model.num_text_tokens and model.context_dim to match the cache",
            m.num_text_tokens, m.context_dim
        )));
    }
    Ok(())
}

/// Trains one arm of `cfg` on `device` (its autodiff wrapper is added here).
pub fn train<S: FusionStrategy>(
    cfg: &ExperimentConfig,
    opts: &TrainOptions<S>,
    device: &Device,
    progress: &mut dyn TrainProgress,
) -> Result<TrainOutcome<S>, TrainError> {
    let _lock = RunLock::acquire(&opts.out_dir)?;
    let mut cfg = cfg.clone();
    let (data, model) = open_data_and_model(&cfg, opts, device)?;
    let params = model.num_params();
    let ckpts = CheckpointDir::new(&opts.out_dir);
    let existing = if opts.resume {
        ckpts.complete_count()
    } else {
        0
    };
    let fit = checkpoints_to_fit(cfg.train.keep_checkpoints, existing);
    check_output_dir(&opts.out_dir, checkpoint_bytes(params) * fit)?;
    let start = start_point(&mut cfg, opts, &ckpts, model, progress)?;
    write_run_config(&cfg, &opts.fusion, &opts.out_dir)?;
    let log = LossLog::open(&opts.out_dir, start.state.step);
    log.write()?;

    let (events, received) = std::sync::mpsc::channel();
    let scheduler = WarmupLr {
        base: cfg.optim.lr,
        warmup: cfg.optim.warmup_steps,
        next: start.state.step,
    };
    let learner = Learner::new(start.model, start.optim, scheduler);
    let session = Session {
        batches: step_batches(&cfg, data, device)?,
        ckpts,
        ema: Some(start.ema),
        log,
        state: start.state,
        events,
        records: None,
        settings: session_settings(&cfg, opts, device),
    };
    let dashboard = progress.dashboard() && std::io::stdout().is_terminal();
    let (end, model) =
        crate::learner::launch(learner, session, received, dashboard, &mut |e| match e {
            Event::Start { first, total } => progress.start(first, total),
            Event::Step { step, loss } => progress.step(step, loss),
            Event::Checkpoint(step) => progress.checkpoint(step),
        })?;
    progress.finish();
    Ok(TrainOutcome {
        ema: end.ema.valid(),
        model,
        losses: end.log.rows.iter().map(|r| (r.0, r.1)).collect(),
        total_steps: cfg.train.steps,
        session_steps: end.session_steps,
        state: end.state,
        session_seconds: end.session_seconds,
        stopped_early: end.stopped_early,
        params,
    })
}

/// The arm's data (checked against its model) and its freshly initialised model (on the
/// autodiff device, parameter ids stable across runs).
fn open_data_and_model<S: FusionStrategy>(
    cfg: &ExperimentConfig,
    opts: &TrainOptions<S>,
    device: &Device,
) -> Result<(TrainData, TextToImage<S>), TrainError> {
    let uvit_cfg = cfg.uvit_with(opts.fusion.clone())?;
    cfg.diffusion.loss_weighting.validate()?;
    let data = TrainData::open(cfg, &uvit_cfg, device)?;
    check_data_fits_model(&data, &uvit_cfg)?;
    let model = TextToImage::seeded(
        &uvit_cfg,
        data.vocab_size(),
        &device.clone().autodiff(),
        cfg.train.seed,
    )?;
    Ok((data, stable_param_ids(model)))
}

/// The step-indexed data loader of the run (steps are set by the session).
fn step_batches(
    cfg: &ExperimentConfig,
    data: TrainData,
    device: &Device,
) -> Result<StepBatches, TrainError> {
    Ok(StepBatches {
        data: Arc::new(data),
        schedule: NoiseSchedule::new(cfg.diffusion.schedule, cfg.diffusion.num_steps)?,
        prediction: cfg.diffusion.prediction,
        weighting: cfg.diffusion.loss_weighting,
        seed: cfg.train.seed,
        batch_size: cfg.train.batch_size,
        device: device.clone().autodiff(),
        from: 0,
        to: 0,
        error: Default::default(),
    })
}

/// The loop settings of a session from the config and options (the state, model parts and
/// channels are filled in by [`train`]).
fn session_settings<S: FusionStrategy>(
    cfg: &ExperimentConfig,
    opts: &TrainOptions<S>,
    device: &Device,
) -> SessionSettings {
    let t = &cfg.train;
    SessionSettings {
        devices: devices(t.devices, &opts.extra_devices, &device.clone().autodiff()),
        total: t.steps,
        stop_at: opts.stop_at.unwrap_or(t.steps).min(t.steps),
        ema_decay: t.ema_decay,
        checkpoint_every: t.checkpoint_every,
        log_every: t.log_every,
        keep: t.keep_checkpoints,
        save_first: !opts.resume,
        epoch: metric_log_session(&opts.out_dir),
        interrupt: opts.interrupt.clone(),
    }
}

/// Model, EMA, optimizer and state to start from: fresh, or the resume checkpoint's.
struct Start<S: FusionStrategy> {
    model: TextToImage<S>,
    ema: TextToImage<S>,
    optim: ModuleOptimizer,
    state: TrainState,
}

fn start_point<S: FusionStrategy>(
    cfg: &mut ExperimentConfig,
    opts: &TrainOptions<S>,
    ckpts: &CheckpointDir,
    model: TextToImage<S>,
    progress: &mut dyn TrainProgress,
) -> Result<Start<S>, TrainError> {
    let optim = optimizer(cfg);
    if !opts.resume {
        return Ok(Start {
            ema: ema_init(&model),
            model,
            optim,
            state: TrainState {
                step: 0,
                samples_seen: 0,
                seed: cfg.train.seed,
                last_loss: None,
                train_seconds: 0.0,
                extensions: vec![],
            },
        });
    }
    let (model, ema, optim, mut state) = restore(ckpts, model, optim, progress)?;
    if let Some(to) = opts.extend_to {
        extend_budget(cfg, &mut state, to, &opts.out_dir)?;
    }
    Ok(Start {
        model,
        ema,
        optim,
        state,
    })
}

/// The autodiff devices of the data-parallel shards (`train.devices` of them; missing extra
/// devices are forks of the main one).
fn devices(n: usize, extra: &[Device], ad: &Device) -> Vec<Device> {
    if n <= 1 {
        return vec![ad.clone()];
    }
    let mut d: Vec<Device> = extra.iter().map(|d| d.clone().autodiff()).collect();
    d.resize(n - 1, ad.clone());
    std::iter::once(ad.clone()).chain(d).collect()
}

/// burn-train's metric logs of this session go to `RUN/train/epoch-<n>/`: one folder per
/// session (1 for a new run), so a resumed run keeps the earlier sessions' logs.
fn metric_log_session(run: &Path) -> usize {
    let existing = std::fs::read_dir(run.join("train"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("epoch-"))
                .count()
        })
        .unwrap_or(0);
    existing + 1
}

/// Loads model, EMA, optimizer state and training state from the checkpoint to resume
/// from (falling back past a broken `latest`, and telling `progress` so), each file verified
/// against its recorded checksum.
#[allow(clippy::type_complexity)]
fn restore<S: FusionStrategy>(
    ckpts: &CheckpointDir,
    model: TextToImage<S>,
    optim: ModuleOptimizer,
    progress: &mut dyn TrainProgress,
) -> Result<(TextToImage<S>, TextToImage<S>, ModuleOptimizer, TrainState), TrainError> {
    let (ck, note) = ckpts.resume_point()?;
    if let Some(note) = note {
        progress.note(&note);
    }
    let load = |what: &str, e: burn::store::RecordError| {
        TrainError::Checkpoint(io_err(&ck.dir.join(what), e))
    };
    let model = load_module(model, ck.read("model.bpk")?).map_err(|e| load("model.bpk", e))?;
    let optim = load_optim(optim, ck.read("optim.bpk")?).map_err(|e| load("optim.bpk", e))?;
    let ema = load_module(ema_init(&model), ck.read("ema.bpk")?).map_err(|e| load("ema.bpk", e))?;
    Ok((model, ema, optim, ck.state))
}

/// `--extend-to`: sets the run's step budget to `to` and records the change.
fn extend_budget(
    cfg: &mut ExperimentConfig,
    state: &mut TrainState,
    to: u64,
    run: &Path,
) -> Result<(), TrainError> {
    if to <= state.step {
        return Err(TrainError::Output {
            path: run.display().to_string(),
            message: format!(
                "--extend-to {to}: the run has already done {} steps; give a larger total",
                state.step
            ),
        });
    }
    if to != cfg.train.steps {
        state.extensions.push(Extension {
            at_step: state.step,
            from_steps: cfg.train.steps,
            to_steps: to,
        });
        cfg.train.steps = to;
    }
    Ok(())
}
