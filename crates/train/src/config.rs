//! Experiment configuration, one RON file per experiment under `experiments/`.
//!
//! Every field is explicit in the committed files; unknown fields and wrong types are errors
//! with line and column. The exact config (with the arm that was trained) is written beside
//! every checkpoint and result.

use std::path::Path;

use ifvit_data::shapes::ShapesConfig;

pub use crate::data::{CacheConfig, FashionConfig};
pub use crate::text::TextEncoderConfig;
use ifvit_diffusion::{BetaSchedule, LossWeighting, NoiseSchedule, Prediction, SamplerConfig};
use ifvit_fusion::{Fusion, FusionStrategy};
use ifvit_uvit::UViTConfig;
use serde::{Deserialize, Serialize};

/// A config file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {message}")]
    Read { path: String, message: String },
    #[error("{path}:{line}:{col}: {message}")]
    Parse {
        path: String,
        line: usize,
        col: usize,
        message: String,
    },
    #[error("{path}: field `{field}`: {message}")]
    Invalid {
        path: String,
        field: String,
        message: String,
    },
}

/// Most optimizer steps a config may ask for.
pub const MAX_STEPS: u64 = 1_000_000_000;

/// The field whose value sits at `line:col` (1-based) of a RON text: the nearest `name:`
/// before that position, so that a parse error names the field, not only the place.
fn field_at(text: &str, line: usize, col: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let last = line.checked_sub(1)?.min(lines.len().checked_sub(1)?);
    for (i, l) in lines[..=last].iter().enumerate().rev() {
        let upto: String = if i == last {
            l.chars().take(col.saturating_sub(1)).collect()
        } else {
            l.to_string()
        };
        // The last `ident:` on the line before the position.
        let bytes = upto.as_bytes();
        let mut k = bytes.len();
        while k > 0 {
            k -= 1;
            if bytes[k] == b':' {
                let end = k;
                let mut start = end;
                while start > 0
                    && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_')
                {
                    start -= 1;
                }
                if start < end && !bytes[start].is_ascii_digit() {
                    return Some(upto[start..end].to_string());
                }
            }
        }
    }
    None
}

/// One experiment: data, model, diffusion, optimisation, loop, evaluation, and the ablation
/// arms (fusion strategies) it compares.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    pub name: String,
    pub data: DataConfig,
    pub model: ModelConfig,
    /// How captions become context: `Learned` (default), `MiniLm`, `Bert(dir: ..)`,
    /// `Clip(dir: ..)` (frozen encoders: `shapes` and Fashion-MNIST data only).
    #[serde(default)]
    pub text_encoder: TextEncoderConfig,
    /// Fusion strategies compared by `ifvit ablate`; `ifvit train` uses the first unless told.
    pub arms: Vec<Fusion>,
    pub diffusion: DiffusionConfig,
    pub optim: OptimConfig,
    pub train: LoopConfig,
    pub eval: EvalConfig,
    /// A grid of intermediate placements of one method that replaces `arms` in `ifvit
    /// ablate` (`--sweep c=0,1,2 --sweep v=0,1,2`); the report draws heat maps over it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepConfig>,
}

/// The c/v design space of one fusion method: every `(c, v)` of the grid as an
/// intermediate arm. RON: `sweep: Some((method: "crossattn", c: [0, 1, 2], v: [0, 1, 2]))`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepConfig {
    /// `concat`, `crossattn`, `pixart-crossattn` or `mmdit-joint`.
    pub method: String,
    /// Text-only blocks.
    pub c: Vec<usize>,
    /// Image-only blocks at each end.
    pub v: Vec<usize>,
}

impl SweepConfig {
    /// The grid's arms, `c`-major (`c[0]v[0], c[0]v[1], ...`).
    pub fn arms(&self) -> Result<Vec<Fusion>, ifvit_fusion::FusionError> {
        let name = format!("intermediate-{}", self.method);
        let mut arms = Vec::with_capacity(self.c.len() * self.v.len());
        for &c in &self.c {
            for &v in &self.v {
                arms.push(Fusion::parse(&name, Some(c), Some(v))?);
            }
        }
        Ok(arms)
    }
}

/// Where the images and captions come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum DataConfig {
    /// The built-in procedural `shapes` data (word-level captions, exact scorer).
    Shapes(ShapesConfig),
    /// Fashion-MNIST from Debian's `dataset-fashion-mnist` (template captions).
    FashionMnist(FashionConfig),
    /// An MS-COCO feature cache from `ifvit prepare coco` (latent moments + text features).
    CocoCache(CacheConfig),
}

/// The backbone: a named preset plus optional overrides.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub preset: String,
    #[serde(default)]
    pub embed_dim: Option<usize>,
    #[serde(default)]
    pub depth: Option<usize>,
    #[serde(default)]
    pub num_heads: Option<usize>,
    #[serde(default)]
    pub patch_size: Option<usize>,
    #[serde(default)]
    pub mlp_ratio: Option<f64>,
    /// Text tokens (the tokenizer's context length must match).
    #[serde(default)]
    pub num_text_tokens: Option<usize>,
    #[serde(default)]
    pub context_dim: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffusionConfig {
    pub schedule: BetaSchedule,
    pub num_steps: usize,
    pub prediction: Prediction,
    #[serde(default)]
    pub loss_weighting: LossWeighting,
}

/// AdamW and the learning-rate schedule (SPEC: lr 2e-4, betas (0.9, 0.9), wd 0.03, eps 1e-8,
/// 5000 warm-up steps then constant, no clipping).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimConfig {
    pub lr: f64,
    pub betas: (f32, f32),
    pub eps: f32,
    pub weight_decay: f32,
    pub warmup_steps: u64,
    /// Clip the global gradient norm to this value (off in SPEC).
    #[serde(default)]
    pub grad_clip_norm: Option<f32>,
}

/// The training loop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoopConfig {
    pub batch_size: usize,
    pub steps: u64,
    /// Seed of data order, caption dropout, timesteps and noise (model init: `seed`).
    pub seed: u64,
    /// EMA decay, updated every step.
    pub ema_decay: f64,
    /// Probability of replacing the caption by the empty caption "" (classifier-free guidance).
    pub caption_dropout: f64,
    pub checkpoint_every: u64,
    #[serde(default = "default_keep")]
    pub keep_checkpoints: usize,
    /// Loss values are read back from the device every `log_every` steps.
    pub log_every: u64,
    /// Data-parallel devices (1 = single device). See docs/training.md.
    #[serde(default = "default_devices")]
    pub devices: usize,
    /// Independent runs per arm in `ifvit ablate` (`--seeds N`): run `k` uses `seed + k` for
    /// training and `eval.seed + k` for the evaluation noise; the report gives the mean and
    /// spread over runs and paired tests between arms over the same prompts and seeds.
    #[serde(default = "default_seeds")]
    pub seeds: usize,
}

fn default_seeds() -> usize {
    1
}

fn default_keep() -> usize {
    2
}

fn default_devices() -> usize {
    1
}

/// Evaluation after training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalConfig {
    /// Held-out prompts scored (seeded; split by aspect).
    pub prompts: usize,
    pub sampler: SamplerConfig,
    /// Guidance `w` in `eps_u + w (eps_c - eps_u)` (U-ViT's s = w - 1).
    pub guidance: f64,
    pub batch_size: usize,
    /// Prompts shown in the sample grid of every arm (the same for all arms).
    pub grid_prompts: usize,
    pub seed: u64,
    /// Evaluation samples per arm scored with FID/KID against `fid_images` real `shapes`
    /// images (0: off). Taken from the `prompts` samples: nothing extra is sampled.
    #[serde(default)]
    pub fid_images: usize,
    /// Run the attention-rank analysis on every arm (`shapes` data).
    #[serde(default)]
    pub attention_rank: bool,
    /// Prompts holding a composition training never showed (`data.holdout`), scored beside
    /// the `prompts` seen ones (0: none; `shapes` data with a holdout only).
    #[serde(default)]
    pub unseen_prompts: usize,
}

impl ExperimentConfig {
    /// Parses RON; errors carry the file, line and column.
    pub fn from_ron(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let cfg: Self =
            ron::Options::default()
                .from_str(text)
                .map_err(|e: ron::error::SpannedError| ConfigError::Parse {
                    path: origin.to_string(),
                    line: e.position.line,
                    col: e.position.col,
                    message: match field_at(text, e.position.line, e.position.col) {
                        Some(f) => format!("field `{f}`: {}", e.code),
                        None => e.code.to_string(),
                    },
                })?;
        cfg.validate(origin)?;
        Ok(cfg)
    }

    /// Checks a config again after changes made outside its file (command-line overrides);
    /// errors name `path` and the field.
    pub fn revalidate(&self, path: &Path) -> Result<(), ConfigError> {
        self.validate(&path.display().to_string())
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: origin.clone(),
            message: e.to_string(),
        })?;
        Self::from_ron(&text, &origin)
    }

    pub fn to_ron(&self) -> String {
        ron::ser::to_string_pretty(self, ron::ser::PrettyConfig::default().struct_names(false))
            .expect("config serialises")
    }

    /// The backbone config of one arm.
    pub fn uvit(&self, fusion: Fusion) -> Result<UViTConfig, ifvit_uvit::ConfigError> {
        self.uvit_with(fusion)
    }

    /// The backbone config of an arm with any fusion strategy (a library user's own
    /// [`FusionStrategy`] included): the model section's preset and overrides, sized to the
    /// data.
    pub fn uvit_with<S: FusionStrategy>(
        &self,
        strategy: S,
    ) -> Result<UViTConfig<S>, ifvit_uvit::ConfigError> {
        let m = &self.model;
        // The arm is checked against the final depth (after overrides), not the preset's.
        let mut c = UViTConfig::preset(&m.preset, Fusion::EarlyConcat)?.with_fusion(strategy);
        match &self.data {
            DataConfig::Shapes(s) => {
                c.img_size = s.image_size as usize;
                c.in_chans = 3;
            }
            DataConfig::FashionMnist(f) => {
                c.img_size = f.image_size;
                c.in_chans = 3;
            }
            // Latent size and text width come from the preset (uvit-s2: 4x32x32, CLIP 77x768);
            // the trainer checks them against the cache.
            DataConfig::CocoCache(_) => {}
        }
        if let Some(v) = m.embed_dim {
            c.embed_dim = v;
        }
        if let Some(v) = m.depth {
            c.depth = v;
        }
        if let Some(v) = m.num_heads {
            c.num_heads = v;
        }
        if let Some(v) = m.patch_size {
            c.patch_size = v;
        }
        if let Some(v) = m.mlp_ratio {
            c.mlp_ratio = v;
        }
        if let Some(v) = m.num_text_tokens {
            c.num_text_tokens = v;
        }
        if let Some(v) = m.context_dim {
            c.context_dim = v;
        } else if let Some(d) = self.text_encoder.known_dim() {
            // A frozen encoder's width is the context width.
            c.context_dim = d;
        }
        c.validate()?;
        Ok(c)
    }

    fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |field: &str, message: String| ConfigError::Invalid {
            path: origin.to_string(),
            field: field.to_string(),
            message,
        };
        self.validate_ranges(origin)?;
        if self.arms.is_empty() {
            return Err(invalid("arms", "list at least one fusion strategy".into()));
        }
        for f in &self.arms {
            self.uvit(*f)
                .map_err(|e| invalid("model / arms", e.to_string()))?;
        }
        if !self.text_encoder.is_learned() {
            if matches!(self.data, DataConfig::CocoCache(_)) {
                return Err(invalid(
                    "text_encoder",
                    "a feature cache already holds its text features; use Learned (the \
                     cache's encoder is chosen by `ifvit prepare coco`)"
                        .into(),
                ));
            }
            if let (Some(d), Some(set)) = (self.text_encoder.known_dim(), self.model.context_dim)
                && d != set
            {
                return Err(invalid(
                    "model.context_dim",
                    format!(
                        "{set} does not match the {d}-d features of text_encoder {:?}; \
                         remove it (the width comes from the encoder)",
                        self.text_encoder
                    ),
                ));
            }
        }
        let t = &self.train;
        if !(0.0..1.0).contains(&t.ema_decay) {
            return Err(invalid(
                "train.ema_decay",
                format!("{} is not in [0, 1)", t.ema_decay),
            ));
        }
        if !(0.0..=1.0).contains(&t.caption_dropout) {
            return Err(invalid(
                "train.caption_dropout",
                format!("{} is not a probability", t.caption_dropout),
            ));
        }
        if t.devices == 0 || !t.batch_size.is_multiple_of(t.devices) {
            return Err(invalid(
                "train.devices",
                format!(
                    "{} devices must divide batch_size {}",
                    t.devices, t.batch_size
                ),
            ));
        }
        if !(self.optim.lr.is_finite() && self.optim.lr > 0.0) {
            return Err(invalid(
                "optim.lr",
                format!("{} must be positive", self.optim.lr),
            ));
        }
        let e = &self.eval;
        ifvit_diffusion::check_guidance(e.guidance)
            .map_err(|err| invalid("eval.guidance", err.to_string()))?;
        e.sampler
            .validate(self.diffusion.num_steps)
            .map_err(|err| invalid("eval.sampler", err.to_string()))?;
        if e.batch_size == 0 {
            return Err(invalid("eval.batch_size", "must be positive".into()));
        }
        if e.unseen_prompts > 0 {
            match &self.data {
                DataConfig::Shapes(s) if !s.holdout.is_off() => {}
                DataConfig::Shapes(_) => {
                    return Err(invalid(
                        "eval.unseen_prompts",
                        format!(
                            "{} unseen prompts, but data.holdout holds nothing out; set e.g. \
                             holdout: (colour_shapes: 2, count_shapes: 2, relation_colours: 1) \
                             or unseen_prompts: 0",
                            e.unseen_prompts
                        ),
                    ));
                }
                _ => {
                    return Err(invalid(
                        "eval.unseen_prompts",
                        "only the `shapes` data has held-out compositions; use 0".into(),
                    ));
                }
            }
        }
        if let Some(sw) = &self.sweep {
            if sw.c.is_empty() || sw.v.is_empty() {
                return Err(invalid(
                    "sweep",
                    "list at least one value of c and of v, e.g. c: [0, 1, 2], v: [0, 1, 2]".into(),
                ));
            }
            for f in sw
                .arms()
                .map_err(|e| invalid("sweep.method", e.to_string()))?
            {
                self.uvit(f)
                    .map_err(|e| invalid("sweep.c / sweep.v", e.to_string()))?;
            }
        }
        Ok(())
    }

    /// Every number within the range it may take (a typo such as an extra zero is caught
    /// here, not as a huge allocation or an overflow later).
    fn validate_ranges(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |field: &str, message: String| ConfigError::Invalid {
            path: origin.to_string(),
            field: field.to_string(),
            message,
        };
        let int = |field: &str, v: u64, lo: u64, hi: u64| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(invalid(field, format!("{v} is not in {lo}..={hi}")))
            }
        };
        let float = |field: &str, v: f64, lo: f64, hi: f64, lo_open: bool| {
            let above = if lo_open { v > lo } else { v >= lo };
            if v.is_finite() && above && v <= hi {
                Ok(())
            } else {
                let open = if lo_open { "(" } else { "[" };
                Err(invalid(field, format!("{v} is not in {open}{lo}, {hi}]")))
            }
        };
        match &self.data {
            DataConfig::Shapes(s) => s.validate().map_err(|e| invalid("data", e.to_string()))?,
            DataConfig::FashionMnist(f) => int("data.image_size", f.image_size as u64, 28, 1024)?,
            DataConfig::CocoCache(c) => {
                float("data.scale_factor", c.scale_factor, 0.0, 100.0, true)?
            }
        }
        let image_size = match &self.data {
            DataConfig::Shapes(s) => Some(s.image_size as usize),
            DataConfig::FashionMnist(f) => Some(f.image_size),
            DataConfig::CocoCache(_) => None,
        };
        if let (Some(size), Some(patch)) = (image_size, self.model.patch_size)
            && patch > 0
            && !size.is_multiple_of(patch)
        {
            return Err(invalid(
                "data.image_size",
                format!("{size} must be a multiple of model.patch_size {patch}"),
            ));
        }
        let m = &self.model;
        for (field, v, hi) in [
            ("model.embed_dim", m.embed_dim, 16384),
            ("model.depth", m.depth, 256),
            ("model.num_heads", m.num_heads, 256),
            ("model.patch_size", m.patch_size, 64),
            ("model.num_text_tokens", m.num_text_tokens, 1024),
            ("model.context_dim", m.context_dim, 16384),
        ] {
            if let Some(v) = v {
                int(field, v as u64, 1, hi)?;
            }
        }
        if let Some(r) = m.mlp_ratio {
            float("model.mlp_ratio", r, 0.0, 64.0, true)?;
        }
        int(
            "diffusion.num_steps",
            self.diffusion.num_steps as u64,
            1,
            100_000,
        )?;
        NoiseSchedule::new(self.diffusion.schedule, self.diffusion.num_steps)
            .map_err(|e| invalid("diffusion.schedule", e.to_string()))?;
        self.diffusion
            .loss_weighting
            .validate()
            .map_err(|e| invalid("diffusion.loss_weighting", e.to_string()))?;
        let o = &self.optim;
        float("optim.lr", o.lr, 0.0, 10.0, true)?;
        float("optim.betas.0", o.betas.0 as f64, 0.0, 0.99999999, false)?;
        float("optim.betas.1", o.betas.1 as f64, 0.0, 0.99999999, false)?;
        float("optim.eps", o.eps as f64, 0.0, 1.0, true)?;
        float(
            "optim.weight_decay",
            o.weight_decay as f64,
            0.0,
            10.0,
            false,
        )?;
        int("optim.warmup_steps", o.warmup_steps, 0, MAX_STEPS)?;
        if let Some(n) = o.grad_clip_norm {
            float("optim.grad_clip_norm", n as f64, 0.0, 1e6, true)?;
        }
        let t = &self.train;
        int("train.batch_size", t.batch_size as u64, 1, 4096)?;
        int("train.steps", t.steps, 1, MAX_STEPS)?;
        int("train.checkpoint_every", t.checkpoint_every, 1, MAX_STEPS)?;
        int("train.keep_checkpoints", t.keep_checkpoints as u64, 1, 1000)?;
        int("train.log_every", t.log_every, 1, MAX_STEPS)?;
        int("train.devices", t.devices as u64, 1, 64)?;
        let e = &self.eval;
        int("eval.prompts", e.prompts as u64, 0, 1_000_000)?;
        int("eval.batch_size", e.batch_size as u64, 1, 4096)?;
        int("eval.grid_prompts", e.grid_prompts as u64, 0, 1024)?;
        int("eval.fid_images", e.fid_images as u64, 0, e.prompts as u64)?;
        int("eval.unseen_prompts", e.unseen_prompts as u64, 0, 1_000_000)?;
        int("train.seeds", t.seeds as u64, 1, 1000)?;
        Ok(())
    }

    /// The arms `ifvit ablate` trains: the sweep's grid if there is one, else `arms`.
    pub fn ablation_arms(&self) -> Result<Vec<Fusion>, ifvit_fusion::FusionError> {
        match &self.sweep {
            Some(sw) => sw.arms(),
            None => Ok(self.arms.clone()),
        }
    }

    /// Run `k` of `train.seeds`: training seed `seed + k` and evaluation noise `eval.seed +
    /// k`, as a single-run config (what that run's folder records).
    pub fn for_seed(&self, k: usize) -> ExperimentConfig {
        let mut c = self.clone();
        c.train.seed = self.train.seed.wrapping_add(k as u64);
        c.eval.seed = self.eval.seed.wrapping_add(k as u64);
        c.train.seeds = 1;
        c.sweep = None;
        c
    }

    /// Scales the step budget (and the warm-up with it) by `factor` (`--budget`), capped at
    /// [`MAX_STEPS`].
    pub fn scale_budget(&mut self, factor: f64) {
        let scale = |v: u64| ((v as f64 * factor).round() as u64).clamp(1, MAX_STEPS);
        self.train.steps = scale(self.train.steps);
        self.optim.warmup_steps = (self.optim.warmup_steps as f64 * factor).round() as u64;
        self.train.checkpoint_every = scale(self.train.checkpoint_every).min(self.train.steps);
    }
}
