//! `KernelOps` for autodiff over Flex: the forward runs the Flex kernel and keeps what the
//! hand-written backward needs (modelled on burn-signal's `backends/autodiff.rs`).

use burn::backend::tensor::FloatTensor;
use burn::backend::{AutodiffBackend, Flex};
use burn_autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind, unary},
};
use burn_flex::FlexTensor;

use super::flex::{
    attention_backward, attention_forward, gelu_backward, gelu_forward, layer_norm_backward,
    layer_norm_forward, linear_backward, linear_forward, matrix_ready, view_ready,
};
use crate::KernelOps;
use crate::flex::layer_norm::Stats;
use crate::flex::tensor::contiguous;

#[derive(Debug)]
struct GeluBackward;

impl Backward<Flex, 1> for GeluBackward {
    /// The input.
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let x = ops.state;
        unary::<Flex, _>(ops.parents, ops.node, grads, |dy| gelu_backward(&x, dy));
    }
}

#[derive(Debug)]
struct LayerNormBackward;

impl Backward<Flex, 3> for LayerNormBackward {
    /// Input, gamma, per-row statistics.
    type State = (FlexTensor, FlexTensor, Stats);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (x, gamma, stats) = ops.state;
        let dy = grads.consume::<Flex>(&ops.node);
        let (dx, dgamma, dbeta) = layer_norm_backward(&x, &gamma, &stats, dy);
        let [px, pg, pb] = ops.parents;
        for (parent, grad) in [(px, dx), (pg, dgamma), (pb, dbeta)] {
            if let Some(node) = parent {
                grads.register::<Flex>(node.id, grad);
            }
        }
    }
}

#[derive(Debug)]
struct AttentionBackward;

impl Backward<Flex, 3> for AttentionBackward {
    /// q, k, v, the output, the softmax probabilities `[b, h, lq, lk]`.
    type State = [FlexTensor; 5];

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [q, k, v, o, probs] = ops.state;
        let d_o = grads.consume::<Flex>(&ops.node);
        let (dq, dk, dv) = attention_backward(&q, &k, &v, &o, &probs, d_o);
        let [pq, pk, pv] = ops.parents;
        for (parent, grad) in [(pq, dq), (pk, dk), (pv, dv)] {
            if let Some(node) = parent {
                grads.register::<Flex>(node.id, grad);
            }
        }
    }
}

#[derive(Debug)]
struct LinearBackward;

/// Registers the gradients of `x W (+ b)` for the parents that want one.
fn linear_grads<const N: usize>(ops: Ops<[FlexTensor; 2], N>, grads: &mut Gradients) {
    let [x, w] = ops.state;
    let dy = grads.consume::<Flex>(&ops.node);
    let (dx, dw, db) = linear_backward(&x, &w, dy);
    for (parent, grad) in ops.parents.into_iter().zip([dx, dw, db]) {
        if let Some(node) = parent {
            grads.register::<Flex>(node.id, grad);
        }
    }
}

impl Backward<Flex, 3> for LinearBackward {
    /// The input (contiguous) and the weight.
    type State = [FlexTensor; 2];

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        linear_grads(ops, grads);
    }
}

impl Backward<Flex, 2> for LinearBackward {
    /// The input (contiguous) and the weight.
    type State = [FlexTensor; 2];

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        linear_grads(ops, grads);
    }
}

impl<C: CheckpointStrategy> KernelOps for Autodiff<Flex, C> {
    fn fused_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let guard = x.node();
        let x = contiguous(x.into_primitive());
        let y = gelu_forward(&x);
        match GeluBackward
            .prepare::<C>([guard])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(x, y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn fused_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f64,
    ) -> FloatTensor<Self> {
        let guards = [x.node(), gamma.node(), beta.node()];
        let x = contiguous(x.into_primitive());
        let gamma = contiguous(gamma.into_primitive());
        let beta = contiguous(beta.into_primitive());
        let (y, stats) = layer_norm_forward(&x, &gamma, &beta, eps);
        match LayerNormBackward
            .prepare::<C>(guards)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((x, gamma, stats), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn fused_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let guards = [q.node(), k.node(), v.node()];
        let q = view_ready(q.into_primitive());
        let k = view_ready(k.into_primitive());
        let v = view_ready(v.into_primitive());
        match AttentionBackward
            .prepare::<C>(guards)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (o, probs) = attention_forward(&q, &k, &v, true);
                let probs = probs.expect("probabilities were requested");
                prep.finish([q, k, v, o.clone(), probs], o)
            }
            OpsKind::UnTracked(prep) => prep.finish(attention_forward(&q, &k, &v, false).0),
        }
    }

    fn fused_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let guards = [x.node(), weight.node(), bias.node()];
        let x = contiguous(x.into_primitive());
        let w = matrix_ready(weight.into_primitive());
        let b = contiguous(bias.into_primitive());
        let y = linear_forward(&x, &w, Some(&b));
        match <LinearBackward as Backward<Flex, 3>>::prepare::<C>(LinearBackward, guards)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish([x, w], y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn fused_linear_no_bias(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        let guards = [x.node(), weight.node()];
        let x = contiguous(x.into_primitive());
        let w = matrix_ready(weight.into_primitive());
        let y = linear_forward(&x, &w, None);
        match <LinearBackward as Backward<Flex, 2>>::prepare::<C>(LinearBackward, guards)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish([x, w], y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    /// Optimizer steps run on the inner tensors (no graph); this arm serves a caller that
    /// hands it autodiff tensors all the same, and returns untracked leaves.
    fn fused_adamw(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        lr: f64,
        beta_1: f64,
        beta_2: f64,
        epsilon: f64,
        weight_decay: f64,
        time: u64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (p, m, v) = <Flex as KernelOps>::fused_adamw(
            param.into_primitive(),
            grad.into_primitive(),
            moment_1.into_primitive(),
            moment_2.into_primitive(),
            lr,
            beta_1,
            beta_2,
            epsilon,
            weight_decay,
            time,
        );
        (
            Self::from_inner(p),
            Self::from_inner(m),
            Self::from_inner(v),
        )
    }
}
