//! AdamW with the step fused into one in-place pass per parameter
//! (`ifvit_kernels::adamw_step`; burn's own op-by-op formula off Flex).
//!
//! Same update, same state type ([`AdamWState`]) and so the same optimizer records as
//! `burn::optim::AdamW`: a checkpoint written with either loads into the other.
//! Amsgrad and cautious weight decay are not offered (ifvit's recipe uses neither).

use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamWState, AdaptiveMomentumState, LearningRate, ModuleOptimizer, Optimizer};
use burn::tensor::{Device, Tensor};
use ifvit_kernels::{AdamWStep, adamw_step};

/// AdamW (decoupled weight decay) through the fused kernel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FusedAdamW {
    pub beta_1: f32,
    pub beta_2: f32,
    pub epsilon: f32,
    pub weight_decay: f32,
}

impl FusedAdamW {
    /// The whole-module optimizer, with gradient clipping when given (as
    /// `burn::optim::AdamWConfig::init`).
    pub fn init(self, grad_clipping: Option<GradientClippingConfig>) -> ModuleOptimizer {
        let optim = ModuleOptimizer::from(self);
        match grad_clipping {
            Some(c) => optim.with_grad_clipping(c.init()),
            None => optim,
        }
    }
}

impl Optimizer for FusedAdamW {
    type State<const D: usize> = AdamWState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let (time, moments) = match state {
            Some(s) => (
                s.momentum.time + 1,
                Some((s.momentum.moment_1, s.momentum.moment_2)),
            ),
            None => (1, None),
        };
        let step = AdamWStep {
            lr,
            beta_1: self.beta_1,
            beta_2: self.beta_2,
            epsilon: self.epsilon,
            weight_decay: self.weight_decay,
            time,
        };
        let (p, m, v) = adamw_step(tensor, grad, moments, step);
        let momentum = AdaptiveMomentumState::new(time, m, v);
        (p, Some(AdamWState::new(momentum)))
    }

    fn to_device<const D: usize>(mut state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.momentum = state.momentum.to_device(device);
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::{AdamWConfig, GradientsParams};
    use burn::tensor::Distribution;

    fn loss(model: &Linear, x: Tensor<2>) -> Tensor<1> {
        model.forward(x).powi_scalar(2).mean()
    }

    /// Three steps of burn's AdamW and of the fused one from the same start agree, and the
    /// optimizer records have the same layout (each loads into the other).
    #[test]
    fn matches_burns_adamw_and_shares_its_records() {
        let device = Device::flex().autodiff();
        device.seed(3);
        // 160 x 256 weights: above the kernel's threshold for splitting over threads.
        let start = LinearConfig::new(160, 256).init(&device);
        let x = Tensor::<2>::random([8, 160], Distribution::Normal(0.0, 1.0), &device);
        let (b1, b2, eps, wd) = (0.9, 0.99, 1e-8, 0.03);
        let mut burn_opt = AdamWConfig::new()
            .with_beta_1(b1)
            .with_beta_2(b2)
            .with_epsilon(eps)
            .with_weight_decay(wd)
            .init();
        let mut fused_opt = FusedAdamW {
            beta_1: b1,
            beta_2: b2,
            epsilon: eps,
            weight_decay: wd,
        }
        .init(None);
        let (mut a, mut b) = (start.clone(), start);
        for _ in 0..3 {
            let ga = GradientsParams::from_grads(loss(&a, x.clone()).backward(), &a);
            a = burn_opt.step(1e-2, a, ga);
            let gb = GradientsParams::from_grads(loss(&b, x.clone()).backward(), &b);
            b = fused_opt.step(1e-2, b, gb);
        }
        let diff = |p: Tensor<2>, q: Tensor<2>| (p - q).abs().max().into_scalar::<f32>();
        let d = diff(a.weight.val(), b.weight.val());
        // Same f32 formula; only the evaluation order of a few products may differ.
        assert!(d < 1e-6, "weights differ by {d:e}");

        // The records are interchangeable: burn's state drives the fused step and back.
        let fused_from_burn = FusedAdamW {
            beta_1: b1,
            beta_2: b2,
            epsilon: eps,
            weight_decay: wd,
        }
        .init(None)
        .load_record(burn_opt.to_record());
        let burn_from_fused = AdamWConfig::new()
            .with_beta_1(b1)
            .with_beta_2(b2)
            .with_epsilon(eps)
            .with_weight_decay(wd)
            .init()
            .load_record(fused_opt.to_record());
        let (mut a2, mut b2m) = (a.clone(), b.clone());
        let mut o1 = fused_from_burn;
        let mut o2 = burn_from_fused;
        let g1 = GradientsParams::from_grads(loss(&a2, x.clone()).backward(), &a2);
        a2 = o1.step(1e-2, a2, g1);
        let g2 = GradientsParams::from_grads(loss(&b2m, x.clone()).backward(), &b2m);
        b2m = o2.step(1e-2, b2m, g2);
        let d = diff(a2.weight.val(), b2m.weight.val());
        assert!(
            d < 1e-6,
            "after swapping records the weights differ by {d:e}"
        );
        assert_eq!(a2.num_params(), b2m.num_params());
    }
}
