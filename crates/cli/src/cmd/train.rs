//! `ifvit train`: train one arm; `--resume DIR` continues an interrupted run.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use ifvit_fusion::Fusion;
use ifvit_train::checkpoint::CheckpointDir;
use ifvit_train::runlock::check_new_run_folder;
use ifvit_train::{ExperimentConfig, TrainOptions, signals, train};

use super::progress::TrainBar;
use crate::args;

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Experiment config (RON), e.g. experiments/shapes-ablation.ron.
    #[arg(long, required_unless_present = "resume")]
    pub config: Option<PathBuf>,
    /// Run folder to write (config, loss.csv, checkpoints).
    #[arg(long, required_unless_present = "resume")]
    pub out: Option<PathBuf>,
    /// Continue the run in this folder from its latest checkpoint (uses its own config.ron).
    #[arg(long, conflicts_with_all = ["config", "out"])]
    pub resume: Option<PathBuf>,
    /// Arm to train (default: the config's first arm; on --resume, the run's own arm):
    /// early-concat, early-crossattn, intermediate-concat, intermediate-crossattn,
    /// {early,intermediate}-pixart-crossattn, {early,intermediate}-mmdit-joint.
    #[arg(long)]
    pub fusion: Option<String>,
    /// Text-only blocks of an intermediate --fusion (0 to 256).
    #[arg(long, requires = "fusion", value_parser = args::count(0..=args::MAX_BLOCKS))]
    pub c: Option<usize>,
    /// Image-only blocks at each end of an intermediate --fusion (0 to 256).
    #[arg(long, requires = "fusion", value_parser = args::count(0..=args::MAX_BLOCKS))]
    pub v: Option<usize>,
    /// Scale the step budget of a new run, 0.001 to 1000 (e.g. 4 = four times the steps). On
    /// --resume the run keeps its budget; change it with --extend-to.
    #[arg(long, conflicts_with = "resume", value_parser = args::budget)]
    pub budget: Option<f64>,
    /// On --resume: set the run's total steps to this (recorded in config.ron and state.json).
    #[arg(long, requires = "resume", value_parser = args::count64(1..=args::MAX_STEPS))]
    pub extend_to: Option<u64>,
    /// Stop (with a checkpoint) after this many steps in total; resume later.
    #[arg(long, value_parser = args::count64(0..=args::MAX_STEPS))]
    pub stop_at: Option<u64>,
    /// Write a new run into an --out folder that holds files ifvit did not write.
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
}

/// The config, run folder and arm of a resumed run: the run's own, never re-scaled.
fn resumed(dir: &Path, args: &TrainArgs) -> Result<(ExperimentConfig, Fusion)> {
    let cfg = ExperimentConfig::load(&dir.join("config.ron")).with_context(|| {
        format!(
            "--resume {}: this does not look like a run folder (no readable config.ron)",
            dir.display()
        )
    })?;
    let trained = cfg.arms[0];
    if let Some(name) = &args.fusion {
        let asked = Fusion::parse(name, args.c, args.v)?;
        if asked != trained {
            bail!(
                "--resume {}: this run trains `{trained}`, not `{asked}`; drop --fusion (a \
                 resumed run keeps its arm), or start a new run with --config and --out",
                dir.display()
            );
        }
    }
    Ok((cfg, trained))
}

/// The config and arm of a new run into `out`.
fn new_run(args: &TrainArgs, out: &Path) -> Result<(ExperimentConfig, Fusion)> {
    let path = args.config.as_ref().context("--config is required")?;
    if CheckpointDir::new(out).latest().is_ok() {
        bail!(
            "{} already holds a training run; continue it with `ifvit train --resume {}` \
             or choose another --out",
            out.display(),
            out.display()
        );
    }
    check_new_run_folder(out, args.force)?;
    let mut cfg = ExperimentConfig::load(path)?;
    if let Some(b) = args.budget {
        cfg.scale_budget(b);
    }
    let fusion = match &args.fusion {
        Some(name) => Fusion::parse(name, args.c, args.v)?,
        None => cfg.arms[0],
    };
    Ok((cfg, fusion))
}

pub fn run(args: &TrainArgs, device: &Device) -> Result<()> {
    let (out, resume) = match (&args.resume, &args.out) {
        (Some(dir), _) => (dir.clone(), true),
        (None, Some(out)) => (out.clone(), false),
        (None, None) => bail!("give --config and --out for a new run, or --resume RUN"),
    };
    let (cfg, fusion) = if resume {
        resumed(&out, args)?
    } else {
        new_run(args, &out)?
    };
    super::assets::ensure_for(&cfg, false)?;
    let opts = TrainOptions {
        out_dir: out.clone(),
        fusion,
        resume,
        extend_to: args.extend_to,
        stop_at: args.stop_at,
        interrupt: Some(signals::install()),
        extra_devices: vec![],
    };
    let mut bar = TrainBar::new(&fusion.to_string());
    let o = train(&cfg, &opts, device, &mut bar)?;
    println!(
        "{}: step {}/{} in {:.1} s this session ({:.1} img/s), last loss {}",
        out.display(),
        o.state.step,
        o.total_steps,
        o.session_seconds,
        o.images_per_s(cfg.train.batch_size),
        o.state
            .last_loss
            .map(|l| format!("{l:.5}"))
            .unwrap_or_else(|| "-".into())
    );
    if o.stopped_early {
        println!(
            "stopped early; continue with: ifvit train --resume {}",
            out.display()
        );
    } else if resume && o.session_steps == 0 {
        println!(
            "the run had already finished; train further with: ifvit train --resume {} \
             --extend-to STEPS",
            out.display()
        );
    }
    Ok(())
}
