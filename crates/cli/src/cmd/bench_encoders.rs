//! `ifvit bench encoders`: throughput and peak memory of the frozen pretrained networks on
//! this machine: MiniLM captions/s (genuine weights), the FID Inception's images/s (genuine
//! weights), and CLIP ViT-L/14's vision and text towers at their published sizes (random
//! weights: the OpenAI weights cannot be downloaded here; the arithmetic is the same).
//!
//! Peak resident memory is a per-process figure, so `--encoder all` runs each encoder in a
//! child process of its own.

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::tensor::{Device, Distribution, Tensor};
use ifvit_data::tokenizer::clip::Overflow;
use ifvit_encoders::assets::{self, Asset};
use ifvit_encoders::clip::{ClipConfig, ClipTextModel, ClipVisionModel};
use ifvit_encoders::inception::{InceptionV3, ResizeMode};
use ifvit_encoders::{BertTextEncoder, TextEncoder};
use ifvit_train::bench::peak_rss_mib;

const ENCODERS: [&str; 4] = ["minilm", "inception", "clip-vision", "clip-text"];

#[derive(clap::Args, Debug)]
pub struct BenchEncodersArgs {
    /// `minilm`, `inception`, `clip-vision`, `clip-text`, or `all` (each in its own process,
    /// so that each peak memory figure is its own).
    #[arg(long, default_value = "all")]
    pub encoder: String,
    /// Items (captions or images) per forward.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub batch: u64,
    /// Timed forwards after one warm-up forward.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub batches: u64,
}

/// Example captions of the `shapes` grammar's three aspects, cycled to fill a batch.
const CAPTIONS: [&str; 4] = [
    "three red circles",
    "a green square and a blue triangle",
    "a yellow circle left of a red square",
    "a blue triangle above a green circle",
];

pub fn run(a: &BenchEncodersArgs, device: &Device) -> Result<()> {
    if a.encoder == "all" {
        let exe = std::env::current_exe().context("locating the ifvit executable")?;
        for name in ENCODERS {
            let status = Command::new(&exe)
                .args(["bench", "encoders", "--encoder", name])
                .args(["--batch", &a.batch.to_string()])
                .args(["--batches", &a.batches.to_string()])
                .status()
                .with_context(|| format!("running {} for --encoder {name}", exe.display()))?;
            if !status.success() {
                bail!("`ifvit bench encoders --encoder {name}` failed ({status})");
            }
        }
        return Ok(());
    }
    let b = a.batch as usize;
    let t = Instant::now();
    let (what, forward): (String, Box<dyn Fn() -> Result<()>>) = match a.encoder.as_str() {
        "minilm" => {
            let dir = assets::locate(Asset::MiniLmL6V2)?;
            let enc = BertTextEncoder::load(&dir, 16, Overflow::Error, device)?;
            let caps: Vec<&str> = (0..b).map(|i| CAPTIONS[i % CAPTIONS.len()]).collect();
            let device = device.clone();
            (
                format!("{} (genuine weights, 16 tokens)", enc.name()),
                Box::new(move || {
                    let f = enc.encode(&caps, &device)?;
                    let _ = f.features.into_data();
                    Ok(())
                }),
            )
        }
        "inception" => {
            let dir = assets::locate(Asset::FidInceptionV3)?;
            let model = InceptionV3::load_dir(&dir, device)?;
            let device = device.clone();
            (
                "FID Inception-v3 (genuine weights; 32x32 images resized to 299)".into(),
                Box::new(move || {
                    let x = Tensor::<4>::random([b, 3, 32, 32], Distribution::Default, &device);
                    let _ = model
                        .encode_unit_range(x, ResizeMode::HalfPixel)
                        .into_data();
                    Ok(())
                }),
            )
        }
        "clip-vision" => {
            let c = ClipConfig::vit_l14();
            let s = c.vision.image_size;
            let model = ClipVisionModel::new(&c, device);
            let device = device.clone();
            (
                format!("CLIP ViT-L/14 vision tower ({s}x{s}, random weights)"),
                Box::new(move || {
                    let x = Tensor::<4>::random([b, 3, s, s], Distribution::Default, &device);
                    let _ = model.forward(x).image_embeds.into_data();
                    Ok(())
                }),
            )
        }
        "clip-text" => {
            let c = ClipConfig::vit_l14();
            let model = ClipTextModel::new(&c, device);
            let l = model.context_length();
            // Ids of "a photo" then EOS, padded: the cost does not depend on the ids.
            let eos = c.text.eos_token_id;
            let ids: Vec<u32> = (0..b)
                .flat_map(|_| (0..l).map(move |j| if j == 3 { eos } else { 320 + j as u32 }))
                .collect();
            let device = device.clone();
            (
                format!("CLIP ViT-L/14 text tower ({l} tokens, random weights)"),
                Box::new(move || {
                    let _ = model
                        .forward(&ids, b, &device)
                        .last_hidden_state
                        .into_data();
                    Ok(())
                }),
            )
        }
        other => bail!(
            "unknown --encoder {other:?}: expected one of {} or all",
            ENCODERS.join(", ")
        ),
    };
    let load_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    forward()?; // warm-up (and, for random weights, their lazy initialisation)
    let warm_s = t.elapsed().as_secs_f64();
    let mut times = Vec::with_capacity(a.batches as usize);
    for _ in 0..a.batches {
        let t = Instant::now();
        forward()?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "{:<12} {what}\n             batch {b}: median {median:.3} s over {} forwards -> {:.1} items/s \
         ({threads} threads); load {load_s:.2} s, warm-up {warm_s:.2} s; peak RSS {:.0} MiB",
        a.encoder,
        times.len(),
        b as f64 / median,
        peak_rss_mib().unwrap_or(f64::NAN),
    );
    Ok(())
}
