//! Throughput of the shapes generator and scorer, and the scorer's accuracy on clean,
//! degraded and noise images.
//!
//! `cargo run --release -p ifvit-metrics --example shapes_scorer [-- N]`

use std::time::Instant;

use ifvit_data::shapes::{ShapesConfig, ShapesGenerator, ShapesItem};
use ifvit_metrics::shapes::{AlignmentReport, ShapesScorer, perturb};
use image::RgbImage;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    for (name, cfg) in [
        ("default (32 px)", ShapesConfig::default()),
        ("small (16 px)", ShapesConfig::small()),
    ] {
        let generator = ShapesGenerator::new(cfg).expect("preset is valid");
        let t = Instant::now();
        let items: Vec<ShapesItem> = (0..n as u64).map(|i| generator.item(i)).collect();
        let gen_s = t.elapsed().as_secs_f64();
        let scorer = ShapesScorer::default();
        let images: Vec<RgbImage> = items.iter().map(|it| it.image.clone()).collect();
        let captions: Vec<&str> = items.iter().map(|it| it.caption.as_str()).collect();
        let t = Instant::now();
        let clean = scorer
            .report(&images, &captions)
            .expect("generated captions parse");
        let score_s = t.elapsed().as_secs_f64();
        println!("== {name}: {n} items, 1 thread");
        println!(
            "generate: {:.0} images/s   score: {:.0} images/s",
            n as f64 / gen_s,
            n as f64 / score_s
        );

        let mut rng = StdRng::seed_from_u64(7);
        let mut row = |label: &str, f: &mut dyn FnMut(&RgbImage, &mut StdRng) -> RgbImage| {
            let degraded: Vec<RgbImage> = images.iter().map(|i| f(i, &mut rng)).collect();
            let r = scorer.report(&degraded, &captions).unwrap();
            print_row(label, &r);
        };
        println!("| condition | count | colour | shape | relation | all correct |");
        print_row("clean", &clean);
        for sigma in [10.0, 20.0, 30.0, 40.0] {
            row(&format!("noise sigma {sigma}/255"), &mut |i, r| {
                perturb::gaussian_noise(i, sigma, r)
            });
        }
        for sigma in [0.5, 0.8, 1.0, 1.2, 1.5] {
            row(&format!("blur sigma {sigma} px"), &mut |i, _| {
                perturb::gaussian_blur(i, sigma)
            });
        }
        for a in [0.3, 0.5] {
            row(&format!("colour bleed {a}"), &mut |i, _| {
                perturb::desaturate(i, a)
            });
        }
        row("dim x0.5", &mut |i, _| perturb::dim(i, 0.5));
        row("blur 0.8 + bleed 0.3 + dim 0.8 + noise 15", &mut |i, r| {
            let i = perturb::gaussian_blur(i, 0.8);
            let i = perturb::desaturate(&i, 0.3);
            let i = perturb::dim(&i, 0.8);
            perturb::gaussian_noise(&i, 15.0, r)
        });
        let s = generator.config().image_size;
        row("uniform noise image", &mut |_, r| {
            perturb::uniform_noise_image(s, s, r)
        });
        row("smooth noise image (blur 1.5)", &mut |_, r| {
            perturb::smooth_noise_image(s, s, 1.5, r)
        });
        row("smooth noise image (blur 3)", &mut |_, r| {
            perturb::smooth_noise_image(s, s, 3.0, r)
        });
        // Chance: each image scored against the caption of another item.
        let shifted: Vec<&str> = captions.iter().cycle().skip(1).take(n).copied().collect();
        print_row(
            "mismatched caption",
            &scorer.report(&images, &shifted).unwrap(),
        );
        println!();
    }
}

fn print_row(label: &str, r: &AlignmentReport) {
    let m = &r.overall;
    let pct = |v: f64| format!("{:.1}", 100.0 * v);
    println!(
        "| {label} | {} | {} | {} | {} | {} |",
        pct(m.count),
        pct(m.color),
        pct(m.shape),
        m.relation.map(pct).unwrap_or_default(),
        pct(m.all_correct)
    );
}
