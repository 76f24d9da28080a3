//! A scene (objects with positions) and its rasterisation.
//!
//! Rendering is hard-edged (no anti-aliasing): every pixel is either the black background
//! or exactly one palette colour, so a render is an exact statement of its scene.

use image::{Rgb, RgbImage};
use serde::{Deserialize, Serialize};

use super::vocab::{Color, Shape};

/// One drawn object. `center` is in pixels (x right, y down; pixel `(i, j)` covers
/// `[i, i+1) x [j, j+1)`); `size` is the side of its bounding box.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SceneObject {
    pub color: Color,
    pub shape: Shape,
    pub center: (f32, f32),
    pub size: u32,
}

impl SceneObject {
    /// Whether the pixel whose centre is `(x, y)` belongs to the object.
    pub fn covers(&self, x: f32, y: f32) -> bool {
        let (cx, cy) = self.center;
        let h = self.size as f32 / 2.0;
        let (dx, dy) = (x - cx, y - cy);
        match self.shape {
            Shape::Square => (-h..h).contains(&dx) && (-h..h).contains(&dy),
            Shape::Circle => dx * dx + dy * dy <= h * h,
            // Apex up: the half-width grows linearly from 0 at the top to `h` at the base.
            Shape::Triangle => {
                let t = (dy + h) / (2.0 * h);
                (0.0..1.0).contains(&t) && dx.abs() <= t * h
            }
        }
    }
}

/// What an image shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scene {
    pub image_size: u32,
    pub objects: Vec<SceneObject>,
}

impl Scene {
    /// The scene on a black background, `image_size` square.
    pub fn render(&self) -> RgbImage {
        let n = self.image_size;
        let mut img = RgbImage::new(n, n);
        for o in &self.objects {
            let h = o.size as f32 / 2.0;
            let lo = |c: f32| (c - h).floor().max(0.0) as u32;
            let hi = |c: f32| ((c + h).ceil().max(0.0) as u32).min(n);
            for y in lo(o.center.1)..hi(o.center.1) {
                for x in lo(o.center.0)..hi(o.center.0) {
                    if o.covers(x as f32 + 0.5, y as f32 + 0.5) {
                        img.put_pixel(x, y, Rgb(o.color.rgb()));
                    }
                }
            }
        }
        img
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area(shape: Shape, size: u32) -> (usize, RgbImage) {
        let scene = Scene {
            image_size: 32,
            objects: vec![SceneObject {
                color: Color::Green,
                shape,
                center: (16.0, 16.0),
                size,
            }],
        };
        let img = scene.render();
        let n = img.pixels().filter(|p| p.0 == [0, 255, 0]).count();
        let others = img
            .pixels()
            .filter(|p| p.0 != [0, 255, 0] && p.0 != [0, 0, 0])
            .count();
        assert_eq!(others, 0, "only palette colour and background");
        (n, img)
    }

    #[test]
    fn areas_match_the_geometry() {
        assert_eq!(area(Shape::Square, 12).0, 144);
        let (circle, _) = area(Shape::Circle, 12);
        let ideal = std::f32::consts::PI * 36.0;
        assert!(
            (circle as f32 - ideal).abs() < 0.06 * ideal,
            "circle area {circle}"
        );
        let (tri, img) = area(Shape::Triangle, 12);
        assert!((tri as f32 - 72.0).abs() < 8.0, "triangle area {tri}");
        // Apex up: the top row of the triangle is narrower than the bottom row.
        let width = |y| {
            (0..32)
                .filter(|&x| img.get_pixel(x, y).0 != [0, 0, 0])
                .count()
        };
        assert_eq!(width(21), 12);
        assert!(width(11) <= 2);
    }

    #[test]
    fn objects_outside_the_canvas_are_clipped() {
        let scene = Scene {
            image_size: 8,
            objects: vec![SceneObject {
                color: Color::Red,
                shape: Shape::Square,
                center: (-1.0, 7.0),
                size: 6,
            }],
        };
        let img = scene.render();
        assert_eq!(img.pixels().filter(|p| p.0 == [255, 0, 0]).count(), 2 * 4);
    }
}
