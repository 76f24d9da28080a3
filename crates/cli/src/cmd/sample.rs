//! `ifvit sample`: images from a trained run.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use ifvit_diffusion::{NoiseSchedule, SamplerConfig, SamplerOptions};
use ifvit_train::load::load_run;
use ifvit_train::sample::{SampleSettings, sample_prompts};

use crate::args;

#[derive(clap::Args, Debug)]
pub struct SampleArgs {
    /// A run folder (latest checkpoint) or one checkpoint folder.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// One prompt.
    #[arg(long, required_unless_present = "prompts")]
    pub prompt: Option<String>,
    /// A text file with one prompt per line (batched).
    #[arg(long, conflicts_with = "prompt")]
    pub prompts: Option<PathBuf>,
    /// Sampler: ddpm, ddim, dpm-solver++-2m, dpm-solver++ (see `ifvit schedulers`).
    #[arg(long, default_value = "dpm-solver++")]
    pub sampler: String,
    /// Sampler steps (1 to 1000; at most the schedule's training steps).
    #[arg(long, default_value_t = 50, value_parser = args::count(1..=1000))]
    pub steps: usize,
    /// Guidance w in eps_u + w (eps_c - eps_u), -100 to 100; U-ViT's s = w - 1.
    #[arg(long, default_value_t = 2.0, allow_negative_numbers = true, value_parser = args::guidance)]
    pub guidance: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Images per model batch (1 to 4096).
    #[arg(long, default_value_t = 16, value_parser = args::count(1..=args::MAX_BATCH))]
    pub batch: usize,
    /// DDIM eta, 0 to 1.
    #[arg(long, value_parser = args::eta)]
    pub eta: Option<f64>,
    /// Use the raw weights instead of the EMA.
    #[arg(long)]
    pub raw: bool,
    /// Output PNG. With several prompts: a captioned grid here, and each image beside it
    /// as <stem>-NNN.png.
    #[arg(long)]
    pub out: PathBuf,
    /// Upscale factor of single images (nearest neighbour), for viewing: 1 to 64, and the
    /// result at most 8192 pixels wide.
    #[arg(long, default_value_t = 1, value_parser = args::count32(1..=64))]
    pub scale: u32,
}

/// Widest image `--scale` may produce.
const MAX_SIDE: u64 = 8192;

/// `--scale` may not make an image wider than [`MAX_SIDE`].
fn check_scale(img_size: usize, scale: u32) -> Result<()> {
    let side = img_size as u64 * scale as u64;
    if side > MAX_SIDE {
        bail!(
            "--scale {scale}: the {img_size}-pixel images would become {side} pixels wide; the \
             most is {MAX_SIDE}, so use --scale {} or less",
            (MAX_SIDE / img_size.max(1) as u64).max(1)
        );
    }
    Ok(())
}

fn read_prompts(path: &Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("--prompts {}", path.display()))?;
    let p: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    if p.is_empty() {
        bail!(
            "--prompts {}: no prompts (one per line; # starts a comment)",
            path.display()
        );
    }
    Ok(p)
}

pub fn run(args: &SampleArgs, device: &Device) -> Result<()> {
    let prompts = match (&args.prompt, &args.prompts) {
        (Some(p), _) => vec![p.clone()],
        (None, Some(f)) => read_prompts(f)?,
        _ => unreachable!("clap requires one"),
    };
    let run = load_run(&args.checkpoint, !args.raw, device)?;
    let opts = SamplerOptions {
        eta: args.eta,
        ..Default::default()
    };
    let sampler = SamplerConfig::parse(&args.sampler, args.steps, &opts)?;
    let cfg = &run.config;
    let schedule = NoiseSchedule::new(cfg.diffusion.schedule, cfg.diffusion.num_steps)?;
    let ucfg = cfg.uvit(cfg.arms[0])?;
    check_scale(ucfg.img_size, args.scale)?;
    let settings = SampleSettings {
        schedule,
        prediction: cfg.diffusion.prediction,
        sampler,
        guidance: args.guidance,
        seed: args.seed,
        batch_size: args.batch,
        image_shape: [ucfg.in_chans, ucfg.img_size, ucfg.img_size],
    };
    let refs: Vec<&str> = prompts.iter().map(String::as_str).collect();
    let images = sample_prompts(&run.model, &run.text, &refs, &settings, device, &mut |_| {})?;
    let save = |img: &image::RgbImage, path: &Path| -> Result<()> {
        let img = if args.scale > 1 {
            image::imageops::resize(
                img,
                img.width() * args.scale,
                img.height() * args.scale,
                image::imageops::FilterType::Nearest,
            )
        } else {
            img.clone()
        };
        img.save(path)
            .with_context(|| format!("writing {}", path.display()))
    };
    if images.len() == 1 {
        save(&images[0], &args.out)?;
        println!("{}", args.out.display());
    } else {
        let grid = ifvit_metrics::caption_grid(&images, &prompts, 0);
        grid.save(&args.out)
            .with_context(|| format!("writing {}", args.out.display()))?;
        let stem = args
            .out
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("sample");
        let dir = args.out.parent().unwrap_or(Path::new("."));
        for (i, img) in images.iter().enumerate() {
            save(img, &dir.join(format!("{stem}-{i:03}.png")))?;
        }
        println!("{} (+ {} images)", args.out.display(), images.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_is_bounded_by_the_output_width() {
        check_scale(16, 64).unwrap();
        check_scale(256, 32).unwrap();
        let e = check_scale(256, 64).unwrap_err().to_string();
        assert!(
            e.contains("--scale 64") && e.contains("16384") && e.contains("--scale 32 or less"),
            "{e}"
        );
    }
}
