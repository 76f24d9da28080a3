//! `ifvit ablate`: train every fusion arm, evaluate, write the report (the main job).

use std::path::PathBuf;

use anyhow::Result;
use burn::tensor::Device;
use ifvit_train::ExperimentConfig;
use ifvit_train::ablate::ablate;

use super::progress::{AblationBars, interrupt_flag};

#[derive(clap::Args, Debug)]
pub struct AblateArgs {
    /// Experiment config (RON).
    #[arg(long, default_value = "experiments/shapes-ablation.ron")]
    pub config: PathBuf,
    /// Output folder (default: runs/<config name>). Re-running resumes.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Scale the training budget (steps) of every arm, e.g. 4 for a longer run.
    #[arg(long)]
    pub budget: Option<f64>,
}

pub fn run(args: &AblateArgs, device: &Device) -> Result<()> {
    let mut cfg = ExperimentConfig::load(&args.config)?;
    if let Some(b) = args.budget {
        anyhow::ensure!(
            b.is_finite() && b > 0.0,
            "--budget must be a positive number, got {b}"
        );
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
    let mut bars = AblationBars::new();
    let r = ablate(&cfg, &out, device, Some(interrupt_flag()), &mut bars)?;
    println!("\n{}", ifvit_train::report::summary_table(&r));
    println!("report: {}", out.join("report.md").display());
    println!("total {:.1} min", r.total_seconds / 60.0);
    Ok(())
}
