//! The transformer MLP (timm `Mlp`): fc1 -> exact (erf) GELU -> fc2.

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor};

use crate::init::{lin, linear};

/// Two-layer perceptron with GELU. PyTorch names: `fc1`, `fc2`.
#[derive(Module, Debug)]
pub struct Mlp {
    pub fc1: Linear,
    pub fc2: Linear,
}

impl Mlp {
    pub fn new(dim: usize, hidden: usize, device: &Device) -> Self {
        Self {
            fc1: linear(dim, hidden, true, device),
            fc2: linear(hidden, dim, true, device),
        }
    }

    /// `[batch, tokens, dim] -> [batch, tokens, dim]`
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        lin(&self.fc2, ifvit_kernels::gelu(lin(&self.fc1, x)))
    }
}
