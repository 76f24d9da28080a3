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
//! The example then runs a tiny two-arm ablation (the gated strategy against U-ViT's early
//! concatenation, a few dozen steps each on the built-in `shapes` data), writes a report,
//! reloads the gated arm's checkpoint and samples from it:
//!
//! ```text
//! cargo run -p ifvit-examples --example custom_strategy [-- OUT_DIR [STEPS]]
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::{Module, Param};
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, Linear};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use ifvit_data::shapes::{ShapesConfig, ShapesGenerator, images_to_tensor, tensor_to_images};
use ifvit_data::tokenizer::TextTokenizer;
use ifvit_data::tokenizer::word::WordTokenizer;
use ifvit_diffusion::sampler::{SamplerConfig, Spacing};
use ifvit_diffusion::training::{diffusion_loss, training_sample};
use ifvit_diffusion::{NoiseSchedule, Prediction, randn, seeded_rng};
use ifvit_fusion::attention::{CrossAttention, SelfAttention};
use ifvit_fusion::block::{BlockDims, apply_skip};
use ifvit_fusion::init::{layer_norm, linear};
use ifvit_fusion::mlp::Mlp;
use ifvit_fusion::{Fusion, FusionStrategy, JointBlock, JointCost, JointSlot, Placement, Streams};
use ifvit_uvit::{UViT, UViTConfig, checkpoint, forward_cost};

// ---------------------------------------------------------------------------------------
// The user's strategy.

/// Flamingo-style gated cross-attention in the middle of the U (`c` text blocks, `v`
/// image-only blocks at each end).
#[derive(Clone, Copy, Debug)]
struct GatedCrossAttn {
    c: usize,
    v: usize,
}

// A strategy value is a parameter-free burn module (so `Net<S>` below can derive Module).
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
// A text-to-image model around any strategy: learned word embeddings + the U-ViT.

#[derive(Module, Debug)]
struct Net<S: FusionStrategy> {
    words: Embedding,
    uvit: UViT<S>,
}

impl<S: FusionStrategy> Net<S> {
    fn new(cfg: &UViTConfig<S>, vocab: usize, device: &Device) -> Self {
        Self {
            words: EmbeddingConfig::new(vocab, cfg.context_dim).init(device),
            uvit: UViT::new(cfg, device).expect("valid config"),
        }
    }

    /// `x: [B, 3, H, W]`, `t: [B]`, `ids: [B, L]` -> `[B, 3, H, W]`.
    fn forward(&self, x: Tensor<4>, t: Tensor<1>, ids: Tensor<2, Int>) -> Tensor<4> {
        self.uvit.forward(x, t, self.words.forward(ids))
    }
}

/// 16x16 `shapes` images, patch 4 (16 tokens), width 64, depth 4: small enough for a
/// debug build in CI.
fn config<S: FusionStrategy>(strategy: S, text_tokens: usize) -> UViTConfig<S> {
    let mut cfg = UViTConfig::preset("uvit-tiny", strategy).expect("preset");
    cfg.img_size = 16;
    cfg.patch_size = 4;
    cfg.embed_dim = 64;
    cfg.depth = 4;
    cfg.context_dim = 64;
    cfg.num_text_tokens = text_tokens;
    cfg.validate().expect("valid config");
    cfg
}

struct Data {
    shapes: ShapesGenerator,
    tok: WordTokenizer,
}

impl Data {
    /// Items `[start, start + n)`: images `[n, 3, 16, 16]` in [-1, 1] and word ids `[n, L]`.
    fn batch(&self, start: u64, n: usize, device: &Device) -> (Tensor<4>, Tensor<2, Int>) {
        let items: Vec<_> = (start..start + n as u64)
            .map(|i| self.shapes.item(i))
            .collect();
        let images: Vec<_> = items.iter().map(|it| it.image.clone()).collect();
        let captions: Vec<&str> = items.iter().map(|it| it.caption.as_str()).collect();
        (
            images_to_tensor(&images, device).expect("same-size images"),
            self.ids(&captions, device),
        )
    }

    fn ids(&self, captions: &[&str], device: &Device) -> Tensor<2, Int> {
        let l = self.tok.context_length();
        let ids: Vec<i64> = captions
            .iter()
            .flat_map(|c| self.tok.encode(c).expect("shapes caption"))
            .map(i64::from)
            .collect();
        Tensor::from_data(TensorData::new(ids, [captions.len(), l]), device)
    }
}

/// Images per training step (tiny: the example runs in CI in a debug build).
const BATCH: usize = 4;

/// One arm's row of the report.
struct Arm {
    name: String,
    params: usize,
    gmacs: f64,
    final_loss: f64,
    images_per_s: f64,
    checkpoint: PathBuf,
    /// Output of the trained model on a fixed probe batch, to check the reload.
    probe: Vec<f32>,
}

/// A fixed input: items 0..2 at model time 500.
fn probe<S: FusionStrategy>(net: &Net<S>, data: &Data, device: &Device) -> Vec<f32> {
    let (x, ids) = data.batch(0, 2, device);
    let t = Tensor::<1>::full([2], 500.0, device);
    net.forward(x, t, ids)
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32 output")
}

/// Trains one arm for `steps` steps (x0 prediction, AdamW), saves its checkpoint.
fn run_arm<S: FusionStrategy>(
    strategy: S,
    data: &Data,
    steps: usize,
    out: &Path,
    device: &Device,
) -> Arm {
    let cfg = config(strategy, data.tok.context_length());
    let name = cfg.fusion.name();
    let ad = device.clone().autodiff();
    ad.seed(0);
    let mut net = Net::new(&cfg, data.tok.vocab_size(), &ad);
    let mut optim = AdamWConfig::new().with_weight_decay(0.03).init();
    let schedule = NoiseSchedule::default();
    let mut rng = seeded_rng(0);
    let (batch, mut losses) = (BATCH, Vec::new());
    let t0 = Instant::now();
    for step in 0..steps {
        let (x0, ids) = data.batch((step * batch) as u64, batch, &ad);
        let s = training_sample(&schedule, Prediction::Sample, x0, &mut rng);
        let pred = net.forward(s.x_t, s.model_time, ids);
        let loss = diffusion_loss(pred, s.target);
        losses.push(loss.clone().into_scalar::<f32>() as f64);
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(1e-3, net, grads);
    }
    let seconds = t0.elapsed().as_secs_f64();
    let tail = &losses[losses.len() * 9 / 10..];
    let checkpoint = out.join(format!(
        "{}.safetensors",
        name.replace("(c=", "-c")
            .replace(",v=", "v")
            .replace(')', "")
    ));
    let net = net.valid();
    checkpoint::save_safetensors(&net, &checkpoint).expect("write checkpoint");
    Arm {
        probe: probe(&net, data, device),
        params: net.num_params(),
        gmacs: forward_cost(&cfg).gmacs(),
        final_loss: tail.iter().sum::<f64>() / tail.len() as f64,
        images_per_s: (steps * batch) as f64 / seconds,
        name,
        checkpoint,
    }
}

fn main() {
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("ifvit-custom-strategy"));
    let steps: usize = std::env::args()
        .nth(2)
        .map(|s| s.parse().expect("STEPS must be a number"))
        .unwrap_or(20);
    std::fs::create_dir_all(&out).expect("output folder");
    let device = Device::flex();
    let data = Data {
        shapes: ShapesGenerator::new(ShapesConfig::small()).expect("shapes config"),
        tok: WordTokenizer::shapes(16).expect("shapes vocabulary"),
    };
    let gated = GatedCrossAttn { c: 1, v: 1 };

    // Cost model: params and forward MACs of the user's strategy, block by block.
    let cost = forward_cost(&config(gated, 16));
    println!("{}: {:.4} GMACs per sample", gated.name(), cost.gmacs());
    for b in &cost.blocks {
        println!("  {:<7} {:<12} {:>7} params", b.name, b.role, b.params);
    }

    // The ablation: the user's strategy against U-ViT's early concatenation.
    let arms = [
        run_arm(gated, &data, steps, &out, &device),
        run_arm(Fusion::EarlyConcat, &data, steps, &out, &device),
    ];
    let mut report = format!("# Two-arm ablation ({steps} steps, batch {BATCH}, shapes 16 px)\n\n");
    report.push_str("| arm | params | GMACs | final loss | img/s |\n|:--|--:|--:|--:|--:|\n");
    for a in &arms {
        let _ = writeln!(
            report,
            "| {} | {} | {:.4} | {:.4} | {:.1} |",
            a.name, a.params, a.gmacs, a.final_loss, a.images_per_s
        );
    }
    std::fs::write(out.join("report.md"), &report).expect("write report");
    print!("\n{report}");

    // Reload the gated arm from its checkpoint and sample two prompts (DDIM, 10 steps).
    let cfg = config(gated, 16);
    let fresh = Net::new(&cfg, data.tok.vocab_size(), &device);
    let net = checkpoint::load_safetensors(fresh, &arms[0].checkpoint).expect("reload");
    assert_eq!(
        probe(&net, &data, &device),
        arms[0].probe,
        "the reloaded model computes what the trained one did"
    );
    println!(
        "reloaded {}: same outputs as the trained model",
        arms[0].checkpoint.display()
    );
    let prompts = ["a red circle", "a blue square"];
    let ids = data.ids(&prompts, &device);
    let mut rng = seeded_rng(1);
    let noise = randn([prompts.len(), 3, 16, 16], &mut rng, &device);
    let ddim = SamplerConfig::Ddim {
        steps: 10,
        eta: 0.0,
        spacing: Spacing::default(),
    };
    let schedule = NoiseSchedule::default();
    let x0 = ifvit_diffusion::sampler::sample(
        &ddim,
        &schedule,
        Prediction::Sample,
        noise,
        &mut rng,
        |x, t| net.forward(x, t, ids.clone()),
    )
    .expect("sampling");
    for (img, p) in tensor_to_images(x0).expect("images").iter().zip(prompts) {
        let path = out.join(format!("{}.png", p.replace(' ', "-")));
        img.save(&path).expect("write png");
        println!("sampled `{p}` -> {}", path.display());
    }
    println!("report: {}", out.join("report.md").display());
}
