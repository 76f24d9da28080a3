//! A tiny experiment for tests: 16 px shapes, a 2-block U-ViT of width 16.

use ifvit_data::shapes::ShapesConfig;
use ifvit_diffusion::{BetaSchedule, LossWeighting, Prediction, SamplerConfig};
use ifvit_fusion::Fusion;
use ifvit_train::config::{
    DataConfig, DiffusionConfig, EvalConfig, ExperimentConfig, LoopConfig, ModelConfig, OptimConfig,
};

pub fn tiny() -> ExperimentConfig {
    ExperimentConfig {
        name: "tiny-test".into(),
        data: DataConfig::Shapes(ShapesConfig::small()),
        model: ModelConfig {
            preset: "uvit-tiny".into(),
            embed_dim: Some(16),
            depth: Some(2),
            num_heads: Some(2),
            patch_size: Some(4),
            mlp_ratio: Some(2.0),
            num_text_tokens: Some(8),
            context_dim: Some(16),
        },
        text_encoder: Default::default(),
        arms: vec![
            Fusion::EarlyConcat,
            Fusion::IntermediateCrossAttn { c: 1, v: 1 },
        ],
        diffusion: DiffusionConfig {
            schedule: BetaSchedule::default(),
            num_steps: 1000,
            prediction: Prediction::Epsilon,
            loss_weighting: LossWeighting::Uniform,
        },
        optim: OptimConfig {
            lr: 1e-3,
            betas: (0.9, 0.9),
            eps: 1e-8,
            weight_decay: 0.03,
            warmup_steps: 2,
            grad_clip_norm: None,
        },
        train: LoopConfig {
            batch_size: 4,
            steps: 6,
            seed: 7,
            ema_decay: 0.9,
            caption_dropout: 0.25,
            checkpoint_every: 3,
            keep_checkpoints: 2,
            log_every: 2,
            devices: 1,
            seeds: 1,
        },
        eval: EvalConfig {
            prompts: 6,
            sampler: SamplerConfig::Ddim {
                steps: 3,
                eta: 0.0,
                spacing: Default::default(),
            },
            guidance: 2.0,
            batch_size: 3,
            grid_prompts: 2,
            seed: 0,
            fid_images: 0,
            attention_rank: false,
            unseen_prompts: 0,
        },
        sweep: None,
    }
}
