//! Colour segmentation: pixels -> colour labels -> connected components -> objects.
//!
//! 1. Label each pixel: background when its brightest channel is under
//!    `background_threshold`; otherwise the palette colour whose on/off channel pattern
//!    matches `channel >= channel_ratio * brightest` (red, yellow, white, ...). Using the
//!    ratio to the brightest channel makes the label independent of brightness, so soft,
//!    faded edges (colour x alpha over black) keep their colour.
//! 2. 4-connected components of equal labels.
//! 3. Components under `min_area_frac` of the image are not objects. A small component
//!    touching a large one (a fringe of bled colour, a noisy pixel inside an object) is
//!    absorbed into the large neighbour it shares most border with: it adds to that
//!    object's geometry but not to its colour. Isolated small ones are dropped as noise.

use ifvit_data::shapes::Color;
use serde::{Deserialize, Serialize};

/// Thresholds of the scorer. The defaults are what `docs/shapes.md` reports results for.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScorerConfig {
    /// A pixel whose brightest channel is below this (0-255) is background.
    pub background_threshold: u8,
    /// A channel is "on" when it is at least this fraction of the pixel's brightest channel.
    pub channel_ratio: f32,
    /// Components smaller than this fraction of the image area are not objects
    /// (0.01 = 10 px at 32x32, against 50+ px for the smallest default object).
    pub min_area_frac: f32,
}

impl Default for ScorerConfig {
    fn default() -> Self {
        ScorerConfig {
            background_threshold: 96,
            channel_ratio: 0.5,
            min_area_frac: 0.01,
        }
    }
}

/// Label 0 is background; label `k` is `Color::ALL[k - 1]`.
pub fn pixel_label(px: [u8; 3], cfg: &ScorerConfig) -> u8 {
    let max = px[0].max(px[1]).max(px[2]);
    if max < cfg.background_threshold {
        return 0;
    }
    let on = px.map(|v| v as f32 >= cfg.channel_ratio * max as f32);
    match Color::from_channels(on) {
        Some(c) => Color::ALL.iter().position(|&x| x == c).unwrap() as u8 + 1,
        None => 0,
    }
}

/// The pixels of each object: `owner[y * w + x]` is the object index, or `u32::MAX`.
#[derive(Clone, Debug)]
pub struct Segmentation {
    pub width: usize,
    pub height: usize,
    pub owner: Vec<u32>,
    /// Colour of each object.
    pub colors: Vec<Color>,
}

pub const NONE: u32 = u32::MAX;

/// Segments an HWC u8 RGB buffer (`data.len() == width * height * 3`, checked by the caller).
pub fn segment(data: &[u8], width: usize, height: usize, cfg: &ScorerConfig) -> Segmentation {
    let n = width * height;
    let labels: Vec<u8> = data
        .chunks_exact(3)
        .map(|p| pixel_label([p[0], p[1], p[2]], cfg))
        .collect();

    // Connected components (4-neighbour flood fill) of equal non-background labels.
    let mut comp = vec![NONE; n];
    let mut areas: Vec<usize> = Vec::new();
    let mut comp_label: Vec<u8> = Vec::new();
    let mut stack = Vec::new();
    for start in 0..n {
        if labels[start] == 0 || comp[start] != NONE {
            continue;
        }
        let id = areas.len() as u32;
        let label = labels[start];
        let mut area = 0;
        comp[start] = id;
        stack.push(start);
        while let Some(p) = stack.pop() {
            area += 1;
            let (x, y) = (p % width, p / width);
            let mut visit = |q: usize| {
                if labels[q] == label && comp[q] == NONE {
                    comp[q] = id;
                    stack.push(q);
                }
            };
            if x > 0 {
                visit(p - 1);
            }
            if x + 1 < width {
                visit(p + 1);
            }
            if y > 0 {
                visit(p - width);
            }
            if y + 1 < height {
                visit(p + width);
            }
        }
        areas.push(area);
        comp_label.push(label);
    }

    // Large components become objects; small ones join the large neighbour they touch most.
    let min_area = (cfg.min_area_frac * n as f32).ceil().max(1.0) as usize;
    let mut object_of = vec![NONE; areas.len()];
    let mut colors = Vec::new();
    for (c, &area) in areas.iter().enumerate() {
        if area >= min_area {
            object_of[c] = colors.len() as u32;
            colors.push(Color::ALL[comp_label[c] as usize - 1]);
        }
    }
    let mut contacts: Vec<Vec<(u32, usize)>> = vec![Vec::new(); areas.len()];
    for p in 0..n {
        let c = comp[p];
        if c == NONE || object_of[c as usize] != NONE {
            continue;
        }
        let (x, y) = (p % width, p / width);
        let neighbours = [
            (x > 0).then(|| p - 1),
            (x + 1 < width).then(|| p + 1),
            (y > 0).then(|| p - width),
            (y + 1 < height).then(|| p + width),
        ];
        for q in neighbours.into_iter().flatten() {
            let cq = comp[q];
            if cq != NONE && object_of[cq as usize] != NONE {
                let o = object_of[cq as usize];
                let list = &mut contacts[c as usize];
                match list.iter_mut().find(|(obj, _)| *obj == o) {
                    Some((_, k)) => *k += 1,
                    None => list.push((o, 1)),
                }
            }
        }
    }
    for (c, list) in contacts.iter().enumerate() {
        // Ties go to the lower object index (deterministic).
        if let Some(&(o, _)) = list.iter().max_by_key(|(o, k)| (*k, std::cmp::Reverse(*o))) {
            object_of[c] = o;
        }
    }
    let owner = comp
        .iter()
        .map(|&c| {
            if c == NONE {
                NONE
            } else {
                object_of[c as usize]
            }
        })
        .collect();
    Segmentation {
        width,
        height,
        owner,
        colors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_the_channel_pattern_not_the_brightness() {
        let cfg = ScorerConfig::default();
        let red = Color::ALL.iter().position(|&c| c == Color::Red).unwrap() as u8 + 1;
        let yellow = Color::ALL.iter().position(|&c| c == Color::Yellow).unwrap() as u8 + 1;
        assert_eq!(pixel_label([255, 0, 0], &cfg), red);
        assert_eq!(pixel_label([120, 30, 20], &cfg), red, "faded red edge");
        assert_eq!(pixel_label([200, 180, 40], &cfg), yellow);
        assert_eq!(pixel_label([60, 60, 0], &cfg), 0, "too dark: background");
        assert_eq!(pixel_label([0, 0, 0], &cfg), 0);
    }

    fn paint(w: usize, h: usize, rects: &[([u8; 3], usize, usize, usize, usize)]) -> Vec<u8> {
        let mut data = vec![0u8; w * h * 3];
        for &(c, x0, y0, x1, y1) in rects {
            for y in y0..y1 {
                for x in x0..x1 {
                    data[(y * w + x) * 3..][..3].copy_from_slice(&c);
                }
            }
        }
        data
    }

    #[test]
    fn small_fringes_are_absorbed_and_isolated_specks_dropped() {
        // A 10x10 red square with a 2x3 magenta fringe on its right edge, and a 2x2
        // green speck far away (4 px < 10 px minimum at 32x32).
        let data = paint(
            32,
            32,
            &[
                ([255, 0, 0], 2, 2, 12, 12),
                ([255, 0, 255], 12, 5, 14, 8),
                ([0, 255, 0], 25, 25, 27, 27),
            ],
        );
        let s = segment(&data, 32, 32, &ScorerConfig::default());
        assert_eq!(s.colors, vec![Color::Red]);
        let owned = s.owner.iter().filter(|&&o| o == 0).count();
        assert_eq!(owned, 100 + 6, "fringe joins the square's geometry");
        assert_eq!(s.owner[26 * 32 + 26], NONE, "speck dropped");
    }

    #[test]
    fn touching_objects_of_two_colours_stay_two_objects() {
        let data = paint(
            32,
            32,
            &[([255, 0, 0], 2, 2, 12, 12), ([0, 0, 255], 12, 2, 22, 12)],
        );
        let s = segment(&data, 32, 32, &ScorerConfig::default());
        assert_eq!(s.colors, vec![Color::Red, Color::Blue]);
    }
}
