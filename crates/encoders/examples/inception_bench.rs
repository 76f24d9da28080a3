//! Throughput and peak memory of the FID Inception on the CPU (burn Flex):
//!
//!     cargo run --release -p ifvit-encoders --example inception_bench -- [BATCH] [BATCHES]
//!
//! Needs the genuine weights (`ifvit assets fetch fid-inception`). Times `BATCHES` forwards
//! of `BATCH` 299x299 inputs after one warm-up forward; prints images/s and the process's
//! peak resident memory (VmHWM).

use std::time::Instant;

use burn::tensor::{Device, Distribution, Tensor};
use ifvit_encoders::assets::{Asset, locate};
use ifvit_encoders::inception::{INPUT_SIZE, InceptionV3};

fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let batch = args.first().copied().unwrap_or(32);
    let batches = args.get(1).copied().unwrap_or(3);
    let device = Device::flex();
    let dir = locate(Asset::FidInceptionV3).unwrap_or_else(|e| panic!("{e}"));
    let t = Instant::now();
    let model = InceptionV3::load_dir(&dir, &device).unwrap();
    println!("load: {:.2} s", t.elapsed().as_secs_f64());
    let x = || {
        Tensor::<4>::random(
            [batch, 3, INPUT_SIZE, INPUT_SIZE],
            Distribution::Uniform(-1.0, 1.0),
            &device,
        )
    };
    let t = Instant::now();
    let _ = model.forward(x()).into_data();
    println!("warm-up batch {batch}: {:.2} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    for _ in 0..batches {
        let _ = model.forward(x()).into_data();
    }
    let s = t.elapsed().as_secs_f64();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!(
        "batch {batch} x {batches}: {:.2} s, {:.2} images/s ({threads} threads); peak RSS {:.0} MiB",
        s,
        (batch * batches) as f64 / s,
        peak_rss_mib().unwrap_or(f64::NAN)
    );
}
