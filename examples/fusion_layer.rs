//! One ifvit fusion layer inside your own burn module.
//!
//! A toy "image classifier conditioned on text": image patches become tokens, a single
//! `FusionLayer` fuses a few text tokens into them (by any built-in strategy's joint block:
//! concatenation, the paper's cross-attention form, PixArt cross-attention, MMDiT joint
//! attention), and a linear head reads the pooled image tokens. A few AdamW steps
//! show gradients flow through the fusion layer.
//!
//! ```text
//! cargo run -p ifvit-examples --example fusion_layer [-- concat|crossattn|pixart-crossattn|mmdit-joint]
//! ```

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Distribution, Int, Tensor};
use ifvit_fusion::{Fusion, FusionBlock, FusionLayer};

/// The user's own model: word embeddings + patch projection + one fusion layer + head.
#[derive(Module, Debug)]
struct TextConditionedScorer {
    words: Embedding,
    patches: Linear,
    fusion: FusionLayer<FusionBlock>,
    head: Linear,
}

impl TextConditionedScorer {
    fn new(method: Fusion, device: &Device) -> Self {
        let dim = 32;
        Self {
            words: EmbeddingConfig::new(100, dim).init(device),
            patches: LinearConfig::new(12, dim).init(device),
            fusion: FusionLayer::new(&method, dim, 4, 4.0, device),
            head: LinearConfig::new(dim, 1).init(device),
        }
    }

    /// `patches: [batch, 16, 12]`, `words: [batch, 5]` -> `[batch]`
    fn forward(&self, patches: Tensor<3>, words: Tensor<2, Int>) -> Tensor<1> {
        let image = self.patches.forward(patches); // [B, 16, 32]
        let text = self.words.forward(words); // [B, 5, 32]
        let (image, _text) = self.fusion.forward(image, text);
        let pooled = image.mean_dim(1).squeeze_dim::<2>(1); // [B, 32]
        self.head.forward(pooled).squeeze_dim::<1>(1)
    }
}

fn main() {
    let name = std::env::args().nth(1).unwrap_or_else(|| "concat".into());
    // The joint block of the strategy's early form.
    let method = match Fusion::parse(&format!("early-{name}"), None, None) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let device = Device::flex().autodiff();
    device.seed(0);
    let mut model = TextConditionedScorer::new(method, &device);
    let mut optim = AdamWConfig::new().init();
    let patches = Tensor::<3>::random([8, 16, 12], Distribution::Normal(0.0, 1.0), &device);
    let words = Tensor::<2, Int>::random([8, 5], Distribution::Uniform(0.0, 100.0), &device);
    let target = Tensor::<1>::random([8], Distribution::Normal(0.0, 1.0), &device);
    println!(
        "{method} fusion layer, {} parameters in the model",
        model.num_params()
    );
    for step in 0..20 {
        let pred = model.forward(patches.clone(), words.clone());
        let loss = (pred - target.clone()).powi_scalar(2).mean();
        let value: f32 = loss.clone().into_scalar();
        if step % 5 == 0 || step == 19 {
            println!("step {step:>2}  loss {value:.4}");
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-3, model, grads);
    }
}
