//! Output shapes, gradient flow and parameter counts of every strategy.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Gradients;
use burn::tensor::{Device, Distribution, Tensor};
use ifvit_fusion::Fusion;
use ifvit_uvit::{PRESETS, UViT, UViTConfig, param_count};

/// Every built-in strategy: the six of the cost table and the early forms of the new arms.
fn every_strategy(c: usize, v: usize) -> Vec<Fusion> {
    let mut all = Fusion::catalogue(c, v).to_vec();
    all.extend([Fusion::EarlyPixArtCrossAttn, Fusion::EarlyMmditJoint]);
    all
}

fn small(fusion: Fusion) -> UViTConfig {
    serde_json::from_value(serde_json::json!({
        "img_size": 8, "in_chans": 3, "patch_size": 2, "embed_dim": 16, "depth": 4,
        "num_heads": 2, "mlp_ratio": 2.0, "qkv_bias": false, "context_dim": 12,
        "num_text_tokens": 3, "conv_head": true, "fusion": fusion,
    }))
    .unwrap()
}

/// Collects, for every float parameter, whether its gradient exists, is finite and non-zero.
struct GradCheck<'a> {
    grads: &'a Gradients,
    missing: usize,
    zero: usize,
    non_finite: usize,
    total: usize,
}

impl ModuleVisitor for GradCheck<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.total += 1;
        match param.val().grad(self.grads) {
            None => self.missing += 1,
            Some(g) => {
                let v = g.into_data().try_into_vec::<f32>().unwrap();
                if v.iter().any(|x| !x.is_finite()) {
                    self.non_finite += 1;
                } else if v.iter().all(|x| *x == 0.0) {
                    self.zero += 1;
                }
            }
        }
    }
}

#[test]
fn every_strategy_has_the_right_shape_and_gradients_reach_every_parameter() {
    let device = Device::flex().autodiff();
    device.seed(0);
    for f in every_strategy(1, 1).into_iter().chain([
        Fusion::IntermediateConcat { c: 2, v: 2 },
        Fusion::IntermediateMmditJoint { c: 1, v: 2 },
    ]) {
        let cfg = small(f);
        let model = UViT::new(&cfg, &device).unwrap();
        let x = Tensor::<4>::random([2, 3, 8, 8], Distribution::Normal(0.0, 1.0), &device);
        let t = Tensor::<1>::from_floats([5.0, 700.0], &device);
        let ctx = Tensor::<3>::random([2, 3, 12], Distribution::Normal(0.0, 1.0), &device);
        let out = model.forward(x, t, ctx);
        assert_eq!(out.dims(), [2, 3, 8, 8], "{f}");
        let loss = out.powi_scalar(2).mean();
        let grads = loss.backward();
        let mut check = GradCheck {
            grads: &grads,
            missing: 0,
            zero: 0,
            non_finite: 0,
            total: 0,
        };
        model.visit(&mut check);
        assert!(check.total > 20, "{f}: visited {}", check.total);
        assert_eq!(
            (check.missing, check.zero, check.non_finite),
            (0, 0, 0),
            "{f}: of {} parameters, gradients missing/zero/non-finite",
            check.total
        );
    }
}

#[test]
fn text_changes_the_output_of_every_strategy() {
    let device = Device::flex();
    device.seed(1);
    for f in every_strategy(1, 1) {
        let cfg = small(f);
        let model = UViT::new(&cfg, &device).unwrap();
        let x = Tensor::<4>::random([1, 3, 8, 8], Distribution::Normal(0.0, 1.0), &device);
        let t = Tensor::<1>::from_floats([100.0], &device);
        let a = Tensor::<3>::random([1, 3, 12], Distribution::Normal(0.0, 1.0), &device);
        let b = Tensor::<3>::random([1, 3, 12], Distribution::Normal(0.0, 1.0), &device);
        let ya = model.forward(x.clone(), t.clone(), a);
        let yb = model.forward(x, t, b);
        let diff: f32 = (ya - yb).abs().max().into_scalar();
        assert!(diff > 1e-5, "{f}: output ignores the text (diff {diff})");
    }
}

#[test]
fn module_param_count_equals_the_analytic_count() {
    let device = Device::flex();
    for preset in PRESETS {
        for f in every_strategy(3, 3) {
            let Ok(cfg) = UViTConfig::preset(preset.name, f) else {
                continue; // c/v that do not fit a small preset
            };
            let model = UViT::new(&cfg, &device).unwrap();
            assert_eq!(
                model.num_params() as u64,
                param_count(&cfg),
                "{} {f}",
                preset.name
            );
        }
    }
    let s2 = UViTConfig::preset("uvit-s2", Fusion::EarlyConcat).unwrap();
    assert_eq!(UViT::new(&s2, &device).unwrap().num_params(), 44_692_644);
}
