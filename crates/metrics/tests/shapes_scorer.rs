//! The scorer's three promised properties, on generated data: (1) >= 99% all-correct on
//! clean renders, (2) high under mild degradation, (3) near chance on noise images; plus
//! (4) it is not lenient: renders of a subtly different caption are marked wrong.

use ifvit_data::shapes::{
    Aspect, CaptionSpec, Group, Relation, ShapesConfig, ShapesGenerator, ShapesItem,
};
use ifvit_metrics::shapes::{AlignmentReport, ShapesScorer, perturb};
use image::RgbImage;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn items(cfg: ShapesConfig, n: u64) -> Vec<ShapesItem> {
    let g = ShapesGenerator::new(cfg).unwrap();
    (0..n).map(|i| g.item(i)).collect()
}

fn report(items: &[ShapesItem], f: impl FnMut(&ShapesItem) -> RgbImage) -> AlignmentReport {
    let images: Vec<RgbImage> = items.iter().map(f).collect();
    ShapesScorer::default()
        .report(&images, items.iter().map(|it| &it.caption))
        .unwrap()
}

fn assert_all_correct_at_least(r: &AlignmentReport, min: f64, what: &str) {
    for (aspect, m) in &r.by_aspect {
        assert!(
            m.all_correct >= min,
            "{what}, {aspect}: {}\n{}",
            m.all_correct,
            r.to_markdown()
        );
    }
    assert_eq!(r.by_aspect.len(), 3, "{what}: all three aspects present");
}

#[test]
fn clean_renders_score_at_least_99_percent() {
    let r = report(&items(ShapesConfig::default(), 600), |it| it.image.clone());
    assert_all_correct_at_least(&r, 0.99, "default, clean");
    assert!(r.overall.relation.unwrap() >= 0.99);
    let r = report(&items(ShapesConfig::small(), 300), |it| it.image.clone());
    assert_all_correct_at_least(&r, 0.99, "small, clean");
}

#[test]
fn mild_noise_and_blur_keep_scores_high() {
    let data = items(ShapesConfig::default(), 300);
    let mut rng = StdRng::seed_from_u64(1);
    let noisy = report(&data, |it| {
        perturb::gaussian_noise(&it.image, 20.0, &mut rng)
    });
    assert_all_correct_at_least(&noisy, 0.97, "default, noise sigma 20/255");
    let blurred = report(&data, |it| perturb::gaussian_blur(&it.image, 1.0));
    assert_all_correct_at_least(&blurred, 0.97, "default, blur sigma 1 px");
    // What a half-trained diffusion model draws: soft edges, a little colour bleed,
    // lower contrast and grain.
    let soft = report(&data, |it| {
        let i = perturb::gaussian_blur(&it.image, 0.8);
        let i = perturb::desaturate(&i, 0.3);
        let i = perturb::dim(&i, 0.8);
        perturb::gaussian_noise(&i, 15.0, &mut rng)
    });
    assert_all_correct_at_least(
        &soft,
        0.95,
        "default, blur 0.8 + bleed 0.3 + dim 0.8 + noise 15",
    );

    let small = items(ShapesConfig::small(), 200);
    let noisy = report(&small, |it| {
        perturb::gaussian_noise(&it.image, 20.0, &mut rng)
    });
    assert_all_correct_at_least(&noisy, 0.95, "small, noise sigma 20/255");
    let blurred = report(&small, |it| perturb::gaussian_blur(&it.image, 0.8));
    assert_all_correct_at_least(&blurred, 0.95, "small, blur sigma 0.8 px");
}

#[test]
fn noise_images_score_near_chance() {
    let data = items(ShapesConfig::default(), 300);
    // Chance: clean renders scored against another item's caption.
    let shifted: Vec<&str> = data
        .iter()
        .cycle()
        .skip(1)
        .take(data.len())
        .map(|it| it.caption.as_str())
        .collect();
    let images: Vec<RgbImage> = data.iter().map(|it| it.image.clone()).collect();
    let chance = ShapesScorer::default().report(&images, &shifted).unwrap();
    assert!(
        chance.overall.all_correct <= 0.03,
        "{}",
        chance.to_markdown()
    );

    let mut rng = StdRng::seed_from_u64(2);
    let uniform = report(&data, |_| perturb::uniform_noise_image(32, 32, &mut rng));
    let smooth = report(&data, |_| {
        perturb::smooth_noise_image(32, 32, 1.5, &mut rng)
    });
    for (what, r) in [("uniform", &uniform), ("smooth", &smooth)] {
        assert!(
            r.overall.all_correct <= chance.overall.all_correct + 0.01,
            "{what}\n{}",
            r.to_markdown()
        );
        assert!(r.overall.color <= 0.05, "{what}\n{}", r.to_markdown());
        assert!(
            r.overall.relation.unwrap() <= 0.1,
            "{what}\n{}",
            r.to_markdown()
        );
    }
}

/// A caption that differs from `spec` in exactly one way.
fn corrupt(spec: &CaptionSpec) -> CaptionSpec {
    match spec.clone() {
        CaptionSpec::Objects(g) if g.len() == 1 => {
            // Count off by one (within 1..=4).
            let count = if g[0].count < 4 { g[0].count + 1 } else { 3 };
            CaptionSpec::Objects(vec![Group { count, ..g[0] }])
        }
        CaptionSpec::Objects(g) => {
            // Swap the colours of the two objects: same colours, same shapes, wrong binding.
            CaptionSpec::Objects(vec![
                Group {
                    color: g[1].color,
                    ..g[0]
                },
                Group {
                    color: g[0].color,
                    ..g[1]
                },
            ])
        }
        CaptionSpec::Relation { a, relation, b } => {
            let opposite = match relation {
                Relation::LeftOf => Relation::RightOf,
                Relation::RightOf => Relation::LeftOf,
                Relation::Above => Relation::Below,
                Relation::Below => Relation::Above,
            };
            CaptionSpec::Relation {
                a,
                relation: opposite,
                b,
            }
        }
    }
}

#[test]
fn renders_of_a_subtly_different_caption_are_wrong() {
    let g = ShapesGenerator::new(ShapesConfig::default()).unwrap();
    let scorer = ShapesScorer::default();
    for i in 0..300 {
        let it = g.item(i);
        let wrong = g.render_spec(corrupt(&it.spec), i).unwrap();
        let s = scorer.score(&wrong.image, &it.caption).unwrap();
        assert!(
            !s.all_correct,
            "image of \"{}\" passed as \"{}\"",
            wrong.caption, it.caption
        );
        match it.aspect {
            Aspect::Count => assert!(!s.count && s.color && s.shape, "{s:?}"),
            Aspect::Binding => assert!(s.count && s.color && s.shape, "{s:?}"),
            Aspect::Relation => assert_eq!(s.relation, Some(false), "{s:?}"),
        }
    }
}
