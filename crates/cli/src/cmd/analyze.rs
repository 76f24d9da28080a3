//! `ifvit analyze attention`: the rank of the text-to-image attention per block of a
//! trained run (the paper's motivation for fusing in the middle).

use std::path::PathBuf;

use anyhow::Result;
use burn::tensor::Device;
use ifvit_train::attention_rank::{AttentionSettings, analyze};
use ifvit_train::load::load_run;

use crate::args;

#[derive(clap::Subcommand, Debug)]
pub enum AnalyzeCommand {
    /// Effective rank and 90%/99% energy counts of the image-query x text-key attention and
    /// of the text's contribution to the image update, per block and timestep.
    Attention(AttentionArgs),
}

#[derive(clap::Args, Debug)]
pub struct AttentionArgs {
    /// A run folder (latest checkpoint) or one checkpoint folder.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Evaluation captions (one real image each).
    #[arg(long, default_value_t = 8, value_parser = args::count(1..=4096))]
    pub captions: usize,
    /// Model timesteps, comma-separated (1 to the schedule's steps); one plot line each.
    #[arg(long, value_delimiter = ',', default_values_t = [100usize, 300, 500, 700, 900])]
    pub timesteps: Vec<usize>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder: attention_rank.{json,md,png}.
    #[arg(long, default_value = "attention-rank")]
    pub out: PathBuf,
}

pub fn run(c: &AnalyzeCommand, device: &Device) -> Result<()> {
    match c {
        AnalyzeCommand::Attention(a) => {
            let run = load_run(&a.checkpoint, true, device)?;
            let settings = AttentionSettings {
                captions: a.captions,
                timesteps: a.timesteps.clone(),
                seed: a.seed,
            };
            let arm = run.config.arms[0].to_string();
            let ranks = analyze(&run.model, &run.text, &run.config, &arm, &settings, device)?;
            let png = ranks.write(&a.out)?;
            println!("{}", ranks.markdown());
            println!(
                "wrote {} (and attention_rank.json, attention_rank.md)",
                png.display()
            );
            Ok(())
        }
    }
}
