//! One AdamW step over a parameter tensor: the fused Flex kernel (`flex::adamw`: one pass, in
//! place) where [`fused_available`] says so, burn's own op-by-op formula everywhere else.

use burn::backend::Dispatch;
use burn::tensor::Tensor;

use crate::{KernelOps, fused_available, reference};

/// The scalars of one step (the fields of `burn::optim::AdamWConfig`, amsgrad and cautious
/// weight decay left out).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamWStep {
    pub lr: f64,
    pub beta_1: f32,
    pub beta_2: f32,
    pub epsilon: f32,
    pub weight_decay: f32,
    /// Steps taken including this one (`>= 1`; the moments start at zero before step 1).
    pub time: usize,
}

/// `(param, moment_1, moment_2)` after one AdamW step with `grad`; `moments` is `None` before
/// the first step (zeros). All tensors share one shape and are untracked (an optimizer's).
///
/// ```text
/// m = b1 m + (1 - b1) g              v = b2 v + (1 - b2) g^2
/// p = p (1 - lr wd) - lr (m / c1) / (sqrt(v / c2) + eps),   c1 = 1 - b1^t, c2 = 1 - b2^t
/// ```
pub fn adamw_step<const D: usize>(
    param: Tensor<D>,
    grad: Tensor<D>,
    moments: Option<(Tensor<D>, Tensor<D>)>,
    s: AdamWStep,
) -> (Tensor<D>, Tensor<D>, Tensor<D>) {
    let (m, v) = moments.unwrap_or_else(|| (grad.zeros_like(), grad.zeros_like()));
    let fused = [&param, &grad, &m, &v].into_iter().all(fused_available);
    if !fused {
        return reference::adamw_step(param, grad, (m, v), s);
    }
    let (p, m, v) = <Dispatch as KernelOps>::fused_adamw(
        param.into_dispatch(),
        grad.into_dispatch(),
        m.into_dispatch(),
        v.into_dispatch(),
        s.lr,
        s.beta_1 as f64,
        s.beta_2 as f64,
        s.epsilon as f64,
        s.weight_decay as f64,
        s.time as u64,
    );
    (
        Tensor::from_dispatch(p),
        Tensor::from_dispatch(m),
        Tensor::from_dispatch(v),
    )
}
