//! `ifvit data ...`: look at the data sets.
//!
//! `ifvit data preview shapes --n 16 --out grid.png [--seed S] [--config FILE.ron]` writes
//! a grid of renders, each captioned, and checks them with the exact alignment scorer.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use ifvit_data::shapes::{ShapesConfig, ShapesGenerator, ShapesItem};
use ifvit_metrics::caption_grid;
use ifvit_metrics::shapes::ShapesScorer;

use crate::args;

#[derive(clap::Args, Debug)]
pub struct DataArgs {
    #[command(subcommand)]
    pub command: DataCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum DataCommand {
    /// Write a PNG grid of items with their captions.
    Preview(PreviewArgs),
}

/// Data sets `preview` can show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PreviewDataset {
    /// The built-in procedural shapes (docs/shapes.md).
    Shapes,
}

#[derive(clap::Args, Debug)]
pub struct PreviewArgs {
    /// Which data set.
    #[arg(value_enum)]
    pub dataset: PreviewDataset,
    /// Number of items (1 to 1024).
    #[arg(long, default_value_t = 16, value_parser = args::count(1..=1024))]
    pub n: usize,
    /// Output PNG.
    #[arg(long, default_value = "preview.png")]
    pub out: PathBuf,
    /// Seed (overrides the config's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// A RON shapes config (every field optional, e.g. `(image_size: 16, jitter: 0)`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// A named config instead of --config: default (32 px) or small (16 px).
    #[arg(long, conflicts_with = "config")]
    pub preset: Option<String>,
    /// Index of the first item shown (0 to 2^48).
    #[arg(long, default_value_t = 0, value_parser = args::count64(0..=1 << 48))]
    pub start: u64,
    /// Grid columns, 0 to 64 (0: about square).
    #[arg(long, default_value_t = 0, value_parser = args::count(0..=64))]
    pub cols: usize,
}

pub fn run(args: &DataArgs, _device: &Device) -> Result<()> {
    match &args.command {
        DataCommand::Preview(a) => preview(a),
    }
}

fn shapes_config(args: &PreviewArgs) -> Result<ShapesConfig> {
    let mut cfg = match (&args.config, &args.preset) {
        (Some(path), _) => ShapesConfig::load(path)?,
        (None, Some(name)) => ShapesConfig::preset(name)?,
        (None, None) => ShapesConfig::default(),
    };
    if let Some(seed) = args.seed {
        cfg.seed = seed;
    }
    Ok(cfg)
}

fn preview(args: &PreviewArgs) -> Result<()> {
    let is_png = args
        .out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    if !is_png {
        bail!(
            "--out {}: the grid is written as PNG; name the file *.png",
            args.out.display()
        );
    }
    match args.dataset {
        PreviewDataset::Shapes => {}
    }
    let cfg = shapes_config(args)?;
    let generator = ShapesGenerator::new(cfg.clone())?;
    let items: Vec<ShapesItem> = (0..args.n as u64)
        .map(|i| generator.item(args.start.wrapping_add(i)))
        .collect();
    let images: Vec<_> = items.iter().map(|it| it.image.clone()).collect();
    let captions: Vec<String> = items.iter().map(|it| it.caption.clone()).collect();

    let grid = caption_grid(&images, &captions, args.cols);
    grid.save(&args.out)
        .with_context(|| format!("writing the preview grid to {}", args.out.display()))?;

    let report = ShapesScorer::default().report(&images, &captions)?;
    // Written through a locked handle so a closed pipe (`| head`) is an error, not a panic.
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "wrote {} ({}x{}): shapes items {}..{} of seed {}, {}x{} px",
        args.out.display(),
        grid.width(),
        grid.height(),
        args.start,
        args.start.wrapping_add(args.n as u64),
        cfg.seed,
        cfg.image_size,
        cfg.image_size
    )?;
    for (i, it) in items.iter().enumerate() {
        let index = args.start.wrapping_add(i as u64);
        writeln!(out, "  {index:>4}  {:<8}  {}", it.aspect.name(), it.caption)?;
    }
    writeln!(
        out,
        "alignment scorer on these renders: {:.1}% all correct (clean renders should be 100%)",
        100.0 * report.overall.all_correct
    )?;
    Ok(())
}
