//! Image grids with a caption under each image (data previews, sample sheets).

use image::{Rgb, RgbImage, imageops};

use crate::font::{ADVANCE, LINE_H, draw_text, text_width};

/// Look of a caption grid.
#[derive(Clone, Debug, PartialEq)]
pub struct GridStyle {
    /// Images are enlarged by a whole factor (nearest neighbour, so pixels stay visible)
    /// until they are at least this wide.
    pub min_cell_width: u32,
    /// Space around and between cells (px).
    pub pad: u32,
    /// Longer captions are cut with "..".
    pub max_caption_lines: usize,
    /// Font scale (1 = 5x7 px glyphs).
    pub text_scale: u32,
    pub background: [u8; 3],
    pub text_color: [u8; 3],
}

impl Default for GridStyle {
    fn default() -> Self {
        GridStyle {
            min_cell_width: 128,
            pad: 6,
            max_caption_lines: 3,
            text_scale: 1,
            background: [40, 40, 40],
            text_color: [235, 235, 235],
        }
    }
}

/// `images` in rows of `cols` (0: about square), each with its caption (word-wrapped)
/// underneath, in the default style. Missing captions leave the space blank.
pub fn caption_grid(images: &[RgbImage], captions: &[String], cols: usize) -> RgbImage {
    caption_grid_with(images, captions, cols, &GridStyle::default())
}

/// [`caption_grid`] with an explicit style.
pub fn caption_grid_with(
    images: &[RgbImage],
    captions: &[String],
    cols: usize,
    style: &GridStyle,
) -> RgbImage {
    let pad = style.pad;
    let background = Rgb(style.background);
    if images.is_empty() {
        return RgbImage::from_pixel(2 * pad.max(1), 2 * pad.max(1), background);
    }
    let cols = if cols == 0 {
        (images.len() as f64).sqrt().ceil() as usize
    } else {
        cols
    };
    let rows = images.len().div_ceil(cols);
    let max_w = images.iter().map(|i| i.width()).max().unwrap_or(1).max(1);
    let max_h = images.iter().map(|i| i.height()).max().unwrap_or(1);
    let scale = style.min_cell_width.div_ceil(max_w).max(1);
    let cell_w = max_w * scale;
    let ts = style.text_scale.max(1);
    let chars_per_line = (cell_w / (ADVANCE * ts)).max(1) as usize;
    let wrapped: Vec<Vec<String>> = (0..images.len())
        .map(|i| {
            let text = captions.get(i).map(String::as_str).unwrap_or("");
            wrap(text, chars_per_line, style.max_caption_lines)
        })
        .collect();
    let lines = wrapped.iter().map(Vec::len).max().unwrap_or(0) as u32;
    let text_h = if lines == 0 {
        0
    } else {
        pad / 2 + lines * LINE_H * ts
    };
    let cell_h = max_h * scale + text_h;
    let mut out = RgbImage::from_pixel(
        pad + cols as u32 * (cell_w + pad),
        pad + rows as u32 * (cell_h + pad),
        background,
    );
    for (i, img) in images.iter().enumerate() {
        let (x, y) = (
            pad + (i % cols) as u32 * (cell_w + pad),
            pad + (i / cols) as u32 * (cell_h + pad),
        );
        let big = imageops::resize(
            img,
            img.width() * scale,
            img.height() * scale,
            imageops::FilterType::Nearest,
        );
        imageops::replace(&mut out, &big, x as i64, y as i64);
        let ty = y + max_h * scale + pad / 2;
        for (l, line) in wrapped[i].iter().enumerate() {
            // Centred under the image.
            let tx = x + cell_w.saturating_sub(text_width(line, ts)) / 2;
            draw_text(
                &mut out,
                tx,
                ty + l as u32 * LINE_H * ts,
                line,
                style.text_color,
                ts,
            );
        }
    }
    out
}

/// Greedy word wrap to `width` characters and at most `max_lines` lines; words longer
/// than a line are split; text beyond the last line is replaced by "..".
fn wrap(text: &str, width: usize, max_lines: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        while !word.is_empty() {
            let room = if line.is_empty() {
                width
            } else {
                width.saturating_sub(line.chars().count() + 1)
            };
            if word.len() <= room {
                if !line.is_empty() {
                    line.push(' ');
                }
                line.extend(word.drain(..));
            } else if line.is_empty() {
                line.extend(word.drain(..width));
                lines.push(std::mem::take(&mut line));
            } else {
                lines.push(std::mem::take(&mut line));
            }
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    if lines.len() > max_lines {
        lines.truncate(max_lines.max(1));
        if let Some(last) = lines.last_mut() {
            let keep = width.saturating_sub(2).min(last.chars().count());
            *last = last.chars().take(keep).collect::<String>() + "..";
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_on_words_and_cuts_long_text() {
        assert_eq!(
            wrap("a yellow square above a red circle", 21, 3),
            ["a yellow square above", "a red circle"]
        );
        assert_eq!(wrap("abcdefghij", 4, 5), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("one two three four", 5, 2), ["one", "two.."]);
        assert!(wrap("", 10, 3).is_empty());
    }

    #[test]
    fn layout_scales_images_and_places_captions() {
        let red = RgbImage::from_pixel(32, 32, Rgb([255, 0, 0]));
        let blue = RgbImage::from_pixel(32, 32, Rgb([0, 0, 255]));
        let caps = vec!["one red square".to_string(), "one blue square".to_string()];
        let g = caption_grid(&[red.clone(), blue.clone(), red], &caps, 2);
        // 32 px images scaled 4x to 128; 2 columns, 2 rows, one caption line.
        assert_eq!(g.width(), 6 + 2 * (128 + 6));
        assert_eq!(g.height(), 6 + 2 * (128 + 3 + 9 + 6));
        assert_eq!(g.get_pixel(6, 6).0, [255, 0, 0]);
        assert_eq!(g.get_pixel(6 + 134 + 127, 6 + 127).0, [0, 0, 255]);
        // Caption text is drawn in the strip under the first image.
        let strip = (6..134).flat_map(|x| (137..146).map(move |y| (x, y)));
        assert!(
            strip
                .clone()
                .any(|(x, y)| g.get_pixel(x, y).0 == [235, 235, 235])
        );
        // The third image has no caption: its strip stays background.
        assert!(
            (6..134).all(|x| (146 + 137..146 + 146).all(|y| g.get_pixel(x, y).0 == [40, 40, 40]))
        );
        assert_eq!(caption_grid(&[], &[], 3).dimensions(), (12, 12));
        assert_eq!(caption_grid(&[blue], &[], 0).dimensions(), (140, 140));
    }
}
