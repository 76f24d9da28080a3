//! `ifvit info`: parameters, forward cost and tokens per block of a preset and strategy.

use anyhow::{Context, Result};
use burn::module::Module;
use burn::tensor::Device;
use ifvit_fusion::Fusion;
use ifvit_train::report::sig3;
use ifvit_uvit::{Cost, UViT, UViTConfig, forward_cost};
use serde::Serialize;

use super::fusion_args::FusionArgs;

#[derive(clap::Args, Debug)]
pub struct InfoArgs {
    /// Model size preset (uvit-s2, uvit-s2-deep, uvit-tiny).
    #[arg(long, default_value = "uvit-s2")]
    pub preset: String,
    #[command(flatten)]
    pub strategy: FusionArgs,
    /// Table of all six strategies for the preset (the paper's four, PixArt cross-attention
    /// and MMDiT joint attention; intermediate ones with --c/--v).
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

/// A markdown table with every column as wide as its widest cell; the first `left` columns
/// are left-aligned, the others right-aligned.
fn table(header: &[&str], rows: &[Vec<String>], left: usize) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        let cells: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, &w))| {
                if i < left {
                    format!(" {c:<w$} ")
                } else {
                    format!(" {c:>w$} ")
                }
            })
            .collect();
        format!("|{}|", cells.join("|"))
    };
    let mut out = vec![line(header.iter().map(|h| h.to_string()).collect())];
    let rule: Vec<String> = widths
        .iter()
        .enumerate()
        .map(|(i, &w)| {
            if i < left {
                format!(":{}", "-".repeat(w + 1))
            } else {
                format!("{}:", "-".repeat(w + 1))
            }
        })
        .collect();
    out.push(format!("|{}|", rule.join("|")));
    out.extend(rows.iter().map(|r| line(r.clone())));
    out.join("\n")
}

pub fn run(args: &InfoArgs, device: &Device) -> Result<()> {
    if args.all {
        let (c, v) = (
            args.strategy.c.unwrap_or(ifvit_fusion::DEFAULT_C),
            args.strategy.v.unwrap_or(ifvit_fusion::DEFAULT_V),
        );
        let rows = Fusion::catalogue(c, v)
            .into_iter()
            .map(|f| info(&args.preset, f, device))
            .collect::<Result<Vec<_>>>()
            .with_context(|| format!("preset {}", args.preset))?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&rows)?);
            return Ok(());
        }
        println!("preset {}: forward cost per sample\n", args.preset);
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                let joint = r
                    .blocks
                    .iter()
                    .filter(|b| b.role.starts_with("joint"))
                    .count();
                vec![
                    r.fusion.clone(),
                    format!("{} ({})", r.params, millions(r.params)),
                    sig3(r.gmacs),
                    sig3(r.gmacs_attention),
                    format!("{:.3}x", r.ratio_to_early_concat),
                    joint.to_string(),
                ]
            })
            .collect();
        let header = [
            "strategy",
            "params",
            "GMACs",
            "(attn)",
            "vs early",
            "joint blocks",
        ];
        println!("{}", table(&header, &cells, 1));
        return Ok(());
    }
    let fusion = args.strategy.strategy()?;
    let r = info(&args.preset, fusion, device)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    println!("{} with {}", r.preset, r.fusion);
    println!("  params   {} ({})", r.params, millions(r.params));
    println!(
        "  forward  {} GMACs per sample ({} linear + {} attention matmuls; {} GFLOPs)",
        sig3(r.gmacs),
        sig3(r.gmacs_linear),
        sig3(r.gmacs_attention),
        sig3(r.gflops)
    );
    println!(
        "  ratio    {:.3} x early-concat of the same preset",
        r.ratio_to_early_concat
    );
    let cells: Vec<Vec<String>> = r
        .blocks
        .iter()
        .map(|b| {
            vec![
                b.name.clone(),
                b.role.to_string(),
                b.tokens.to_string(),
                b.kv_tokens.to_string(),
                sig3((b.linear_macs + b.attn_macs) as f64 / 1e9),
                b.params.to_string(),
            ]
        })
        .collect();
    let header = ["block", "role", "tokens", "kv tokens", "GMACs", "params"];
    println!("\n{}", table(&header, &cells, 2));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let rows = vec![
            vec!["a".to_string(), "1".to_string()],
            vec!["longer".to_string(), "12345".to_string()],
        ];
        let t = table(&["name", "n"], &rows, 1);
        let widths: Vec<usize> = t.lines().map(|l| l.chars().count()).collect();
        assert!(widths.iter().all(|&w| w == widths[0]), "{t}");
        assert!(t.contains("| longer | 12345 |"), "{t}");
    }
}
