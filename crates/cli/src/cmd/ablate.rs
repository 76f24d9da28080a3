//! `ifvit ablate`: train every fusion arm, evaluate, write the report (the main job).

use std::path::PathBuf;

use anyhow::Result;
use burn::tensor::Device;
use ifvit_train::ablate::ablate;
use ifvit_train::runlock::{RunLock, check_new_run_folder};
use ifvit_train::{ExperimentConfig, signals};

use super::progress::AblationBars;

#[derive(clap::Args, Debug)]
pub struct AblateArgs {
    /// Experiment config (RON).
    #[arg(long, default_value = "experiments/shapes-ablation.ron")]
    pub config: PathBuf,
    /// Output folder (default: runs/<config name>). Re-running resumes.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Scale the training budget (steps) of every arm, e.g. 4 for a longer run; 0.001 to 1000.
    #[arg(long, value_parser = crate::args::budget)]
    pub budget: Option<f64>,
    /// Write into an --out folder that holds files ifvit did not write.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: &AblateArgs, device: &Device) -> Result<()> {
    let mut cfg = ExperimentConfig::load(&args.config)?;
    if let Some(b) = args.budget {
        cfg.scale_budget(b);
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(&cfg.name));
    eprintln!(
        "ablation `{}`: {} arms x {} steps (batch {}), eval {} prompts -> {}",
        cfg.name,
        cfg.arms.len(),
        cfg.train.steps,
        cfg.train.batch_size,
        cfg.eval.prompts,
        out.display()
    );
    check_new_run_folder(&out, args.force)?;
    let _lock = RunLock::acquire(&out)?;
    super::assets::ensure_for(&cfg, true)?;
    let mut bars = AblationBars::new();
    let r = ablate(&cfg, &out, device, Some(signals::install()), &mut bars)?;
    println!("\n{}", ifvit_train::report::summary_table(&r));
    println!("report: {}", out.join("report.md").display());
    println!("total {:.1} min", r.total_seconds / 60.0);
    Ok(())
}
