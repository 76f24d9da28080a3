//! `ifvit train`: train one arm; `--resume DIR` continues an interrupted run.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use ifvit_fusion::Fusion;
use ifvit_train::{ExperimentConfig, TrainOptions, train};

use super::progress::{TrainBar, interrupt_flag};

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Experiment config (RON), e.g. experiments/shapes-ablation.ron.
    #[arg(long, required_unless_present = "resume")]
    pub config: Option<PathBuf>,
    /// Run folder to write (config, loss.csv, checkpoints).
    #[arg(long, required_unless_present = "resume")]
    pub out: Option<PathBuf>,
    /// Continue the run in this folder from its latest checkpoint (uses its config.ron).
    #[arg(long, conflicts_with_all = ["config", "out"])]
    pub resume: Option<PathBuf>,
    /// Arm to train (default: the config's first arm).
    #[arg(long)]
    pub fusion: Option<String>,
    /// Text-only blocks of an intermediate strategy (default 3).
    #[arg(long)]
    pub c: Option<usize>,
    /// Image-only blocks at each end of an intermediate strategy (default 3).
    #[arg(long)]
    pub v: Option<usize>,
    /// Scale the step budget (e.g. 4 = four times the steps).
    #[arg(long)]
    pub budget: Option<f64>,
    /// Stop (with a checkpoint) after this many steps in total; resume later.
    #[arg(long)]
    pub stop_at: Option<u64>,
}

pub fn run(args: &TrainArgs, device: &Device) -> Result<()> {
    let (cfg, out, resume) = match &args.resume {
        Some(dir) => {
            let cfg = ExperimentConfig::load(&dir.join("config.ron")).with_context(|| {
                format!(
                    "--resume {}: this does not look like a run folder",
                    dir.display()
                )
            })?;
            (cfg, dir.clone(), true)
        }
        None => {
            let path = args.config.as_ref().expect("clap: --config");
            let out = args.out.clone().expect("clap: --out");
            if out.join("checkpoints").join("latest").exists() {
                bail!(
                    "{} already holds a training run; continue it with `ifvit train --resume {}` \
                     or choose another --out",
                    out.display(),
                    out.display()
                );
            }
            (ExperimentConfig::load(path)?, out, false)
        }
    };
    let mut cfg = cfg;
    if let Some(b) = args.budget {
        anyhow::ensure!(
            b.is_finite() && b > 0.0,
            "--budget must be a positive number, got {b}"
        );
        cfg.scale_budget(b);
    }
    let fusion = match &args.fusion {
        Some(name) => Fusion::parse(name, args.c, args.v)?,
        None => cfg.arms[0],
    };
    let opts = TrainOptions {
        out_dir: out.clone(),
        fusion,
        resume,
        stop_at: args.stop_at,
        interrupt: Some(interrupt_flag()),
        extra_devices: vec![],
    };
    let mut bar = TrainBar::new(&fusion.to_string());
    let o = train(&cfg, &opts, device, &mut bar)?;
    println!(
        "{}: step {}/{} in {:.1} s this session ({:.1} img/s), last loss {}",
        out.display(),
        o.state.step,
        cfg.train.steps,
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
    }
    Ok(())
}
