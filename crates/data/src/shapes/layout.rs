//! Where a caption's objects go.
//!
//! * Count and binding captions: each object gets its own cell of the config's
//!   `grid x grid` layout (2x2 by default), cells drawn at random.
//! * Relation captions: the two groups take opposite halves of the image along the
//!   relation's axis ("a left of b": a in the left half, b in the right half); a group of
//!   `k` objects splits its half into `k` slots across the axis. Object centres are
//!   therefore a full half-image apart along the axis and (for groups of one) on the same
//!   line across it, give or take the jitter: the relation is never ambiguous.
//!
//! Each object is centred in its slot, moved by up to `jitter` px on each axis, with a
//! size drawn from `object_size`, its bounding box snapped to whole pixels.

use rand::Rng;
use rand::seq::SliceRandom;

use super::caption::{CaptionSpec, Group};
use super::config::{MIN_GAP, Placement, ShapesConfig};
use super::error::ShapesError;
use super::scene::{Scene, SceneObject};
use super::vocab::{Color, Relation, Shape};

/// The scene for `spec`, or an error when its objects do not fit the config's slots.
pub fn layout(
    spec: &CaptionSpec,
    cfg: &ShapesConfig,
    rng: &mut impl Rng,
) -> Result<Scene, ShapesError> {
    let objects = match spec {
        CaptionSpec::Objects(groups) => grid_layout(spec, groups, cfg, rng)?,
        CaptionSpec::Relation { a, relation, b } => {
            relation_layout(spec, a, *relation, b, cfg, rng)?
        }
    };
    Ok(Scene {
        image_size: cfg.image_size,
        objects,
    })
}

fn expand(groups: &[Group]) -> Vec<(Color, Shape)> {
    groups
        .iter()
        .flat_map(|g| std::iter::repeat_n((g.color, g.shape), g.count as usize))
        .collect()
}

fn place(
    color: Color,
    shape: Shape,
    slot: (f32, f32),
    cfg: &ShapesConfig,
    rng: &mut impl Rng,
) -> SceneObject {
    let j = cfg.jitter as i32;
    let mut jitter = || rng.random_range(-j..=j) as f32;
    let (jx, jy) = (jitter(), jitter());
    let size = rng.random_range(cfg.object_size.min..=cfg.object_size.max);
    // Pixel-align the bounding box (odd sizes get a half-pixel centre), so a circle of
    // size s is exactly s px across, like the square.
    let half = size as f32 / 2.0;
    let snap = |c: f32| (c - half).round() + half;
    let center = (snap(slot.0 + jx), snap(slot.1 + jy));
    SceneObject {
        color,
        shape,
        center,
        size,
    }
}

fn grid_layout(
    spec: &CaptionSpec,
    groups: &[Group],
    cfg: &ShapesConfig,
    rng: &mut impl Rng,
) -> Result<Vec<SceneObject>, ShapesError> {
    let objects = expand(groups);
    let g = cfg.grid();
    if objects.len() > (g * g) as usize {
        return Err(ShapesError::Layout {
            caption: spec.to_string(),
            message: format!(
                "{} objects but the {g}x{g} grid has {} cells; raise `objects.max` (and \
                 image_size to match)",
                objects.len(),
                g * g
            ),
        });
    }
    let mut cells: Vec<u32> = (0..g * g).collect();
    if cfg.placement == Placement::Random {
        cells.shuffle(rng);
    }
    let cell = cfg.cell();
    Ok(objects
        .into_iter()
        .zip(cells)
        .map(|((color, shape), c)| {
            let slot = (((c % g) as f32 + 0.5) * cell, ((c / g) as f32 + 0.5) * cell);
            place(color, shape, slot, cfg, rng)
        })
        .collect())
}

fn relation_layout(
    spec: &CaptionSpec,
    a: &Group,
    relation: Relation,
    b: &Group,
    cfg: &ShapesConfig,
    rng: &mut impl Rng,
) -> Result<Vec<SceneObject>, ShapesError> {
    let size = cfg.image_size as f32;
    let need = (cfg.object_size.max + 2 * cfg.jitter + MIN_GAP) as f32;
    let most = a.count.max(b.count);
    if size / (most as f32) < need {
        return Err(ShapesError::Layout {
            caption: spec.to_string(),
            message: format!(
                "{most} objects across one half of a {size} px image leave slots under \
                 {need} px; use smaller groups or a larger image_size"
            ),
        });
    }
    // Which half (0 = left/top, 1 = right/bottom) each group takes, and the axis.
    let (a_half, horizontal) = match relation {
        Relation::LeftOf => (0, true),
        Relation::RightOf => (1, true),
        Relation::Above => (0, false),
        Relation::Below => (1, false),
    };
    let mut out = Vec::new();
    for (group, half) in [(a, a_half), (b, 1 - a_half)] {
        let along = (half as f32 + 0.5) * size / 2.0;
        for i in 0..group.count {
            let across = (i as f32 + 0.5) * size / group.count as f32;
            let slot = if horizontal {
                (along, across)
            } else {
                (across, along)
            };
            out.push(place(group.color, group.shape, slot, cfg, rng));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn relation_objects_sit_in_opposite_halves() {
        let cfg = ShapesConfig::default();
        let mut rng = StdRng::seed_from_u64(1);
        for relation in Relation::ALL {
            let spec = CaptionSpec::Relation {
                a: Group::one(Color::Red, Shape::Circle),
                relation,
                b: Group::one(Color::Blue, Shape::Square),
            };
            for _ in 0..20 {
                let scene = layout(&spec, &cfg, &mut rng).unwrap();
                let [oa, ob] = [scene.objects[0], scene.objects[1]];
                let (dx, dy) = (oa.center.0 - ob.center.0, oa.center.1 - ob.center.1);
                assert!(relation.holds(dx, dy), "{spec}: {oa:?} {ob:?}");
                assert!(dx.abs().max(dy.abs()) >= 13.0, "about a half-image apart");
            }
        }
    }

    #[test]
    fn grid_objects_take_distinct_cells_and_do_not_touch() {
        let cfg = ShapesConfig::default();
        let mut rng = StdRng::seed_from_u64(2);
        let spec = CaptionSpec::Objects(vec![Group {
            count: 4,
            color: Color::Red,
            shape: Shape::Square,
        }]);
        for _ in 0..50 {
            let scene = layout(&spec, &cfg, &mut rng).unwrap();
            assert_eq!(scene.objects.len(), 4);
            let img = scene.render();
            // Four squares that never touch: exactly the sum of their areas is red, and no
            // red pixel lies on a cell border row/column (x or y = 15, 16) or the image edge.
            let red: u32 = scene.objects.iter().map(|o| o.size * o.size).sum();
            assert_eq!(
                img.pixels().filter(|p| p.0 == [255, 0, 0]).count() as u32,
                red
            );
            for (x, y, p) in img.enumerate_pixels() {
                if [0, 15, 16, 31].contains(&x) || [0, 15, 16, 31].contains(&y) {
                    assert_eq!(p.0, [0, 0, 0], "object pixel at ({x}, {y}) on a border");
                }
            }
        }
    }

    #[test]
    fn too_many_objects_is_an_error() {
        let cfg = ShapesConfig::default();
        let spec = CaptionSpec::parse("five red circles").unwrap();
        let e = layout(&spec, &cfg, &mut StdRng::seed_from_u64(0)).unwrap_err();
        assert!(e.to_string().contains("2x2 grid has 4 cells"), "{e}");
        let spec = CaptionSpec::parse("three red circles left of a blue square").unwrap();
        assert!(layout(&spec, &cfg, &mut StdRng::seed_from_u64(0)).is_err());
        let spec = CaptionSpec::parse("two red circles left of a blue square").unwrap();
        assert_eq!(
            layout(&spec, &cfg, &mut StdRng::seed_from_u64(0))
                .unwrap()
                .objects
                .len(),
            3
        );
    }
}
