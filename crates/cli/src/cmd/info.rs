//! `ifvit info`: parameters, forward cost and tokens per block of a preset and strategy.

use anyhow::{Context, Result};
use burn::module::Module;
use burn::tensor::Device;
use ifvit_fusion::Fusion;
use ifvit_uvit::{Cost, UViT, UViTConfig, forward_cost};
use serde::Serialize;

#[derive(clap::Args, Debug)]
pub struct InfoArgs {
    /// Model size preset (uvit-s2, uvit-s2-deep, uvit-tiny).
    #[arg(long, default_value = "uvit-s2")]
    pub preset: String,
    /// Fusion strategy: early-concat, early-crossattn, intermediate-concat, intermediate-crossattn.
    #[arg(long, default_value = "early-concat")]
    pub fusion: String,
    /// Text-only blocks of an intermediate strategy (default 3).
    #[arg(long, value_parser = crate::args::count(0..=crate::args::MAX_BLOCKS))]
    pub c: Option<usize>,
    /// Image-only blocks at each end of an intermediate strategy (default 3).
    #[arg(long, value_parser = crate::args::count(0..=crate::args::MAX_BLOCKS))]
    pub v: Option<usize>,
    /// Table of all four strategies for the preset.
    #[arg(long)]
    pub all: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What `info --json` prints for one strategy.
#[derive(Serialize, Debug)]
pub struct Info {
    pub preset: String,
    pub fusion: String,
    pub params: u64,
    /// Forward GMACs per sample.
    pub gmacs: f64,
    pub gmacs_linear: f64,
    pub gmacs_attention: f64,
    /// Forward GFLOPs per sample (2 x MACs).
    pub gflops: f64,
    /// GMACs relative to early-concat of the same preset.
    pub ratio_to_early_concat: f64,
    pub config: UViTConfig,
    pub blocks: Vec<ifvit_uvit::BlockCost>,
}

fn info(preset: &str, fusion: Fusion, device: &Device) -> Result<Info> {
    let cfg = UViTConfig::preset(preset, fusion)?;
    let base = forward_cost(&UViTConfig::preset(preset, Fusion::EarlyConcat)?);
    // Parameters are counted on the module itself (lazily initialised: nothing is drawn).
    let params = UViT::new(&cfg, device)?.num_params() as u64;
    let cost: Cost = forward_cost(&cfg);
    Ok(Info {
        preset: preset.to_string(),
        fusion: fusion.to_string(),
        params,
        gmacs: cost.gmacs(),
        gmacs_linear: cost.linear_macs() as f64 / 1e9,
        gmacs_attention: cost.attention_macs() as f64 / 1e9,
        gflops: 2.0 * cost.gmacs(),
        ratio_to_early_concat: cost.total_macs() as f64 / base.total_macs() as f64,
        config: cfg,
        blocks: cost.blocks,
    })
}

fn millions(n: u64) -> String {
    format!("{:.2}M", n as f64 / 1e6)
}

pub fn run(args: &InfoArgs, device: &Device) -> Result<()> {
    if args.all {
        let (c, v) = (
            args.c.unwrap_or(ifvit_fusion::DEFAULT_C),
            args.v.unwrap_or(ifvit_fusion::DEFAULT_V),
        );
        let rows = Fusion::all(c, v)
            .into_iter()
            .map(|f| info(&args.preset, f, device))
            .collect::<Result<Vec<_>>>()
            .with_context(|| format!("preset {}", args.preset))?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&rows)?);
            return Ok(());
        }
        println!("preset {}: forward cost per sample\n", args.preset);
        println!(
            "| {:<32} | {:>12} | {:>7} | {:>8} | {:>10} | {:>8} |",
            "strategy", "params", "GMACs", "(attn)", "vs early", "joint"
        );
        println!(
            "|{:-<34}|{:->14}|{:->9}|{:->10}|{:->12}|{:->10}|",
            "", "", "", "", "", ""
        );
        for r in &rows {
            let joint = r
                .blocks
                .iter()
                .filter(|b| b.role.starts_with("joint"))
                .count();
            println!(
                "| {:<32} | {:>20} | {:>7.2} | {:>11.2} | {:>9.3}x | {:>12} |",
                r.fusion,
                format!("{} ({})", r.params, millions(r.params)),
                r.gmacs,
                r.gmacs_attention,
                r.ratio_to_early_concat,
                joint
            );
        }
        return Ok(());
    }
    let fusion = Fusion::parse(&args.fusion, args.c, args.v)?;
    let r = info(&args.preset, fusion, device)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    println!("{} with {}", r.preset, r.fusion);
    println!("  params   {} ({})", r.params, millions(r.params));
    println!(
        "  forward  {:.3} GMACs per sample ({:.3} linear + {:.3} attention matmuls; {:.2} GFLOPs)",
        r.gmacs, r.gmacs_linear, r.gmacs_attention, r.gflops
    );
    println!(
        "  ratio    {:.3} x early-concat of the same preset",
        r.ratio_to_early_concat
    );
    println!(
        "\n  {:<8} {:<13} {:>7} {:>10} {:>9}",
        "block", "role", "tokens", "kv tokens", "GMACs"
    );
    for b in &r.blocks {
        println!(
            "  {:<8} {:<13} {:>7} {:>10} {:>9.3}",
            b.name,
            b.role,
            b.tokens,
            b.kv_tokens,
            (b.linear_macs + b.attn_macs) as f64 / 1e9
        );
    }
    Ok(())
}
