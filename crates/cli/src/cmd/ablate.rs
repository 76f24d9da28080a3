//! `ifvit ablate`: train every fusion arm, evaluate, write the report (the main job).

use std::path::PathBuf;

use anyhow::Result;
use burn::tensor::Device;
use ifvit_train::ablate::ablate;
use ifvit_train::config::SweepConfig;
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
    /// Train and score every arm N times (seeds train.seed..train.seed+N-1); the report
    /// gives mean and spread and paired tests between arms. 1 to 1000 (default: the
    /// config's train.seeds, 1 if unset).
    #[arg(long, value_parser = crate::args::count(1..=1000))]
    pub seeds: Option<usize>,
    /// A c/v grid replacing the config's arms, one value list per knob: `--sweep c=0,1,2
    /// --sweep v=0,1,2` (c: text-only blocks, v: image-only blocks at each end).
    #[arg(long, value_name = "KNOB=LIST", value_parser = sweep_axis)]
    pub sweep: Vec<(char, Vec<usize>)>,
    /// The method of a --sweep: concat, crossattn, pixart-crossattn or mmdit-joint
    /// (default: the config's first arm's).
    #[arg(long)]
    pub method: Option<String>,
    /// Write into an --out folder that holds files ifvit did not write.
    #[arg(long)]
    pub force: bool,
}

/// `c=0,1,2` or `v=1,3`: one axis of `--sweep`.
fn sweep_axis(s: &str) -> Result<(char, Vec<usize>), String> {
    let usage = "expected c=LIST or v=LIST, e.g. c=0,1,2";
    let (knob, list) = s.split_once('=').ok_or(usage)?;
    let knob = match knob.trim() {
        "c" => 'c',
        "v" => 'v',
        other => return Err(format!("unknown knob `{other}`; {usage}")),
    };
    let values = list
        .split(',')
        .map(|x| {
            let v: usize = x
                .trim()
                .parse()
                .map_err(|_| format!("`{x}` is not a block count; {usage}"))?;
            if v as u64 > crate::args::MAX_BLOCKS {
                return Err(format!(
                    "{v} is more than {} blocks",
                    crate::args::MAX_BLOCKS
                ));
            }
            Ok(v)
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok((knob, values))
}

/// Applies `--seeds`, `--sweep` and `--method` to the config.
fn apply_overrides(args: &AblateArgs, cfg: &mut ExperimentConfig) -> Result<()> {
    if let Some(n) = args.seeds {
        cfg.train.seeds = n;
    }
    if args.sweep.is_empty() {
        if args.method.is_some() {
            anyhow::bail!(
                "--method only applies to a --sweep; add --sweep c=0,1,2 --sweep v=0,1,2"
            );
        }
        return Ok(());
    }
    let axis = |k: char| -> Result<Vec<usize>> {
        let lists: Vec<&Vec<usize>> = args
            .sweep
            .iter()
            .filter(|a| a.0 == k)
            .map(|a| &a.1)
            .collect();
        match lists.as_slice() {
            [one] => Ok(one.to_vec()),
            [] => anyhow::bail!("--sweep needs both knobs: add --sweep {k}=0,1,2"),
            _ => anyhow::bail!("--sweep {k}=... given twice; give each knob once"),
        }
    };
    let method = match &args.method {
        Some(m) => m.trim().to_ascii_lowercase(),
        None => cfg
            .arms
            .first()
            .map_or("crossattn", |f| f.method())
            .to_string(),
    };
    cfg.sweep = Some(SweepConfig {
        method,
        c: axis('c')?,
        v: axis('v')?,
    });
    cfg.revalidate(&args.config)?;
    Ok(())
}

pub fn run(args: &AblateArgs, device: &Device) -> Result<()> {
    let mut cfg = ExperimentConfig::load(&args.config)?;
    if let Some(b) = args.budget {
        cfg.scale_budget(b);
    }
    apply_overrides(args, &mut cfg)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(&cfg.name));
    let arms = cfg.ablation_arms()?.len();
    eprintln!(
        "ablation `{}`: {arms} arms x {} seed(s) x {} steps (batch {}), eval {} + {} unseen prompts -> {}",
        cfg.name,
        cfg.train.seeds,
        cfg.train.steps,
        cfg.train.batch_size,
        cfg.eval.prompts,
        cfg.eval.unseen_prompts,
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
