//! `ifvit encode-text`: run a frozen text encoder on captions and print what it gives.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use burn::tensor::Device;
use ifvit_data::tokenizer::clip::Overflow;
use ifvit_encoders::assets::{self, Asset};
use ifvit_encoders::bert::mean_pool_normalized;
use ifvit_encoders::clip::ClipTextEncoder;
use ifvit_encoders::{BertTextEncoder, TextEncoder};

#[derive(clap::Args, Debug)]
pub struct EncodeTextArgs {
    /// `minilm` (all-MiniLM-L6-v2 from the asset cache), a sentence-transformers / BERT
    /// directory (config.json, model.safetensors, tokenizer.json) or an `openai/clip-vit-*`
    /// directory (its text tower, 77 tokens).
    #[arg(long, default_value = "minilm")]
    pub encoder: String,
    /// Tokens per caption `L` for BERT (padded with [PAD]; longer captions are an error).
    #[arg(long, default_value_t = 16)]
    pub context_length: usize,
    /// How many feature values to print per caption.
    #[arg(long, default_value_t = 6)]
    pub values: usize,
    /// The captions.
    #[arg(required = true)]
    pub captions: Vec<String>,
}

/// Whether `dir/config.json` says `"model_type": "clip"`.
fn is_clip(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v["model_type"] == "clip")
}

fn to_vec<const D: usize>(t: burn::tensor::Tensor<D>) -> Result<Vec<f32>> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))
}

pub fn run(a: &EncodeTextArgs, device: &Device) -> Result<()> {
    let dir = if a.encoder == "minilm" {
        assets::locate(Asset::MiniLmL6V2)?
    } else {
        PathBuf::from(&a.encoder)
    };
    let t0 = Instant::now();
    let ctx = || format!("loading --encoder {}", a.encoder);
    let (enc, bert): (Box<dyn TextEncoder>, bool) = if is_clip(&dir) {
        (
            Box::new(ClipTextEncoder::load(&dir, device).with_context(ctx)?),
            false,
        )
    } else {
        let enc = BertTextEncoder::load(&dir, a.context_length, Overflow::Error, device)
            .with_context(ctx)?;
        (Box::new(enc), true)
    };
    let load_s = t0.elapsed().as_secs_f64();
    let caps: Vec<&str> = a.captions.iter().map(String::as_str).collect();
    let t1 = Instant::now();
    let out = enc.encode(&caps, device)?;
    let [b, l, d] = out.features.dims();
    // [B, D]: sentence-transformers' embedding (BERT only).
    let sentence = bert.then(|| mean_pool_normalized(out.features.clone(), out.mask.clone()));
    let mask = out
        .mask
        .into_data()
        .try_to_vec::<bool>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let feats = to_vec(out.features)?;
    let sent = sentence.map(to_vec).transpose()?;
    let encode_s = t1.elapsed().as_secs_f64();
    println!("encoder: {} ({})", enc.name(), dir.display());
    println!("token features: [{b}, {l}, {d}] (captions, tokens, width); mask [{b}, {l}]");
    let n = a.values.min(d);
    let fmt = |v: &[f32]| {
        v.iter()
            .map(|x| format!("{x:+.4}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    for (i, c) in caps.iter().enumerate() {
        let real = mask[i * l..(i + 1) * l].iter().filter(|&&m| m).count();
        println!("\n\"{c}\"");
        println!("  mask: {real} of {l} positions are tokens");
        println!(
            "  token 0 features[..{n}]: {}",
            fmt(&feats[i * l * d..i * l * d + n])
        );
        if let Some(s) = &sent {
            println!(
                "  sentence embedding (mean-pooled, L2-normalised)[..{n}]: {}",
                fmt(&s[i * d..i * d + n])
            );
        }
    }
    println!(
        "\nload {load_s:.2} s, encode {encode_s:.3} s ({:.1} captions/s)",
        b as f64 / encode_s.max(1e-9)
    );
    Ok(())
}
