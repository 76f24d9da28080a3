//! A fusion strategy defined outside the ifvit crates, run through the library API.
//!
//! `GatedCrossAttn` is Flamingo-style gated cross-attention (Alayrac et al. 2022): each joint
//! block is a U-ViT self-attention block plus a cross-attention sublayer over the text
//! tokens whose output is scaled by `tanh(gate)`, with `gate` initialised to zero, so the
//! block starts as a plain image block and learns how much text to let in. Everything
//! strategy-specific lives in this file: the trait implementation, the block module, its
//! cost. The backbone (`UViT<GatedCrossAttn>`), the cost model, checkpoint IO (burn's
//! store, PyTorch names) and sampling come from the library.
//!
//! The example then runs a tiny two-arm ablation through the library's ablation API
//! (`ifvit_train::ablate_arms`: the gated strategy against U-ViT's early concatenation, a few
//! dozen steps each on the built-in `shapes` data, same seed, data order and budget), which
//! trains each arm with EMA and atomic checkpoints, scores it with the exact `shapes` scorer
//! and writes the report; then it reloads the gated arm's checkpoint
//! (`ifvit_train::load::load_run_with`) and samples from it:
//!
//! ```text
//! cargo run -p ifvit-examples --example custom_strategy [-- OUT_DIR [STEPS]]
//! ```

use std::path::PathBuf;

use burn::module::{Module, Param};
use burn::nn::{LayerNorm, Linear};
use burn::tensor::{Device, Tensor};
use ifvit_data::shapes::ShapesConfig;
use ifvit_diffusion::sampler::{SamplerConfig, Spacing};
use ifvit_diffusion::{BetaSchedule, LossWeighting, NoiseSchedule, Prediction};
use ifvit_fusion::attention::{CrossAttention, SelfAttention};
use ifvit_fusion::block::{BlockDims, apply_skip};
use ifvit_fusion::init::{layer_norm, linear};
use ifvit_fusion::mlp::Mlp;
use ifvit_fusion::{Fusion, FusionStrategy, JointBlock, JointCost, JointSlot, Placement, Streams};
use ifvit_train::ablate::Quiet;
use ifvit_train::config::{
    DataConfig, DiffusionConfig, EvalConfig, ExperimentConfig, LoopConfig, ModelConfig, OptimConfig,
};
use ifvit_train::load::load_run_with;
use ifvit_train::sample::{SampleSettings, sample_prompts};
use ifvit_train::{Arm, ablate_arms, report};
use ifvit_uvit::forward_cost;

// ---------------------------------------------------------------------------------------
// The user's strategy.

/// Flamingo-style gated cross-attention in the middle of the U (`c` text blocks, `v`
/// image-only blocks at each end).
#[derive(Clone, Copy, Debug)]
struct GatedCrossAttn {
    c: usize,
    v: usize,
}

// A strategy value is a parameter-free burn module (so `TextToImage<S>` can derive Module).
ifvit_fusion::constant_module!(GatedCrossAttn);

/// `x += SelfAttn(LN1 x); x += tanh(gate) CrossAttn(LN_cross x, text); x += MLP(LN2 x)`.
#[derive(Module, Debug)]
struct GatedBlock {
    skip_linear: Option<Linear>,
    norm1: LayerNorm,
    attn: SelfAttention,
    norm_cross: LayerNorm,
    cross_attn: CrossAttention,
    /// `[1]`, zero at init.
    gate: Param<Tensor<1>>,
    norm2: LayerNorm,
    mlp: Mlp,
}

impl FusionStrategy for GatedCrossAttn {
    type Block = GatedBlock;

    fn name(&self) -> String {
        format!("gated-crossattn(c={},v={})", self.c, self.v)
    }

    fn placement(&self) -> Placement {
        Placement::Intermediate {
            c: self.c,
            v: self.v,
        }
    }

    fn joint_block(&self, dims: BlockDims, slot: JointSlot, device: &Device) -> GatedBlock {
        let d = dims.dim;
        GatedBlock {
            skip_linear: slot.skip.then(|| linear(2 * d, d, true, device)),
            norm1: layer_norm(d, device),
            attn: SelfAttention::new(d, dims.heads, dims.qkv_bias, device),
            norm_cross: layer_norm(d, device),
            cross_attn: CrossAttention::new(d, dims.heads, dims.qkv_bias, device),
            gate: Param::from_tensor(Tensor::zeros([1], device)),
            norm2: layer_norm(d, device),
            mlp: Mlp::new(d, dims.mlp_hidden, device),
        }
    }

    fn joint_cost(&self, dims: BlockDims, ni: usize, nt: usize, slot: JointSlot) -> JointCost {
        let (n, t, d) = (ni as u64, nt as u64, dims.dim as u64);
        let skip = if slot.skip { dims.skip_macs() } else { 0 };
        JointCost {
            label: "joint-gated",
            tokens: ni,
            kv_tokens: ni + nt,
            linear_macs: n * (6 * d * d + dims.mlp_macs() + skip) + t * 2 * d * d,
            attn_macs: 2 * n * n * d + 2 * n * t * d,
            params: 3 * dims.norm_params()
                + 2 * dims.attn_params()
                + dims.mlp_params()
                + 1
                + if slot.skip { dims.skip_params() } else { 0 },
        }
    }
}

impl JointBlock for GatedBlock {
    fn forward(&self, s: Streams, skip: Option<Streams>) -> Streams {
        let mut s = s.split();
        let x = apply_skip(&self.skip_linear, s.h, skip.map(Streams::into_image)); // [B, Ni, D]
        let x = x.clone() + self.attn.forward(self.norm1.forward(x));
        let gate = self.gate.val().tanh().reshape([1, 1, 1]);
        let cross = self
            .cross_attn
            .forward(self.norm_cross.forward(x.clone()), s.text.clone());
        let x = x + cross * gate;
        s.h = x.clone() + self.mlp.forward(self.norm2.forward(x));
        s
    }
}

// ---------------------------------------------------------------------------------------
// The experiment: the library's config, trainer, evaluation and report.

/// 16x16 `shapes` images, patch 4 (16 tokens), width 32, depth 4, x0 prediction, AdamW:
/// small enough for a debug build in CI.
fn experiment(steps: u64) -> ExperimentConfig {
    ExperimentConfig {
        name: "custom-strategy".into(),
        data: DataConfig::Shapes(ShapesConfig::small()),
        model: ModelConfig {
            preset: "uvit-tiny".into(),
            embed_dim: Some(32),
            depth: Some(4),
            num_heads: Some(2),
            patch_size: Some(4),
            mlp_ratio: Some(2.0),
            num_text_tokens: Some(8),
            context_dim: Some(32),
        },
        text_encoder: Default::default(),
        // Not used by `ablate_arms` (the arms are given in code); kept valid for the RON face.
        arms: vec![Fusion::EarlyConcat],
        diffusion: DiffusionConfig {
            schedule: BetaSchedule::default(),
            num_steps: 1000,
            prediction: Prediction::Sample,
            loss_weighting: LossWeighting::Uniform,
        },
        optim: OptimConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.03,
            warmup_steps: 0,
            grad_clip_norm: None,
        },
        train: LoopConfig {
            batch_size: 4,
            steps,
            seed: 0,
            ema_decay: 0.9,
            caption_dropout: 0.1,
            checkpoint_every: steps.div_ceil(2).max(1),
            keep_checkpoints: 2,
            log_every: 5,
            devices: 1,
            seeds: 1,
        },
        eval: EvalConfig {
            prompts: 8,
            sampler: ddim(5),
            guidance: 2.0,
            batch_size: 8,
            grid_prompts: 4,
            seed: 0,
            // FID needs the Inception weights and minutes of CPU; the attention-rank probe
            // needs a strategy that implements `JointBlock::text_attention`. Off here.
            fid_images: 0,
            attention_rank: false,
            unseen_prompts: 0,
        },
        sweep: None,
    }
}

fn ddim(steps: usize) -> SamplerConfig {
    SamplerConfig::Ddim {
        steps,
        eta: 0.0,
        spacing: Spacing::default(),
    }
}

fn main() {
    let default_out = std::env::temp_dir().join("ifvit-custom-strategy");
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // A fresh folder each run (the library would otherwise resume the finished arms).
            let _ = std::fs::remove_dir_all(&default_out);
            default_out
        });
    let steps: u64 = std::env::args()
        .nth(2)
        .map(|s| s.parse().expect("STEPS must be a number"))
        .unwrap_or(24);
    let device = Device::flex();
    let cfg = experiment(steps);
    let gated = GatedCrossAttn { c: 1, v: 1 };

    // Cost model: params and forward MACs of the user's strategy, block by block.
    let cost = forward_cost(&cfg.uvit_with(gated).expect("valid model"));
    println!("{}: {:.4} GMACs per sample", gated.name(), cost.gmacs());
    for b in &cost.blocks {
        println!("  {:<7} {:<12} {:>7} params", b.name, b.role, b.params);
    }

    // The ablation: the user's strategy against U-ViT's early concatenation, through the
    // library (same seed, data order and budget; EMA, checkpoints, evaluation, report).
    let arms = [Arm::new(gated), Arm::from(Fusion::EarlyConcat)];
    let results =
        ablate_arms(&cfg, &arms, &out, &device, None, &mut Quiet).expect("the ablation runs");
    println!("\n{}", report::summary_table(&results));

    // Reload the gated arm's last checkpoint (EMA weights) and sample two prompts.
    let run_dir = out.join("arms").join(&arms[0].slug);
    let run = load_run_with(&run_dir, gated, true, &device).expect("reload the gated arm");
    assert_eq!(
        run.model.num_params(),
        results.arms[0].params,
        "the reloaded model is the trained one"
    );
    println!(
        "reloaded {} (step {})",
        run.checkpoint.dir.display(),
        run.checkpoint.state.step
    );
    let prompts = ["a red circle", "a blue square"];
    let settings = SampleSettings {
        schedule: NoiseSchedule::new(cfg.diffusion.schedule, cfg.diffusion.num_steps)
            .expect("schedule"),
        prediction: cfg.diffusion.prediction,
        sampler: ddim(10),
        guidance: 2.0,
        seed: 1,
        batch_size: prompts.len(),
        image_shape: [3, 16, 16],
    };
    let images = sample_prompts(
        &run.model,
        &run.text,
        &prompts,
        &settings,
        &device,
        &mut |_| {},
    )
    .expect("sampling");
    for (img, p) in images.iter().zip(prompts) {
        let path = out.join(format!("{}.png", p.replace(' ', "-")));
        img.save(&path).expect("write png");
        println!("sampled `{p}` -> {}", path.display());
    }
    println!("report: {}", out.join("report.md").display());
}
