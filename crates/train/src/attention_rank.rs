//! The paper's attention-rank analysis (issue 10 item 5): how low-rank is the text-to-image
//! attention in each block of the U?
//!
//! For `K` evaluation captions and a few timesteps, real `shapes` images of the captions are
//! noised to `x_t` and run through [`UViT::forward_with_attention`](ifvit_uvit::UViT). For
//! every joint block it records
//!
//! * `probs`: the image-query x text-key attention probabilities `[Np, Nt]` (the time-token
//!   query dropped), per caption and head, and
//! * `update`: the text tokens' contribution to the image tokens' attention output
//!   `[Np, D]`, per caption,
//!
//! and summarises each matrix's spectrum with `ifvit_metrics::rank` (effective rank,
//! singular values holding 90% / 99% of the energy), averaged over captions (and heads).
//! `text_mass` is the mean attention probability an image query puts on text keys.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor};
use ifvit_data::shapes::{ShapesGenerator, Split, eval_prompts, images_to_tensor};
use ifvit_diffusion::{NoiseSchedule, randn, seeded_rng};
use ifvit_fusion::Role;
use ifvit_metrics::rank::rank_summary;
use serde::{Deserialize, Serialize};

use crate::checkpoint::write_atomic;
use crate::config::ExperimentConfig;
use crate::data::shapes_config;
use crate::error::TrainError;
use crate::model::TextToImage;
use crate::text::Conditioner;
use ifvit_fusion::FusionStrategy;

/// What to analyse.
#[derive(Clone, Debug, PartialEq)]
pub struct AttentionSettings {
    /// Evaluation captions (seen split), one real image each.
    pub captions: usize,
    /// Model timesteps (integer `n` in 1..=N); each is one line of the plot.
    pub timesteps: Vec<usize>,
    /// Seed of the noise and of the real images' layout.
    pub seed: u64,
}

impl Default for AttentionSettings {
    fn default() -> Self {
        Self {
            captions: 8,
            timesteps: vec![100, 300, 500, 700, 900],
            seed: 0,
        }
    }
}

/// Means over captions (and heads) of one spectrum summary.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Spectrum {
    pub effective_rank: f64,
    pub energy90: f64,
    pub energy99: f64,
    /// The largest possible rank, `min(rows, cols)`.
    pub max_rank: usize,
}

/// One joint block at one timestep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockRank {
    /// Position in execution order (in-blocks, mid, out-blocks).
    pub block: usize,
    /// `in0`, `mid`, `out2`, ...
    pub label: String,
    pub timestep: usize,
    pub text_mass: f64,
    pub probs: Spectrum,
    pub update: Spectrum,
}

/// The whole analysis of one model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttentionRanks {
    pub arm: String,
    pub captions: Vec<String>,
    pub timesteps: Vec<usize>,
    /// Blocks of the U (in + mid + out) and their labels, in execution order.
    pub blocks: Vec<String>,
    pub image_tokens: usize,
    pub text_tokens: usize,
    pub heads: usize,
    /// Joint blocks only (image-only blocks have no text attention).
    pub rows: Vec<BlockRank>,
}

fn labels(n_in: usize) -> Vec<String> {
    (0..n_in)
        .map(|i| format!("in{i}"))
        .chain(std::iter::once("mid".to_string()))
        .chain((0..n_in).map(|i| format!("out{i}")))
        .collect()
}

/// Means of the rank summaries of row-major `[rows, cols]` matrices.
fn spectrum(mats: &[Vec<f64>], rows: usize, cols: usize) -> Result<Spectrum, TrainError> {
    let mut s = Spectrum {
        max_rank: rows.min(cols),
        ..Default::default()
    };
    for m in mats {
        let r = rank_summary(m, rows, cols).map_err(TrainError::Other)?;
        s.effective_rank += r.effective_rank;
        s.energy90 += r.energy90 as f64;
        s.energy99 += r.energy99 as f64;
    }
    let k = mats.len().max(1) as f64;
    s.effective_rank /= k;
    s.energy90 /= k;
    s.energy99 /= k;
    Ok(s)
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Result<Vec<f64>, TrainError> {
    let v = t
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| TrainError::Other(format!("reading attention back: {e:?}")))?;
    Ok(v.into_iter().map(f64::from).collect())
}

/// Runs the analysis on `model` (use the EMA weights). Needs the `shapes` data (real
/// images of the captions).
pub fn analyze<S: FusionStrategy>(
    model: &TextToImage<S>,
    text: &dyn Conditioner,
    cfg: &ExperimentConfig,
    arm: &str,
    settings: &AttentionSettings,
    device: &Device,
) -> Result<AttentionRanks, TrainError> {
    let shapes = shapes_config(&cfg.data).ok_or_else(|| {
        TrainError::Data(
            "the attention-rank analysis needs the `shapes` data (real images of its captions)"
                .into(),
        )
    })?;
    let schedule = NoiseSchedule::new(cfg.diffusion.schedule, cfg.diffusion.num_steps)?;
    let n_max = schedule.num_steps();
    if let Some(&t) = settings.timesteps.iter().find(|&&t| t == 0 || t > n_max) {
        return Err(TrainError::Data(format!(
            "--timesteps: {t} is not a model timestep; use values in 1..={n_max}"
        )));
    }
    if settings.captions == 0 || settings.timesteps.is_empty() {
        return Err(TrainError::Data(
            "the analysis needs at least one caption and one timestep".into(),
        ));
    }
    let prompts = eval_prompts(shapes, settings.captions, Split::Seen)
        .map_err(|e| TrainError::Data(e.to_string()))?;
    let captions: Vec<String> = prompts.into_iter().map(|p| p.caption).collect();
    let refs: Vec<&str> = captions.iter().map(String::as_str).collect();
    let generator =
        ShapesGenerator::new(shapes.clone()).map_err(|e| TrainError::Data(e.to_string()))?;
    let images = refs
        .iter()
        .enumerate()
        .map(|(j, c)| {
            generator
                .render_caption(c, settings.seed.wrapping_add(j as u64))
                .map(|item| item.image)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TrainError::Data(e.to_string()))?;
    let x0 = images_to_tensor(&images, device).map_err(|e| TrainError::Other(e.to_string()))?; // [K, 3, H, W]
    let context = text.context(model, &refs, device)?; // [K, Nt, Dc]
    let ucfg = model.uvit.config();
    let (k, np, nt, heads) = (
        refs.len(),
        ucfg.num_patches(),
        ucfg.num_text_tokens,
        ucfg.num_heads,
    );
    let n_in = model.uvit.plan().in_roles.len();
    let blocks = labels(n_in);
    let mut rows = Vec::new();
    for (ti, &t) in settings.timesteps.iter().enumerate() {
        let mut rng = seeded_rng(settings.seed ^ (0xA77E_0000 + ti as u64));
        let eps = randn(x0.dims(), &mut rng, device);
        let (a, s) = schedule.alpha_sigma(t);
        let x_t = x0.clone() * a + eps * s;
        let t_in = Tensor::<1>::from_floats(vec![t as f32; k].as_slice(), device);
        let (_, probes) = model
            .uvit
            .forward_with_attention(x_t, t_in, context.clone());
        for p in probes {
            let Some(att) = p.attention.filter(|_| p.role == Role::Joint) else {
                continue;
            };
            // [K, H, Ni, Nt] with Ni = Np + 1 (time token last): keep the Np patch rows.
            let probs = to_vec(att.text_probs().narrow(2, 0, np))?;
            let ntk = att.text_keys.1;
            let mats: Vec<Vec<f64>> = probs.chunks(np * ntk).map(<[f64]>::to_vec).collect();
            let text_mass = probs.iter().sum::<f64>() / (k * heads * np) as f64;
            let d = att.text_update.dims()[2];
            let update = to_vec(att.text_update.narrow(1, 0, np))?; // [K, Np, D]
            let umats: Vec<Vec<f64>> = update.chunks(np * d).map(<[f64]>::to_vec).collect();
            rows.push(BlockRank {
                block: p.index,
                label: blocks[p.index].clone(),
                timestep: t,
                text_mass,
                probs: spectrum(&mats, np, ntk)?,
                update: spectrum(&umats, np, d)?,
            });
        }
    }
    Ok(AttentionRanks {
        arm: arm.to_string(),
        captions,
        timesteps: settings.timesteps.clone(),
        blocks,
        image_tokens: np,
        text_tokens: nt,
        heads,
        rows,
    })
}

/// Mean of `f` over the rows of a set of blocks, all timesteps.
fn mean_over(rows: &[&BlockRank], f: impl Fn(&BlockRank) -> f64) -> Option<f64> {
    (!rows.is_empty()).then(|| rows.iter().map(|r| f(r)).sum::<f64>() / rows.len() as f64)
}

impl AttentionRanks {
    fn cell(&self, block: usize, t: usize) -> Option<&BlockRank> {
        self.rows
            .iter()
            .find(|r| r.block == block && r.timestep == t)
    }

    /// Mean effective rank of the probabilities in the shallow (first third of the
    /// blocks), middle and deep (last third) joint blocks, over all timesteps.
    pub fn depth_profile(&self) -> [Option<f64>; 3] {
        let n = self.blocks.len();
        let third = n / 3;
        let part = |lo: usize, hi: usize| {
            let rows: Vec<&BlockRank> = self
                .rows
                .iter()
                .filter(|r| r.block >= lo && r.block < hi)
                .collect();
            mean_over(&rows, |r| r.probs.effective_rank)
        };
        [part(0, third), part(third, n - third), part(n - third, n)]
    }

    /// Whether the paper's observation (low rank in shallow and deep blocks vs the middle)
    /// holds here, in one sentence with the numbers.
    pub fn verdict(&self) -> String {
        let f = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.2}"));
        let [s, m, d] = self.depth_profile();
        let holds = match (s, m, d) {
            (Some(s), Some(m), Some(d)) => {
                if m > s && m > d {
                    "holds: the middle blocks' text-to-image attention has the highest effective rank"
                } else {
                    "does not hold: the middle blocks' text-to-image attention is not of higher rank than both ends"
                }
            }
            _ => {
                "cannot be checked: text attention exists in only some depth thirds (image-only blocks there)"
            }
        };
        format!(
            "Mean effective rank of the image-query x text-key probabilities (max {}): shallow {}, middle {}, deep {} (blocks split in thirds, mean over timesteps {:?} and {} captions). The paper's observation {holds}.",
            self.text_tokens.min(self.image_tokens),
            f(s),
            f(m),
            f(d),
            self.timesteps,
            self.captions.len()
        )
    }

    /// A Markdown table: one row per joint block, per timestep the probabilities'
    /// effective rank (energy90/energy99), the update's effective rank and the text mass.
    pub fn markdown(&self) -> String {
        let mut s = format!(
            "Attention rank of `{}` ({} captions; {} image tokens x {} text tokens, {} heads). \
             Cells: probs eff. rank (n90/n99) | update eff. rank | text mass.\n\n| block |",
            self.arm,
            self.captions.len(),
            self.image_tokens,
            self.text_tokens,
            self.heads
        );
        for t in &self.timesteps {
            s.push_str(&format!(" t={t} |"));
        }
        s.push_str("\n|---|");
        s.push_str(&"---:|".repeat(self.timesteps.len()));
        s.push('\n');
        for (b, label) in self.blocks.iter().enumerate() {
            if self.rows.iter().all(|r| r.block != b) {
                s.push_str(&format!("| {label} (image-only) |"));
                s.push_str(&" |".repeat(self.timesteps.len()));
                s.push('\n');
                continue;
            }
            s.push_str(&format!("| {label} |"));
            for &t in &self.timesteps {
                match self.cell(b, t) {
                    Some(r) => s.push_str(&format!(
                        " {:.2} ({:.1}/{:.1}) \\| {:.2} \\| {:.3} |",
                        r.probs.effective_rank,
                        r.probs.energy90,
                        r.probs.energy99,
                        r.update.effective_rank,
                        r.text_mass
                    )),
                    None => s.push_str(" |"),
                }
            }
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&self.verdict());
        s.push('\n');
        s
    }

    /// Writes `attention_rank.json`, `attention_rank.md` and `attention_rank.png` (effective
    /// rank vs block depth, one line per timestep) into `dir`; returns the figure's path.
    pub fn write(&self, dir: &Path) -> Result<PathBuf, TrainError> {
        std::fs::create_dir_all(dir).map_err(|e| crate::checkpoint::io_err(dir, e))?;
        let json =
            serde_json::to_string_pretty(self).map_err(|e| TrainError::Other(e.to_string()))?;
        write_atomic(&dir.join("attention_rank.json"), json.as_bytes())?;
        write_atomic(&dir.join("attention_rank.md"), self.markdown().as_bytes())?;
        let series: Vec<(String, Vec<(f64, f64)>)> = self
            .timesteps
            .iter()
            .map(|&t| {
                let pts = self
                    .rows
                    .iter()
                    .filter(|r| r.timestep == t)
                    .map(|r| (r.block as f64, r.probs.effective_rank))
                    .collect();
                (format!("t = {t}"), pts)
            })
            .collect();
        let png = dir.join("attention_rank.png");
        crate::plot::lines(
            &format!("Text-to-image attention rank: {}", self.arm),
            &format!(
                "block depth (0 = {}, {} = {})",
                self.blocks[0],
                self.blocks.len() - 1,
                self.blocks[self.blocks.len() - 1]
            ),
            "effective rank of image-query x text-key probs",
            &series,
            &png,
        )?;
        Ok(png)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(block: usize, t: usize, rank: f64) -> BlockRank {
        BlockRank {
            block,
            label: String::new(),
            timestep: t,
            text_mass: 0.5,
            probs: Spectrum {
                effective_rank: rank,
                energy90: 1.0,
                energy99: 2.0,
                max_rank: 4,
            },
            update: Spectrum::default(),
        }
    }

    #[test]
    fn the_verdict_compares_the_middle_third_with_both_ends() {
        let mut r = AttentionRanks {
            arm: "early-concat".into(),
            captions: vec!["a".into()],
            timesteps: vec![100],
            blocks: labels(3),
            image_tokens: 16,
            text_tokens: 8,
            heads: 2,
            rows: (0..7)
                .map(|b| row(b, 100, [1.0, 1.0, 3.0, 3.0, 3.0, 1.5, 1.5][b]))
                .collect(),
        };
        assert_eq!(r.depth_profile(), [Some(1.0), Some(3.0), Some(1.5)]);
        assert!(r.verdict().contains("observation holds"), "{}", r.verdict());
        r.rows[0].probs.effective_rank = 9.0;
        assert!(r.verdict().contains("does not hold"), "{}", r.verdict());
        let md = r.markdown();
        assert!(md.contains("| in0 |") && md.contains("t=100"), "{md}");
        // Intermediate fusion: no text attention in the image-only end blocks.
        r.rows.retain(|x| (2..5).contains(&x.block));
        assert!(r.verdict().contains("cannot be checked"));
        assert!(r.markdown().contains("in0 (image-only)"));
    }

    #[test]
    fn spectra_are_averaged() {
        let rank1 = vec![1.0, 2.0, 2.0, 4.0]; // [2, 2], rank 1
        let ident = vec![1.0, 0.0, 0.0, 1.0];
        let s = spectrum(&[rank1, ident], 2, 2).unwrap();
        assert!((s.effective_rank - 1.5).abs() < 1e-9, "{s:?}");
        assert_eq!(s.max_rank, 2);
    }
}
