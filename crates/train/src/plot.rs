//! Report plots (PNG): loss curves, alignment vs forward cost, training throughput, line
//! plots (attention rank by block depth).
//!
//! Drawn with plotters into a pixel buffer, text in DejaVu Sans (embedded; licence beside
//! it in `assets/`), encoded with `image`. No system fonts are needed.

use std::path::Path;
use std::sync::Once;

use image::RgbImage;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::error::TrainError;

const W: u32 = 900;
const H: u32 = 560;
const FONT: &str = "ifvit-sans";
static FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Series colours (Okabe-Ito, colour-blind safe).
pub const PALETTE: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
];

fn font(size: f64) -> TextStyle<'static> {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        if plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_err() {
            panic!("the embedded DejaVu Sans font is invalid");
        }
    });
    (FONT, size).into_font().into()
}

fn err(path: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Output {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn save(buf: Vec<u8>, path: &Path) -> Result<(), TrainError> {
    let img = RgbImage::from_raw(W, H, buf).expect("buffer is W*H*3");
    img.save(path).map_err(|e| err(path, e))
}

/// Moving average over `window` points (for readable loss curves).
pub fn smooth(values: &[(u64, f64)], window: usize) -> Vec<(u64, f64)> {
    let w = window.max(1);
    let mut out = Vec::with_capacity(values.len());
    let mut sum = 0.0;
    for (i, &(s, v)) in values.iter().enumerate() {
        sum += v;
        if i >= w {
            sum -= values[i - w].1;
        }
        out.push((s, sum / (i + 1).min(w) as f64));
    }
    out
}

/// One line per series: `(name, [(step, loss)])`, log-scale y, smoothed.
pub fn loss_curves(series: &[(String, Vec<(u64, f64)>)], path: &Path) -> Result<(), TrainError> {
    let mut buf = vec![255u8; (W * H * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(path, e))?;
        let max_step = series
            .iter()
            .flat_map(|s| s.1.iter().map(|p| p.0))
            .max()
            .unwrap_or(1)
            .max(1);
        let vals = series
            .iter()
            .flat_map(|s| s.1.iter().map(|p| p.1))
            .filter(|v| v.is_finite() && *v > 0.0);
        let (lo, hi) = vals.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
        let (lo, hi) = if lo < hi {
            (lo * 0.9, hi * 1.1)
        } else {
            (0.01, 1.0)
        };
        let mut chart = ChartBuilder::on(&root)
            .caption("Training loss (moving average)", font(24.0))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(0u64..max_step, (lo..hi).log_scale())
            .map_err(|e| err(path, e))?;
        chart
            .configure_mesh()
            .x_desc("optimizer step")
            .y_desc("loss")
            .label_style(font(15.0))
            .axis_desc_style(font(17.0))
            .draw()
            .map_err(|e| err(path, e))?;
        for (i, (name, pts)) in series.iter().enumerate() {
            let c = PALETTE[i % PALETTE.len()];
            let w = (pts.len() / 50).max(1);
            chart
                .draw_series(LineSeries::new(smooth(pts, w), c.stroke_width(2)))
                .map_err(|e| err(path, e))?
                .label(name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3))
                });
        }
        chart
            .configure_series_labels()
            .label_font(font(16.0))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(path, e))?;
        root.present().map_err(|e| err(path, e))?;
    }
    save(buf, path)
}

/// Scatter of `(name, x, y)` with labels; a dashed horizontal line at `baseline` (chance).
pub fn scatter(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    points: &[(String, f64, f64)],
    baseline: Option<(f64, &str)>,
    path: &Path,
) -> Result<(), TrainError> {
    let mut buf = vec![255u8; (W * H * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(path, e))?;
        let (x0, x1) = points
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
        let pad = ((x1 - x0) * 0.25).max(x1.abs() * 0.05).max(1e-9);
        let y_max = points
            .iter()
            .map(|p| p.2)
            .fold(0.0f64, f64::max)
            .max(baseline.map_or(0.0, |b| b.0));
        let mut chart = ChartBuilder::on(&root)
            .caption(title, font(24.0))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d((x0 - pad)..(x1 + pad), 0.0..(y_max * 1.2).max(0.05))
            .map_err(|e| err(path, e))?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .label_style(font(15.0))
            .axis_desc_style(font(17.0))
            .draw()
            .map_err(|e| err(path, e))?;
        if let Some((b, label)) = baseline {
            let grey = RGBColor(120, 120, 120);
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(x0 - pad, b), (x1 + pad, b)],
                    8,
                    6,
                    grey.stroke_width(2),
                ))
                .map_err(|e| err(path, e))?;
            chart
                .draw_series(std::iter::once(Text::new(
                    label.to_string(),
                    (x0 - pad * 0.9, b),
                    font(14.0),
                )))
                .map_err(|e| err(path, e))?;
        }
        for (i, (name, x, y)) in points.iter().enumerate() {
            let c = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(std::iter::once(Circle::new((*x, *y), 7, c.filled())))
                .map_err(|e| err(path, e))?;
            chart
                .draw_series(std::iter::once(Text::new(
                    name.clone(),
                    (*x, *y),
                    font(14.0),
                )))
                .map_err(|e| err(path, e))?;
        }
        root.present().map_err(|e| err(path, e))?;
    }
    save(buf, path)
}

/// One line with markers per series `(name, [(x, y)])`; gaps (missing x) are not bridged
/// when `points` of a series are split into runs by the caller.
pub fn lines(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
    path: &Path,
) -> Result<(), TrainError> {
    let mut buf = vec![255u8; (W * H * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(path, e))?;
        let pts = || series.iter().flat_map(|s| s.1.iter().copied());
        let (x0, x1) = pts().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
        let (x0, x1) = if x0 <= x1 {
            (x0 - 0.5, x1 + 0.5)
        } else {
            (0.0, 1.0)
        };
        let y_max = pts()
            .map(|p| p.1)
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, font(24.0))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(x0..x1, 0.0..(y_max * 1.15).max(1e-3))
            .map_err(|e| err(path, e))?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .label_style(font(15.0))
            .axis_desc_style(font(17.0))
            .draw()
            .map_err(|e| err(path, e))?;
        for (i, (name, pts)) in series.iter().enumerate() {
            let c = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
                .map_err(|e| err(path, e))?
                .label(name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3))
                });
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 5, c.filled())))
                .map_err(|e| err(path, e))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .label_font(font(16.0))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(path, e))?;
        root.present().map_err(|e| err(path, e))?;
    }
    save(buf, path)
}

/// Horizontal bars `(name, value)`.
pub fn bars(
    title: &str,
    x_desc: &str,
    bars: &[(String, f64)],
    path: &Path,
) -> Result<(), TrainError> {
    let mut buf = vec![255u8; (W * H * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(path, e))?;
        let max = bars.iter().map(|b| b.1).fold(0.0f64, f64::max).max(1e-9);
        let n = bars.len().max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, font(24.0))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(16)
            .build_cartesian_2d(0.0..max * 1.15, 0.0..n as f64)
            .map_err(|e| err(path, e))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .disable_y_axis()
            .x_desc(x_desc)
            .label_style(font(15.0))
            .axis_desc_style(font(17.0))
            .draw()
            .map_err(|e| err(path, e))?;
        for (i, (name, v)) in bars.iter().enumerate() {
            let c = PALETTE[i % PALETTE.len()];
            let y = (n - 1 - i) as f64;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(0.0, y + 0.15), (*v, y + 0.85)],
                    c.filled(),
                )))
                .map_err(|e| err(path, e))?;
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("{name}  {v:.1}"),
                    (max * 0.01, y + 0.62),
                    font(15.0).color(&WHITE),
                )))
                .map_err(|e| err(path, e))?;
        }
        root.present().map_err(|e| err(path, e))?;
    }
    save(buf, path)
}

/// A heat map of `values[row][col]` (`None`: not run) with each cell's value written in it:
/// rows labelled `row_desc = row_labels[i]`, columns `col_desc = col_labels[j]`; `fmt`
/// formats a cell. Colour runs from light (lowest) to dark blue (highest).
#[allow(clippy::too_many_arguments)]
pub fn heatmap(
    title: &str,
    row_desc: &str,
    col_desc: &str,
    row_labels: &[String],
    col_labels: &[String],
    values: &[Vec<Option<f64>>],
    fmt: &dyn Fn(f64) -> String,
    path: &Path,
) -> Result<(), TrainError> {
    let (nr, nc) = (row_labels.len().max(1), col_labels.len().max(1));
    let known: Vec<f64> = values.iter().flatten().flatten().copied().collect();
    let lo = known.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = known.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let shade = |v: f64| {
        let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
        let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
        RGBColor(mix(222.0, 8.0), mix(235.0, 48.0), mix(247.0, 107.0))
    };
    let mut buf = vec![255u8; (W * H * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(path, e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, font(24.0))
            .margin(16)
            .x_label_area_size(56)
            .y_label_area_size(72)
            .build_cartesian_2d(0.0..nc as f64, 0.0..nr as f64)
            .map_err(|e| err(path, e))?;
        let label_at = |labels: &[String], v: f64| {
            let i = v.floor() as usize;
            if (v - i as f64 - 0.5).abs() < 1e-6 {
                labels.get(i).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(col_desc)
            .y_desc(row_desc)
            .x_labels(2 * nc + 1)
            .y_labels(2 * nr + 1)
            .x_label_formatter(&|v| label_at(col_labels, *v))
            .y_label_formatter(&|v| label_at(row_labels, *v))
            .label_style(font(16.0))
            .axis_desc_style(font(18.0))
            .draw()
            .map_err(|e| err(path, e))?;
        for (i, row) in values.iter().enumerate() {
            for (j, cell) in row.iter().enumerate() {
                let (x, y) = (j as f64, i as f64);
                let fill = cell.map_or(RGBColor(240, 240, 240), shade);
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x, y), (x + 1.0, y + 1.0)],
                        fill.filled(),
                    )))
                    .map_err(|e| err(path, e))?;
                let text = cell.map_or("not run".to_string(), fmt);
                let dark = cell.is_some_and(|v| hi > lo && (v - lo) / (hi - lo) > 0.55);
                let colour = if dark { WHITE } else { BLACK };
                chart
                    .draw_series(std::iter::once(Text::new(
                        text,
                        (x + 0.38, y + 0.55),
                        font(20.0).color(&colour),
                    )))
                    .map_err(|e| err(path, e))?;
            }
        }
        root.present().map_err(|e| err(path, e))?;
    }
    save(buf, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plots_are_written_as_png() {
        let dir = tempfile::tempdir().unwrap();
        let curve: Vec<(u64, f64)> = (1..=100).map(|s| (s, 1.0 / s as f64 + 0.05)).collect();
        loss_curves(
            &[("a".into(), curve.clone()), ("b".into(), curve)],
            &dir.path().join("l.png"),
        )
        .unwrap();
        scatter(
            "t",
            "x",
            "y",
            &[("a".into(), 1.0, 0.5), ("b".into(), 2.0, 0.7)],
            Some((0.1, "chance")),
            &dir.path().join("s.png"),
        )
        .unwrap();
        bars(
            "t",
            "img/s",
            &[("a".into(), 10.0), ("b".into(), 20.0)],
            &dir.path().join("b.png"),
        )
        .unwrap();
        heatmap(
            "t",
            "c",
            "v",
            &["0".into(), "1".into()],
            &["0".into(), "1".into(), "2".into()],
            &[
                vec![Some(0.1), Some(0.5), None],
                vec![Some(0.9), Some(0.2), Some(0.3)],
            ],
            &|v| format!("{v:.2}"),
            &dir.path().join("h.png"),
        )
        .unwrap();
        for f in ["l.png", "s.png", "b.png", "h.png"] {
            let img = image::open(dir.path().join(f)).unwrap().to_rgb8();
            assert_eq!(img.dimensions(), (W, H));
            // Something other than white was drawn.
            assert!(img.pixels().any(|p| p.0 != [255, 255, 255]));
        }
    }

    #[test]
    fn smoothing_is_a_trailing_mean() {
        let s = smooth(&[(1, 1.0), (2, 3.0), (3, 5.0)], 2);
        assert_eq!(s, vec![(1, 1.0), (2, 2.0), (3, 4.0)]);
    }
}
