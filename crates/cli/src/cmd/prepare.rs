//! `ifvit prepare coco`: the MS-COCO feature cache (SPEC section 5; layout in docs/data.md).

use std::path::PathBuf;

use anyhow::{Context, Result};
use burn::tensor::Device;
use ifvit_data::coco::{BadImagePolicy, CocoDataset, CocoOptions};
use ifvit_data::tokenizer::bert::BertTokenizer;
use ifvit_data::tokenizer::clip::{ClipPadding, ClipTokenizer, Overflow};
use ifvit_encoders::{
    Autoencoder, LearnedTextEncoder, PixelAutoencoder, PrepareOptions, TextEncoder, prepare_coco,
};

use crate::args;

#[derive(clap::Args, Debug)]
pub struct PrepareArgs {
    #[command(subcommand)]
    pub what: PrepareWhat,
}

#[derive(clap::Subcommand, Debug)]
pub enum PrepareWhat {
    /// MS-COCO captions + images -> latent moments per image, text features per caption.
    Coco(CocoArgs),
}

#[derive(clap::Args, Debug)]
pub struct CocoArgs {
    /// Folder of the images (e.g. train2014/).
    #[arg(long)]
    pub images: PathBuf,
    /// Captions file (captions_train2014.json, captions_val2014.json or the 2017 ones).
    #[arg(long)]
    pub captions: PathBuf,
    /// Output folder; running again with the same settings resumes an unfinished cache.
    #[arg(long)]
    pub out: PathBuf,
    /// Keep only the first N captioned images (captions-file order).
    #[arg(long, value_parser = args::count(1..=u32::MAX as u64))]
    pub limit: Option<usize>,
    /// Images per shard (1 to 65536).
    #[arg(long, default_value_t = 256, value_parser = args::count(1..=65536))]
    pub shard_size: usize,
    /// Images per autoencoder call (1 to 4096).
    #[arg(long, default_value_t = 16, value_parser = args::count(1..=args::MAX_BATCH))]
    pub batch_size: usize,
    /// Side of the centre-cropped, Lanczos-resized images (8 to 4096).
    #[arg(long, default_value_t = 256, value_parser = args::count32(8..=4096))]
    pub image_size: u32,
    /// Stop after writing N new shards (resume later by running the same command).
    #[arg(long, value_parser = args::count(1..=u32::MAX as u64))]
    pub max_shards: Option<usize>,
    /// Listed image with no file: error | skip.
    #[arg(long, default_value = "error")]
    pub on_missing: BadImagePolicy,
    /// Corrupt or truncated image: error | skip (skipped ids go into the manifest).
    #[arg(long, default_value = "error")]
    pub on_bad: BadImagePolicy,
    /// Caption longer than the context: truncate (keep the end token) | error.
    #[arg(long, default_value = "truncate")]
    pub long_captions: Overflow,
    /// Image autoencoder. Only `pixel` (average-pooled pixels) until the SD VAE lands.
    #[arg(long, default_value = "pixel")]
    pub autoencoder: String,
    /// Downsampling of the pixel autoencoder (8 gives SD-shaped 32x32 latents from 256).
    /// 1 to 64; it must divide --image-size.
    #[arg(long, default_value_t = 8, value_parser = args::count(1..=64))]
    pub pixel_factor: usize,
    /// Text encoder. Only `learned` (seeded token embedding) until the CLIP encoder lands.
    #[arg(long, default_value = "learned")]
    pub text_encoder: String,
    /// Tokenizer of the learned text encoder: clip | bert (needs --tokenizer-file).
    #[arg(long, default_value = "clip")]
    pub tokenizer: String,
    /// tokenizer.json (or .json.gz) for --tokenizer bert.
    #[arg(long)]
    pub tokenizer_file: Option<PathBuf>,
    /// Tokens per caption (77 for CLIP).
    #[arg(long, default_value_t = 77, value_parser = args::count(1..=1024))]
    pub context_length: usize,
    /// Width of the learned text features (768 as CLIP ViT-L/14), 1 to 16384.
    #[arg(long, default_value_t = 768, value_parser = args::count(1..=16384))]
    pub text_dim: usize,
    /// Seed of the learned embedding table.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

fn text_encoder(a: &CocoArgs, device: &Device) -> Result<Box<dyn TextEncoder>> {
    anyhow::ensure!(
        a.text_encoder == "learned",
        "unknown --text-encoder `{}`; available: learned (the CLIP text encoder comes with the model-loading issue)",
        a.text_encoder
    );
    Ok(match a.tokenizer.as_str() {
        "clip" => {
            let tok = ClipTokenizer::with_options(
                a.context_length,
                ClipPadding::EndToken,
                a.long_captions,
            )?;
            Box::new(LearnedTextEncoder::seeded(tok, a.text_dim, a.seed, device))
        }
        "bert" => {
            let file = a
                .tokenizer_file
                .as_ref()
                .context("--tokenizer bert needs --tokenizer-file PATH/tokenizer.json")?;
            let tok = BertTokenizer::from_file(file, a.context_length, a.long_captions)?;
            Box::new(LearnedTextEncoder::seeded(tok, a.text_dim, a.seed, device))
        }
        other => anyhow::bail!("unknown --tokenizer `{other}`; available: clip, bert"),
    })
}

fn run_coco(a: &CocoArgs, device: &Device) -> Result<()> {
    anyhow::ensure!(
        a.autoencoder == "pixel",
        "unknown --autoencoder `{}`; available: pixel (the SD autoencoder comes with the model-loading issue)",
        a.autoencoder
    );
    anyhow::ensure!(
        a.pixel_factor > 0 && (a.image_size as usize).is_multiple_of(a.pixel_factor),
        "--pixel-factor {} must divide --image-size {}",
        a.pixel_factor,
        a.image_size
    );
    let opts = CocoOptions {
        image_size: a.image_size,
        on_missing: a.on_missing,
        on_bad: a.on_bad,
        limit: a.limit,
    };
    // Inputs first: a bad captions file is reported before any encoder is built.
    let ds = CocoDataset::open(&a.images, &a.captions, opts)?;
    let ae: Box<dyn Autoencoder> = Box::new(PixelAutoencoder::new(a.pixel_factor));
    let te = text_encoder(a, device)?;
    if !ds.missing.is_empty() {
        eprintln!("skipping {} listed images with no file", ds.missing.len());
    }
    let options = PrepareOptions {
        shard_size: a.shard_size,
        batch_size: a.batch_size,
        max_new_shards: a.max_shards,
        progress: !a.quiet,
    };
    let start = std::time::Instant::now();
    let r = prepare_coco(&ds, ae.as_ref(), te.as_ref(), &a.out, &options, device)?;
    println!(
        "{}: {} of {} shards ({} reused, {} written now); {} images, {} captions; \
         {} missing and {} unreadable images skipped; {:.1} s",
        r.out_dir.display(),
        r.shards_reused + r.shards_written,
        r.shards_total,
        r.shards_reused,
        r.shards_written,
        r.images,
        r.captions,
        r.missing_images,
        r.bad_images,
        start.elapsed().as_secs_f64()
    );
    if !r.complete {
        println!("unfinished: run the same command again to resume");
    }
    Ok(())
}

pub fn run(args: &PrepareArgs, device: &Device) -> Result<()> {
    match &args.what {
        PrepareWhat::Coco(a) => run_coco(a, device),
    }
}
