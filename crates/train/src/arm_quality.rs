//! Per-arm image quality and attention rank in the ablation (issue 10 item 7).
//!
//! Sized for the main job's 15-minute budget: FID/KID use `eval.fid_images` of the images
//! the alignment evaluation already sampled (the first prompts of each aspect, the same set
//! `eval_prompts(fid_images)` gives), so nothing extra is sampled; only the Inception runs
//! (about 5 images/s in release on 2 cores). The shapes reference (`fid_images` real
//! images) is computed once and cached (`quality::shapes_reference`). The attention-rank
//! analysis (`attention_rank`) is one probed forward per timestep on a few captions.
//! The seconds all of this adds are measured and reported.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use ifvit_data::shapes::{Aspect, Split, eval_prompts};
use serde::{Deserialize, Serialize};

use crate::attention_rank::{AttentionSettings, analyze};
use crate::config::ExperimentConfig;
use crate::data::shapes_config;
use crate::error::TrainError;
use crate::eval::EvalOutcome;
use crate::model::TextToImage;
use crate::quality::{
    FidKid, Inception, Reference, ReferenceInfo, fid_kid, reference_dir, shapes_reference,
};
use crate::text::Conditioner;
use ifvit_fusion::FusionStrategy;

/// What one arm gained.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ArmQuality {
    /// FID/KID of `fid.n` guided evaluation samples against the shapes reference.
    pub fid: Option<FidKid>,
    /// Why there is no FID (disabled in the config, or no Inception weights).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fid_absent: Option<String>,
    /// `arms/<arm>/attention-rank/attention_rank.png`, when analysed.
    pub attention_rank_figure: Option<PathBuf>,
    /// The analysis' one-sentence verdict on the paper's observation.
    pub attention_rank_verdict: Option<String>,
    /// Mean effective rank of the probabilities: shallow, middle, deep thirds.
    pub attention_rank_profile: Option<[Option<f64>; 3]>,
    /// Seconds this added to the arm (Inception features, FID/KID, attention analysis).
    pub extra_seconds: f64,
}

/// Loaded once per ablation: the Inception and the reference, or why not.
pub struct QualityContext {
    inception: Option<Inception>,
    reference: Option<Reference>,
    absent: Option<String>,
    /// Seconds spent loading the Inception and computing (or reading) the reference.
    pub setup_seconds: f64,
    pub reference_info: Option<ReferenceInfo>,
}

impl QualityContext {
    /// Loads what the config asks for. A missing Inception is not an error (the ablation
    /// runs without downloads); its reason lands in every arm's `fid_absent`.
    pub fn open(cfg: &ExperimentConfig, device: &Device) -> Result<Self, TrainError> {
        let t = Instant::now();
        let mut ctx = Self {
            inception: None,
            reference: None,
            absent: None,
            setup_seconds: 0.0,
            reference_info: None,
        };
        let n = cfg.eval.fid_images;
        let shapes = shapes_config(&cfg.data);
        ctx.absent = match (n, shapes) {
            (0, _) => Some("disabled: eval.fid_images is 0 in the config".into()),
            (_, None) => Some("FID is built in for the shapes data only".into()),
            (n, Some(_)) if n > cfg.eval.prompts => {
                return Err(TrainError::Data(format!(
                    "eval.fid_images = {n} is more than eval.prompts = {}: FID uses the \
                     evaluation samples; lower fid_images or raise prompts",
                    cfg.eval.prompts
                )));
            }
            (n, Some(_)) if n < 2 => {
                return Err(TrainError::Data(
                    "eval.fid_images must be 0 (off) or at least 2".into(),
                ));
            }
            _ => None,
        };
        if let (None, Some(s)) = (&ctx.absent, shapes) {
            match Inception::load(None, device) {
                Ok(inc) => {
                    let r = shapes_reference(&inc, s, n, &reference_dir(), device)?;
                    ctx.reference_info = Some(r.info(&inc));
                    ctx.reference = Some(r);
                    ctx.inception = Some(inc);
                }
                Err(e) => {
                    ctx.absent = Some(format!(
                        "no FID Inception weights ({e}); run `ifvit assets fetch fid-inception` \
                         and re-run the same command (finished arms are not retrained)"
                    ))
                }
            }
        }
        ctx.setup_seconds = t.elapsed().as_secs_f64();
        Ok(ctx)
    }

    /// FID/KID on the arm's evaluation samples and, if enabled, the attention-rank analysis
    /// written under `run_dir/attention-rank`.
    #[allow(clippy::too_many_arguments)]
    pub fn arm<S: FusionStrategy>(
        &self,
        model: &TextToImage<S>,
        text: &dyn Conditioner,
        cfg: &ExperimentConfig,
        arm: &str,
        ev: &EvalOutcome,
        run_dir: &Path,
        device: &Device,
    ) -> Result<ArmQuality, TrainError> {
        let t = Instant::now();
        let mut q = ArmQuality {
            fid_absent: self.absent.clone(),
            ..Default::default()
        };
        if let (Some(inc), Some(reference), Some(shapes)) =
            (&self.inception, &self.reference, shapes_config(&cfg.data))
        {
            let subset = eval_prompts(shapes, cfg.eval.fid_images, Split::Seen)
                .map_err(|e| TrainError::Data(e.to_string()))?;
            let pick = subset_indices(
                &ev.prompts.iter().map(|p| p.aspect).collect::<Vec<_>>(),
                &subset.iter().map(|p| p.aspect).collect::<Vec<_>>(),
            );
            let images: Vec<_> = pick.iter().map(|&i| ev.images[i].clone()).collect();
            let feats = inc.features(&images, device)?;
            q.fid = Some(fid_kid(&feats, reference, arm)?);
        }
        if cfg.eval.attention_rank && shapes_config(&cfg.data).is_some() {
            let ranks = analyze(model, text, cfg, arm, &AttentionSettings::default(), device)?;
            q.attention_rank_figure = Some(ranks.write(&run_dir.join("attention-rank"))?);
            q.attention_rank_verdict = Some(ranks.verdict());
            q.attention_rank_profile = Some(ranks.depth_profile());
        }
        q.extra_seconds = t.elapsed().as_secs_f64();
        Ok(q)
    }
}

/// Positions in `full` (aspects of `eval_prompts(n)`, in order) of the prompts of
/// `eval_prompts(m)`, `m <= n`: prompt `j` of an aspect is the same for every count, so the
/// `j`-th prompt of aspect `a` in the subset is the `j`-th of `a` in the full list.
pub fn subset_indices(full: &[Aspect], subset: &[Aspect]) -> Vec<usize> {
    let mut by_aspect: BTreeMap<Aspect, Vec<usize>> = BTreeMap::new();
    for (i, a) in full.iter().enumerate() {
        by_aspect.entry(*a).or_default().push(i);
    }
    let mut seen: BTreeMap<Aspect, usize> = BTreeMap::new();
    subset
        .iter()
        .filter_map(|a| {
            let j = seen.entry(*a).or_default();
            let i = by_aspect.get(a).and_then(|v| v.get(*j)).copied();
            *j += 1;
            i
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ifvit_data::shapes::ShapesConfig;

    #[test]
    fn the_subset_is_the_smaller_eval_prompt_set() {
        let s = ShapesConfig::small();
        let full = eval_prompts(&s, 15, Split::Seen).unwrap();
        let sub = eval_prompts(&s, 7, Split::Seen).unwrap();
        let pick = subset_indices(
            &full.iter().map(|p| p.aspect).collect::<Vec<_>>(),
            &sub.iter().map(|p| p.aspect).collect::<Vec<_>>(),
        );
        assert_eq!(pick.len(), 7);
        for (k, &i) in pick.iter().enumerate() {
            assert_eq!(full[i], sub[k]);
        }
    }
}
