//! Diffusion for ifvit: noise schedules, the training objective, samplers and classifier-free
//! guidance. The model knows nothing of betas; everything diffusion lives here.
//!
//! Conventions (see `docs/diffusion.md`):
//! * training steps `n` in `1..=N` (N = 1000), `alpha_bar(0) = 1`, the network's time input is
//!   the float `n`; diffusers' 0-based `t` is `n - 1`;
//! * continuous time (DPM-Solver): `t` in `[1/N, 1]`, model time `N t`, `log alpha(t)`
//!   piecewise-linear through `0.5 cumsum(log(1 - beta))` at `t_k = k / N`;
//! * schedule constants are f64 on the host, never parameters;
//! * all randomness comes from the caller's `StdRng`;
//! * guidance: `out_u + w (out_c - out_u)`; U-ViT's `s = w - 1`.
//!
//! ```no_run
//! use burn::tensor::{Device, Tensor};
//! use ifvit_diffusion::*;
//!
//! let device = Device::flex();
//! let schedule = NoiseSchedule::default(); // SPEC: scaled-linear, 1000 steps
//! let mut rng = seeded_rng(0);
//!
//! // training
//! let x0 = Tensor::<4>::zeros([8, 3, 32, 32], &device);
//! let s = training_sample(&schedule, Prediction::Epsilon, x0, &mut rng);
//! let pred = s.target.clone(); // model.forward(s.x_t, s.model_time, context)
//! let loss = diffusion_loss(pred, s.target);
//!
//! // sampling with guidance w = 2 (U-ViT's s = 1): one batched call per step
//! let cfg = SamplerConfig::default(); // SPEC: DPM-Solver++, 50 NFE
//! let x_t = randn([4, 3, 32, 32], &mut rng, &device);
//! let model = |x: Tensor<4>, t: Tensor<1>| x; // model.forward(x, t, contexts_cond_then_uncond)
//! let x0 = sample(&cfg, &schedule, Prediction::Epsilon, x_t, &mut rng, guided(2.0, model).unwrap()).unwrap();
//! ```

pub mod continuous;
pub mod error;
pub mod guidance;
pub mod noise;
pub mod prediction;
pub mod sampler;
pub mod schedule;
pub mod training;

pub use error::DiffusionError;
pub use guidance::{check_guidance, combine, guided, uvit_scale_from_w, w_from_uvit_scale};
pub use noise::{randn, seeded_rng};
pub use prediction::{Coef, PREDICTIONS, Prediction};
pub use rand::rngs::StdRng;
pub use sampler::{
    SAMPLERS, Sampler, SamplerConfig, SamplerInfo, SamplerOptions, Spacing, run, sample,
};
pub use schedule::{BetaSchedule, NoiseSchedule, SCHEDULES, ScheduleInfo};
pub use training::{
    LossWeighting, TrainingSample, diffusion_loss, per_sample_loss, training_sample,
    training_sample_at, weighted_diffusion_loss,
};
