//! Object geometry and shape classification.
//!
//! Per object, over its pixels (after fringe absorption):
//! * `fill`: area / bounding-box area (square 1, circle ~0.79, triangle ~0.5);
//! * `taper`: how much the object narrows from one side to the opposite one: the mean
//!   width of the first third of its rows (or columns) over the mean width of the last
//!   third, folded to `<= 1` and minimised over the two axes (triangle ~0.25, circle and
//!   square ~1);
//! * `corner_fill`: the fraction of the bounding-box pixels outside the inscribed ellipse
//!   that belong to the object (square ~1, circle ~0).
//!
//! Rules, in order: degenerate (a side under 3 px, or aspect ratio over 2) ->
//! unrecognised; `taper < 0.55` -> triangle; `corner_fill >= 0.5` -> square; otherwise
//! circle; finally the fill must suit the class (circle 0.6-0.95, square 0.8-1, triangle
//! 0.35-0.9) or the blob is unrecognised. Soft edges round a square's corners and blunt
//! a triangle's apex a little; these margins keep both on their side (tests cover blur up
//! to sigma 1 px).

use ifvit_data::shapes::{Color, Shape};
use serde::{Deserialize, Serialize};

use super::segment::Segmentation;

/// An object the scorer found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DetectedObject {
    pub color: Color,
    /// `None`: a blob that is none of the shapes.
    pub shape: Option<Shape>,
    /// Pixels.
    pub area: usize,
    /// Centre of mass (x right, y down; pixel centres at +0.5).
    pub centroid: (f32, f32),
    /// Inclusive pixel bounds `(x0, y0, x1, y1)`.
    pub bbox: (usize, usize, usize, usize),
    pub fill: f32,
    pub taper: f32,
    pub corner_fill: f32,
}

pub const TRIANGLE_TAPER: f32 = 0.55;
pub const SQUARE_CORNER_FILL: f32 = 0.5;

/// Measures and classifies every object of a segmentation.
pub fn describe(seg: &Segmentation) -> Vec<DetectedObject> {
    let k = seg.colors.len();
    let w = seg.width;
    let mut area = vec![0usize; k];
    let mut sum = vec![(0f64, 0f64); k];
    let mut bbox = vec![(usize::MAX, usize::MAX, 0usize, 0usize); k];
    for (p, &o) in seg.owner.iter().enumerate() {
        if o == super::segment::NONE {
            continue;
        }
        let (o, x, y) = (o as usize, p % w, p / w);
        area[o] += 1;
        sum[o].0 += x as f64 + 0.5;
        sum[o].1 += y as f64 + 0.5;
        let b = &mut bbox[o];
        *b = (b.0.min(x), b.1.min(y), b.2.max(x), b.3.max(y));
    }
    (0..k)
        .map(|o| {
            let (x0, y0, x1, y1) = bbox[o];
            let (bw, bh) = (x1 - x0 + 1, y1 - y0 + 1);
            let owns = |x: usize, y: usize| seg.owner[y * w + x] == o as u32;
            let fill = area[o] as f32 / (bw * bh) as f32;
            let rows: Vec<usize> = (y0..=y1)
                .map(|y| (x0..=x1).filter(|&x| owns(x, y)).count())
                .collect();
            let cols: Vec<usize> = (x0..=x1)
                .map(|x| (y0..=y1).filter(|&y| owns(x, y)).count())
                .collect();
            let taper = taper(&rows).min(taper(&cols));
            let corner_fill = corner_fill(x0, y0, bw, bh, owns);
            let shape = classify(bw, bh, fill, taper, corner_fill);
            DetectedObject {
                color: seg.colors[o],
                shape,
                area: area[o],
                centroid: (
                    (sum[o].0 / area[o] as f64) as f32,
                    (sum[o].1 / area[o] as f64) as f32,
                ),
                bbox: (x0, y0, x1, y1),
                fill,
                taper,
                corner_fill,
            }
        })
        .collect()
}

/// Mean of the first third of `widths` over the mean of the last third, folded to <= 1.
fn taper(widths: &[usize]) -> f32 {
    let third = (widths.len() / 3).max(1);
    let mean = |s: &[usize]| s.iter().sum::<usize>() as f32 / s.len() as f32;
    let (a, b) = (
        mean(&widths[..third]),
        mean(&widths[widths.len() - third..]),
    );
    if a.max(b) == 0.0 {
        return 1.0;
    }
    a.min(b) / a.max(b)
}

fn corner_fill(
    x0: usize,
    y0: usize,
    bw: usize,
    bh: usize,
    owns: impl Fn(usize, usize) -> bool,
) -> f32 {
    let (rx, ry) = (bw as f32 / 2.0, bh as f32 / 2.0);
    let (mut outside, mut owned) = (0usize, 0usize);
    for y in 0..bh {
        for x in 0..bw {
            let dx = (x as f32 + 0.5 - rx) / rx;
            let dy = (y as f32 + 0.5 - ry) / ry;
            if dx * dx + dy * dy > 1.0 {
                outside += 1;
                owned += owns(x0 + x, y0 + y) as usize;
            }
        }
    }
    if outside == 0 {
        return 0.0;
    }
    owned as f32 / outside as f32
}

/// The rules of the module docs.
pub fn classify(bw: usize, bh: usize, fill: f32, taper: f32, corner_fill: f32) -> Option<Shape> {
    let aspect = bw.max(bh) as f32 / bw.min(bh) as f32;
    if bw < 3 || bh < 3 || aspect > 2.0 {
        return None;
    }
    let shape = if taper < TRIANGLE_TAPER {
        Shape::Triangle
    } else if corner_fill >= SQUARE_CORNER_FILL {
        Shape::Square
    } else {
        Shape::Circle
    };
    FILL_RANGE[shape as usize].contains(&fill).then_some(shape)
}

/// Fill ratios a shape may have (indexed by `Shape as usize`: circle, square, triangle):
/// nominal pi/4, 1 and 1/2, widened for rasterisation and soft edges (a blurred small
/// triangle loses its apex and looks like a trapezoid: up to 0.9). A blob outside its
/// class's range (ragged, hollow, L-shaped, ...) is unrecognised.
pub const FILL_RANGE: [std::ops::RangeInclusive<f32>; 3] = [0.6..=0.95, 0.8..=1.0, 0.35..=0.9];

#[cfg(test)]
mod tests {
    use ifvit_data::shapes::{Scene, SceneObject};

    use super::super::segment::{ScorerConfig, segment};
    use super::*;

    fn detect_one(shape: Shape, size: u32, center: (f32, f32)) -> DetectedObject {
        let scene = Scene {
            image_size: 32,
            objects: vec![SceneObject {
                color: Color::Blue,
                shape,
                center,
                size,
            }],
        };
        let img = scene.render();
        let seg = segment(img.as_raw(), 32, 32, &ScorerConfig::default());
        let mut objs = describe(&seg);
        assert_eq!(objs.len(), 1);
        objs.remove(0)
    }

    #[test]
    fn clean_shapes_at_every_size() {
        // Pixel-aligned, as the generator renders them.
        for size in 6..=20 {
            let c = (16 - size / 2) as f32 + size as f32 / 2.0;
            for shape in Shape::ALL {
                let o = detect_one(shape, size, (c, c));
                assert_eq!(o.shape, Some(shape), "size {size}: {o:?}");
            }
        }
    }

    #[test]
    fn clean_shapes_off_the_pixel_grid() {
        // Objects drawn elsewhere (e.g. by a model) need not be pixel-aligned; from 10 px
        // up the jagged rasterisation does not matter.
        for size in 10..=20 {
            for offset in [0.0, 0.25, 0.5, 0.75] {
                for shape in Shape::ALL {
                    let o = detect_one(shape, size, (16.0 + offset, 16.0 - offset));
                    assert_eq!(o.shape, Some(shape), "size {size} offset {offset}: {o:?}");
                }
            }
        }
    }

    #[test]
    fn features_have_their_nominal_values() {
        let sq = detect_one(Shape::Square, 12, (16.0, 16.0));
        assert_eq!((sq.area, sq.fill, sq.corner_fill), (144, 1.0, 1.0));
        assert_eq!(sq.centroid, (16.0, 16.0));
        let c = detect_one(Shape::Circle, 12, (16.0, 16.0));
        assert!(
            (c.fill - 0.785).abs() < 0.05 && c.corner_fill < 0.1,
            "{c:?}"
        );
        let t = detect_one(Shape::Triangle, 12, (16.0, 16.0));
        assert!(t.taper < 0.35 && (t.fill - 0.55).abs() < 0.1, "{t:?}");
        // Mass sits low in an apex-up triangle.
        assert!(t.centroid.1 > 17.0, "{t:?}");
    }

    #[test]
    fn degenerate_blobs_are_unrecognised() {
        assert_eq!(classify(2, 10, 1.0, 1.0, 1.0), None);
        assert_eq!(classify(12, 4, 1.0, 1.0, 1.0), None);
        assert_eq!(classify(10, 10, 0.2, 1.0, 0.0), None);
        // Class decided, fill does not fit: a ragged "square", a hollow "circle".
        assert_eq!(classify(10, 10, 0.7, 1.0, 0.9), None);
        assert_eq!(classify(10, 10, 0.5, 1.0, 0.1), None);
        assert_eq!(classify(10, 10, 0.95, 0.3, 0.5), None);
        assert_eq!(classify(10, 10, 0.55, 0.3, 0.5), Some(Shape::Triangle));
    }
}
