//! `ifvit eval`: image quality, CLIP score, alignment and efficiency facts of one trained
//! run, as `eval.json` (docs/metrics.md, "eval.json").
//!
//! Samples `n` images from evaluation captions (on `shapes`: `eval_prompts(n, split)`,
//! drawn from the caption distribution; or `--captions FILE`, `n` drawn at random without
//! replacement), with the chosen sampler and guidance. FID/KID are reported with that
//! guidance and, when it is not 1, also without guidance (w = 1, the conditional model
//! alone: U-ViT's in-training FID convention), each labelled. The guided images are the ones
//! CLIP-scored and alignment-scored.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::tensor::Device;
use ifvit_data::shapes::{Split, eval_prompts};
use ifvit_diffusion::{NoiseSchedule, SamplerConfig};
use ifvit_fusion::Fusion;
use ifvit_metrics::{AlignmentReport, ShapesScorer};
use ifvit_uvit::forward_cost;
use image::RgbImage;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::data::shapes_config;
use crate::error::TrainError;
use crate::load::LoadedRun;
use crate::quality::{FidKid, Inception, ReferenceInfo, fid_kid, reference_dir, shapes_reference};
use crate::sample::{SampleSettings, sample_prompts};

/// A metric `ifvit eval` can compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    Fid,
    Kid,
    Clip,
    Alignment,
}

impl Metric {
    /// `fid,kid,clip,alignment` (any subset, any order).
    pub fn parse_list(s: &str) -> Result<Vec<Metric>, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let m = match part {
                "fid" => Metric::Fid,
                "kid" => Metric::Kid,
                "clip" => Metric::Clip,
                "alignment" => Metric::Alignment,
                other => {
                    return Err(format!(
                        "unknown metric `{other}`; expected a comma-separated list of fid, kid, clip, alignment"
                    ));
                }
            };
            if !out.contains(&m) {
                out.push(m);
            }
        }
        if out.is_empty() {
            return Err("no metric given; use e.g. --metrics fid,kid,clip,alignment".into());
        }
        Ok(out)
    }
}

/// What to evaluate and how.
#[derive(Clone, Debug)]
pub struct EvalRequest {
    pub metrics: Vec<Metric>,
    pub n: usize,
    pub split: Split,
    /// One caption per line; `n` are drawn at random (seeded) without replacement.
    pub captions_file: Option<PathBuf>,
    pub sampler: SamplerConfig,
    pub guidance: f64,
    pub seed: u64,
    pub batch_size: usize,
    /// A Hugging Face `openai/clip-vit-*` folder; without it the CLIP score is absent.
    pub clip_dir: Option<PathBuf>,
    pub inception_dir: Option<PathBuf>,
    /// Real images behind the shapes reference statistics (default: `n`).
    pub reference_n: Option<usize>,
    /// Where the reference cache lives (default: [`reference_dir`]).
    pub reference_cache: Option<PathBuf>,
    /// The strategy the user expects the checkpoint to hold (`--fusion`).
    pub expect_fusion: Option<Fusion>,
}

/// Sampling recorded in `eval.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SamplingInfo {
    pub sampler: String,
    pub steps: usize,
    pub nfe: usize,
    pub guidance: f64,
    pub seed: u64,
    pub batch_size: usize,
    pub n: usize,
    pub captions: String,
}

/// FID and KID of one guidance setting.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FidEntry {
    /// `guided (w=3)` or `unguided (w=1)`.
    pub label: String,
    pub guidance: f64,
    #[serde(flatten)]
    pub scores: FidKid,
}

/// CLIP score, or why there is none.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ClipField {
    Scores {
        /// Hessel et al.: mean of 2.5 * max(cos, 0), captions prefixed "A photo depicts ".
        clipscore_hessel: f64,
        /// The same cosines as mean of 100 * max(cos, 0).
        clip_cos100: f64,
        n: usize,
        model: PathBuf,
    },
    Absent {
        absent: String,
    },
}

impl ClipField {
    /// Absent because no CLIP model was given.
    pub fn no_weights() -> Self {
        ClipField::Absent {
            absent: "no CLIP model given: pass --clip DIR (a Hugging Face openai/clip-vit-* \
                     folder with config.json and model.safetensors). CLIP weights are not \
                     available from any package registry here, so no CLIP score was computed; \
                     a MiniLM text-text score would not be a CLIP score."
                .into(),
        }
    }

    /// The Hessel et al. CLIPScore, if computed.
    pub fn hessel(&self) -> Option<f64> {
        match self {
            ClipField::Scores {
                clipscore_hessel, ..
            } => Some(*clipscore_hessel),
            ClipField::Absent { .. } => None,
        }
    }
}

/// Sampling time of one guidance setting.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SamplingTime {
    pub guidance: f64,
    /// Network evaluations per image (x2 batch rows with guidance).
    pub nfe: usize,
    pub seconds_per_image: f64,
}

/// Efficiency facts.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Efficiency {
    pub params: usize,
    /// Analytic forward cost per sample (`ifvit_uvit::forward_cost`).
    pub forward_gmacs: f64,
    pub sampling: Vec<SamplingTime>,
    /// From the checkpoint's training state (`step * batch / train_seconds`); `null` when
    /// the run does not record its training time.
    pub train_images_per_s: Option<f64>,
    pub device: String,
    pub machine: String,
}

/// `eval.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EvalJson {
    pub checkpoint: PathBuf,
    pub step: u64,
    pub arm: String,
    pub weights: String,
    pub sampling: SamplingInfo,
    /// Present when fid or kid was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fid: Option<Vec<FidEntry>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fid_reference: Option<ReferenceInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clip_score: Option<ClipField>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alignment: Option<AlignmentReport>,
    pub efficiency: Efficiency,
    pub seconds: f64,
}

/// What an evaluation produced besides `eval.json`: the guided images and their captions.
pub struct EvalOutput {
    pub json: EvalJson,
    pub images: Vec<RgbImage>,
    pub captions: Vec<String>,
}

/// The checkpoint's strategy must be the one asked for (`--fusion`): a mismatch is an error
/// naming the run's config file and the fix.
pub fn check_fusion(config_file: &Path, found: Fusion, expected: Fusion) -> Result<(), TrainError> {
    if found == expected {
        return Ok(());
    }
    Err(TrainError::Data(format!(
        "{}: the checkpoint was trained as `{found}` but --fusion says `{expected}`; pass \
         --fusion {} (or leave it out), or point --checkpoint at a run of `{expected}`",
        config_file.display(),
        cli_args(found),
    )))
}

/// `early-concat`, `intermediate-crossattn --c 1 --v 1`: how `--fusion` names `f`.
fn cli_args(f: Fusion) -> String {
    match f.knobs() {
        (0, 0) if f.to_string() == f.family() => f.family().to_string(),
        (c, v) => format!("{} --c {c} --v {v}", f.family()),
    }
}

/// `n` captions from `file` (one per line, `#` comments), drawn at random without
/// replacement with `seed`. More than the file holds is an error naming it.
pub fn captions_from_file(file: &Path, n: usize, seed: u64) -> Result<Vec<String>, TrainError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| TrainError::Data(format!("--captions {}: {e}", file.display())))?;
    let mut all: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    if n > all.len() {
        return Err(TrainError::Data(format!(
            "--captions {}: --n {n} asks for more captions than the file's {} (each image gets \
             a different caption); lower --n to {} or add captions to the file",
            file.display(),
            all.len(),
            all.len()
        )));
    }
    all.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    all.truncate(n);
    Ok(all)
}

fn settings(
    run: &LoadedRun,
    req: &EvalRequest,
    guidance: f64,
) -> Result<SampleSettings, TrainError> {
    let cfg = &run.config;
    let ucfg = cfg.uvit(cfg.arms[0])?;
    Ok(SampleSettings {
        schedule: NoiseSchedule::new(cfg.diffusion.schedule, cfg.diffusion.num_steps)?,
        prediction: cfg.diffusion.prediction,
        sampler: req.sampler.clone(),
        guidance,
        seed: req.seed,
        batch_size: req.batch_size,
        image_shape: [ucfg.in_chans, ucfg.img_size, ucfg.img_size],
    })
}

/// Evaluates a loaded run. `log` receives one line per phase.
pub fn evaluate_run(
    run: &LoadedRun,
    req: &EvalRequest,
    device: &Device,
    log: &mut dyn FnMut(&str),
) -> Result<EvalOutput, TrainError> {
    let t_all = Instant::now();
    let cfg = &run.config;
    let fusion = cfg.arms[0];
    if let Some(expected) = req.expect_fusion {
        // RUN/checkpoints/step-N -> RUN/config.ron
        let run_dir = run.checkpoint.dir.parent().and_then(Path::parent);
        let config = run_dir.map_or_else(|| PathBuf::from("config.ron"), |d| d.join("config.ron"));
        check_fusion(&config, fusion, expected)?;
    }
    let shapes = shapes_config(&cfg.data);
    let wants = |m: Metric| req.metrics.contains(&m);
    let want_fid = wants(Metric::Fid) || wants(Metric::Kid);
    if (want_fid || wants(Metric::Alignment)) && shapes.is_none() {
        return Err(TrainError::Data(
            "fid/kid and alignment are built in for the `shapes` data only (its generator gives \
             the reference images, its scorer the alignment); for other data use `ifvit sample` \
             and `ifvit fid` with your own reference statistics"
                .into(),
        ));
    }
    if req.n == 0 {
        return Err(TrainError::Data("--n must be at least 1".into()));
    }
    if want_fid && req.n < 2 {
        return Err(TrainError::Data(
            "FID/KID need at least 2 samples (a covariance); raise --n".into(),
        ));
    }
    // Captions first: bad input fails before any compute.
    let (captions, source) = match (&req.captions_file, shapes) {
        (Some(f), _) => (
            captions_from_file(f, req.n, req.seed)?,
            format!(
                "{} ({} drawn at random, seed {})",
                f.display(),
                req.n,
                req.seed
            ),
        ),
        (None, Some(s)) => (
            eval_prompts(s, req.n, req.split)
                .map_err(|e| TrainError::Data(e.to_string()))?
                .into_iter()
                .map(|p| p.caption)
                .collect(),
            format!(
                "shapes eval_prompts(n = {}, split = {}): drawn from the caption distribution, split evenly over the aspects",
                req.n,
                req.split.name()
            ),
        ),
        (None, None) => {
            return Err(TrainError::Data(
                "this data set has no built-in evaluation captions; pass --captions FILE".into(),
            ));
        }
    };
    let refs: Vec<&str> = captions.iter().map(String::as_str).collect();
    // Load the networks before sampling (a missing asset fails fast).
    let inception = if want_fid {
        log("loading the FID Inception");
        Some(Inception::load(req.inception_dir.as_deref(), device)?)
    } else {
        None
    };
    let clip = match (&req.clip_dir, wants(Metric::Clip)) {
        (Some(dir), true) => {
            log("loading CLIP");
            let m = ifvit_encoders::clip::ClipModel::load(dir, device)
                .map_err(|e| TrainError::Other(format!("--clip {}: {e}", dir.display())))?;
            Some((m, dir.clone()))
        }
        _ => None,
    };

    let mut guidances = vec![req.guidance];
    if want_fid && req.guidance != 1.0 {
        guidances.push(1.0);
    }
    let mut sampled: Vec<(f64, Vec<RgbImage>, f64)> = Vec::new();
    for &w in &guidances {
        log(&format!("sampling {} images (w = {w})", refs.len()));
        let s = settings(run, req, w)?;
        let t = Instant::now();
        let images = sample_prompts(&run.model, &run.text, &refs, &s, device, &mut |_| {})?;
        sampled.push((w, images, t.elapsed().as_secs_f64() / refs.len() as f64));
    }
    let guided = sampled[0].1.clone();

    let alignment = if wants(Metric::Alignment) {
        Some(
            ShapesScorer::default()
                .report(&guided, &refs)
                .map_err(|e| TrainError::Other(e.to_string()))?,
        )
    } else {
        None
    };

    let clip_score = if !wants(Metric::Clip) {
        None
    } else if let Some((model, dir)) = &clip {
        log("CLIP score");
        let tok = ifvit_data::tokenizer::clip::ClipTokenizer::new();
        let scorer = ifvit_encoders::clip::ClipScorer {
            model,
            tokenizer: &tok,
        };
        let rgb: Vec<ifvit_encoders::clip::Rgb8> = guided
            .iter()
            .map(|im| {
                ifvit_encoders::clip::Rgb8::new(
                    im.width() as usize,
                    im.height() as usize,
                    im.as_raw().clone(),
                )
            })
            .collect();
        let s = scorer
            .score(&rgb, &refs, device)
            .map_err(|e| TrainError::Data(format!("CLIP tokenizer: {e}")))?;
        Some(ClipField::Scores {
            clipscore_hessel: s.hessel,
            clip_cos100: s.cos100,
            n: s.cosines.len(),
            model: dir.clone(),
        })
    } else {
        Some(ClipField::no_weights())
    };

    let (fid, fid_reference) = match (&inception, shapes) {
        (Some(inc), Some(s)) => {
            let n_ref = req.reference_n.unwrap_or(req.n);
            let dir = req.reference_cache.clone().unwrap_or_else(reference_dir);
            log(&format!("FID reference: {n_ref} real shapes images"));
            let reference = shapes_reference(inc, s, n_ref, &dir, device)?;
            let mut entries = Vec::new();
            for (w, images, _) in &sampled {
                log(&format!(
                    "Inception features of {} samples (w = {w})",
                    images.len()
                ));
                let feats = inc.features(images, device)?;
                let label = if *w == 1.0 {
                    "unguided (w=1)".to_string()
                } else {
                    format!("guided (w={w})")
                };
                entries.push(FidEntry {
                    label: label.clone(),
                    guidance: *w,
                    scores: fid_kid(&feats, &reference, &label)?,
                });
            }
            (Some(entries), Some(reference.info(inc)))
        }
        _ => (None, None),
    };

    let ucfg = cfg.uvit(fusion)?;
    let state = &run.checkpoint.state;
    let batch = cfg.train.batch_size as f64;
    let json = EvalJson {
        checkpoint: run.checkpoint.dir.clone(),
        step: state.step,
        arm: fusion.to_string(),
        weights: "ema".into(),
        sampling: SamplingInfo {
            sampler: req.sampler.name().to_string(),
            steps: req.sampler.steps(),
            nfe: req.sampler.nfe(),
            guidance: req.guidance,
            seed: req.seed,
            batch_size: req.batch_size,
            n: req.n,
            captions: source,
        },
        fid,
        fid_reference,
        clip_score,
        alignment,
        efficiency: Efficiency {
            params: run.model.num_params(),
            forward_gmacs: forward_cost(&ucfg).gmacs(),
            sampling: sampled
                .iter()
                .map(|(w, _, spi)| SamplingTime {
                    guidance: *w,
                    nfe: req.sampler.nfe(),
                    seconds_per_image: *spi,
                })
                .collect(),
            train_images_per_s: (state.train_seconds > 0.0)
                .then(|| state.step as f64 * batch / state.train_seconds),
            device: format!("{device:?}"),
            machine: crate::ablate::machine(),
        },
        seconds: t_all.elapsed().as_secs_f64(),
    };
    Ok(EvalOutput {
        json,
        images: guided,
        captions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_lists_parse_and_errors_name_the_fix() {
        assert_eq!(
            Metric::parse_list("fid, kid,alignment,fid").unwrap(),
            [Metric::Fid, Metric::Kid, Metric::Alignment]
        );
        assert!(Metric::parse_list("fid,is").unwrap_err().contains("`is`"));
        assert!(Metric::parse_list("").unwrap_err().contains("--metrics"));
    }

    #[test]
    fn more_images_than_captions_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("caps.txt");
        std::fs::write(
            &f,
            "# eval\na red circle\na blue square\n\na green triangle\n",
        )
        .unwrap();
        let two = captions_from_file(&f, 2, 0).unwrap();
        assert_eq!(two.len(), 2);
        assert_ne!(two[0], two[1]);
        assert_eq!(two, captions_from_file(&f, 2, 0).unwrap());
        let e = captions_from_file(&f, 4, 0).unwrap_err().to_string();
        assert!(
            e.contains("caps.txt") && e.contains("--n 4") && e.contains("lower --n to 3"),
            "{e}"
        );
    }

    #[test]
    fn a_checkpoint_of_another_strategy_is_named() {
        let p = Path::new("runs/a/config.ron");
        check_fusion(p, Fusion::EarlyConcat, Fusion::EarlyConcat).unwrap();
        let e = check_fusion(
            p,
            Fusion::EarlyConcat,
            Fusion::IntermediateCrossAttn { c: 1, v: 1 },
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("runs/a/config.ron")
                && e.contains("early-concat")
                && e.contains("--fusion early-concat"),
            "{e}"
        );
    }
}
