//! `ifvit eval`: FID/KID (with and without guidance), CLIP score, alignment and efficiency
//! facts of a trained run, as `eval.json` plus a sample grid (docs/metrics.md).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::tensor::Device;
use ifvit_data::shapes::Split;
use ifvit_diffusion::{SamplerConfig, SamplerOptions};
use ifvit_fusion::Fusion;
use ifvit_train::checkpoint::write_atomic;
use ifvit_train::eval_run::{EvalRequest, Metric, evaluate_run};
use ifvit_train::load::load_run;

use crate::args;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitArg {
    /// Compositions of the training distribution.
    Seen,
    /// Compositions training never showed (the config's holdout).
    Unseen,
}

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// A run folder (latest checkpoint) or one checkpoint folder.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Comma-separated: fid, kid, clip, alignment.
    #[arg(long, default_value = "fid,kid,clip,alignment")]
    pub metrics: String,
    /// Images to sample (one evaluation caption each).
    #[arg(long, value_parser = args::count(1..=1_000_000))]
    pub n: usize,
    /// Evaluation captions of `shapes`: seen or unseen compositions.
    #[arg(long, value_enum, default_value = "seen")]
    pub split: SplitArg,
    /// A caption file (one per line); n are drawn at random without replacement.
    #[arg(long)]
    pub captions: Option<PathBuf>,
    /// Sampler (see `ifvit schedulers`); default: the run's evaluation sampler.
    #[arg(long)]
    pub sampler: Option<String>,
    /// Sampler steps (with --sampler).
    #[arg(long, default_value_t = 50, value_parser = args::count(1..=1000))]
    pub steps: usize,
    /// Guidance w in eps_u + w (eps_c - eps_u); default: the run's evaluation guidance.
    #[arg(long, allow_negative_numbers = true, value_parser = args::guidance)]
    pub guidance: Option<f64>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Images per model batch.
    #[arg(long, default_value_t = 50, value_parser = args::count(1..=args::MAX_BATCH))]
    pub batch: usize,
    /// A CLIP model folder (Hugging Face openai/clip-vit-*); without it the CLIP score is
    /// absent, with the reason in eval.json.
    #[arg(long)]
    pub clip: Option<PathBuf>,
    /// Folder holding default_1.pt; default: the asset cache.
    #[arg(long, env = "IFVIT_FID_INCEPTION")]
    pub inception: Option<PathBuf>,
    /// Real images behind the shapes FID reference (default: --n).
    #[arg(long, value_parser = args::count(2..=1_000_000))]
    pub reference_n: Option<usize>,
    /// The strategy the checkpoint must hold (an error otherwise), e.g. early-concat.
    #[arg(long)]
    pub fusion: Option<String>,
    #[arg(long, requires = "fusion", value_parser = args::count(0..=args::MAX_BLOCKS))]
    pub c: Option<usize>,
    #[arg(long, requires = "fusion", value_parser = args::count(0..=args::MAX_BLOCKS))]
    pub v: Option<usize>,
    /// Output JSON; the grid goes beside it as <stem>-grid.png.
    #[arg(long, default_value = "eval.json")]
    pub out: PathBuf,
}

/// `eval.json` -> `eval-grid.png` beside it.
pub fn grid_path(out: &Path) -> PathBuf {
    let stem = out.file_stem().and_then(|s| s.to_str()).unwrap_or("eval");
    out.with_file_name(format!("{stem}-grid.png"))
}

pub fn run(a: &EvalArgs, device: &Device) -> Result<()> {
    let metrics = Metric::parse_list(&a.metrics).map_err(anyhow::Error::msg)?;
    let expect_fusion = match &a.fusion {
        Some(name) => Some(Fusion::parse(name, a.c, a.v)?),
        None => None,
    };
    let run = load_run(&a.checkpoint, true, device)?;
    let sampler = match &a.sampler {
        Some(name) => SamplerConfig::parse(name, a.steps, &SamplerOptions::default())?,
        None => run.config.eval.sampler.clone(),
    };
    let req = EvalRequest {
        metrics,
        n: a.n,
        split: match a.split {
            SplitArg::Seen => Split::Seen,
            SplitArg::Unseen => Split::Unseen,
        },
        captions_file: a.captions.clone(),
        sampler,
        guidance: a.guidance.unwrap_or(run.config.eval.guidance),
        seed: a.seed,
        batch_size: a.batch,
        clip_dir: a.clip.clone(),
        inception_dir: a.inception.clone(),
        reference_n: a.reference_n,
        reference_cache: None,
        expect_fusion,
    };
    let out = evaluate_run(&run, &req, device, &mut |msg| eprintln!("{msg}"))?;
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let grid = grid_path(&a.out);
    let k = out.images.len().min(16);
    ifvit_metrics::caption_grid(&out.images[..k], &out.captions[..k], k.min(8))
        .save(&grid)
        .with_context(|| format!("writing {}", grid.display()))?;
    let json = serde_json::to_string_pretty(&out.json)?;
    write_atomic(&a.out, json.as_bytes())?;
    if let Some(fid) = &out.json.fid {
        for e in fid {
            println!(
                "{}: FID {:.3}  KID {:.5} +- {:.5}  (n = {})",
                e.label, e.scores.fid, e.scores.kid, e.scores.kid_std, e.scores.n
            );
        }
    }
    if let Some(al) = &out.json.alignment {
        println!(
            "alignment: all-correct {:.1}% (n = {})",
            100.0 * al.overall.all_correct,
            al.overall.n
        );
    }
    println!("wrote {} and {}", a.out.display(), grid.display());
    Ok(())
}
