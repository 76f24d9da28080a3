//! Exponential moving average of the weights (DiT's `update_ema`):
//! `ema <- decay * ema + (1 - decay) * model`, every step.
//!
//! The EMA module is a clone of the model, so it has the same parameter ids; the update maps
//! each EMA parameter to the blend with the model parameter of the same id. The EMA lives on
//! the inner (non-autodiff) device: it is never differentiated.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;

/// Flattened model parameters by id.
struct Collect(HashMap<ParamId, Tensor<1>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val().inner().flatten::<1>(0, D - 1);
        self.0.insert(param.id, t);
    }
}

struct Blend {
    model: HashMap<ParamId, Tensor<1>>,
    decay: f64,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(m) = self.model.remove(&param.id) else {
            return param;
        };
        let decay = self.decay;
        param.map(|e| {
            let shape = e.shape();
            e.mul_scalar(decay) + m.reshape(shape).mul_scalar(1.0 - decay)
        })
    }
}

/// A fresh EMA of `model`: a detached copy of its current weights.
pub fn ema_init<M: Module>(model: &M) -> M {
    model.valid()
}

/// One EMA step. `model` may live on an autodiff device; `ema` is detached.
pub fn ema_update<M: Module>(ema: M, model: &M, decay: f64) -> M {
    let mut collect = Collect(HashMap::new());
    model.visit(&mut collect);
    ema.map(&mut Blend {
        model: collect.0,
        decay,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::{Device, TensorData, Tolerance};

    fn weights(l: &Linear) -> Vec<f32> {
        l.weight
            .val()
            .into_data()
            .convert::<f32>()
            .try_into_vec()
            .unwrap()
    }

    /// Two steps by the formula: e1 = d e0 + (1-d) w1, e2 = d e1 + (1-d) w2.
    #[test]
    fn ema_equals_the_formula_over_two_steps() {
        let device = Device::flex();
        let mut model: Linear = LinearConfig::new(2, 1).with_bias(false).init(&device);
        let set = |m: &mut Linear, v: [f32; 2]| {
            m.weight = Param::initialized(
                m.weight.id,
                Tensor::from_data(TensorData::new(v.to_vec(), [2, 1]), &device),
            );
        };
        set(&mut model, [1.0, -2.0]);
        let mut ema = ema_init(&model);
        let d = 0.9;
        set(&mut model, [3.0, 0.0]);
        ema = ema_update(ema, &model, d);
        set(&mut model, [-1.0, 4.0]);
        ema = ema_update(ema, &model, d);
        let e1 = [0.9 * 1.0 + 0.1 * 3.0, 0.9 * -2.0 + 0.1 * 0.0];
        let e2 = [0.9 * e1[0] + -0.1, 0.9 * e1[1] + 0.1 * 4.0];
        TensorData::new(weights(&ema), [2]).assert_approx_eq::<f32>(
            &TensorData::new(e2.to_vec(), [2]),
            Tolerance::absolute(1e-6),
        );
        // And it differs from the raw weights.
        assert_ne!(weights(&ema), weights(&model));
    }
}
