//! The benchmark's latency-throughput plot, drawn as SVG with `plotters`.

use std::path::Path;

use anyhow::{Context, Result, bail};
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

/// One end-to-end run of the curve.
pub(crate) struct Point {
    pub(crate) batch: usize,
    pub(crate) timeout_ms: f64,
    pub(crate) per_s: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
}

/// Fonts `plotters` may lay text out with (ab_glyph needs the bytes of one).
const FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

/// p50 and p99 latency against results per second, one line per batch size through its
/// force timeouts.
pub(crate) fn latency_throughput(points: &[Point], path: &Path) -> Result<()> {
    let Some(font) = FONTS.iter().find_map(|p| std::fs::read(p).ok()) else {
        bail!("no DejaVuSans.ttf in {FONTS:?} (Debian: fonts-dejavu-core)");
    };
    let font: &'static [u8] = Box::leak(font.into_boxed_slice());
    register_font("sans-serif", FontStyle::Normal, font)
        .map_err(|_| anyhow::anyhow!("the font would not load"))?;
    let x_max = points.iter().map(|p| p.per_s).fold(1.0, f64::max) * 1.15;
    let y_max = points.iter().map(|p| p.p99_ms).fold(100.0, f64::max) * 1.15;
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).context("drawing")?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Latency against throughput, 4 cameras, CPU (batch size × force timeout)",
            ("sans-serif", 20),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .context("drawing")?;
    chart
        .configure_mesh()
        .x_desc("results per second (all cameras)")
        .y_desc("arrival → result latency, ms")
        .draw()
        .context("drawing")?;
    let mut batches: Vec<usize> = points.iter().map(|p| p.batch).collect();
    batches.sort_unstable();
    batches.dedup();
    for (i, b) in batches.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let mut series: Vec<&Point> = points.iter().filter(|p| p.batch == *b).collect();
        series.sort_by(|a, b| a.timeout_ms.total_cmp(&b.timeout_ms));
        let p99: Vec<(f64, f64)> = series.iter().map(|p| (p.per_s, p.p99_ms)).collect();
        let p50: Vec<(f64, f64)> = series.iter().map(|p| (p.per_s, p.p50_ms)).collect();
        chart
            .draw_series(LineSeries::new(p99.clone(), color.stroke_width(2)))
            .context("drawing")?
            .label(format!("batch {b}: p99 (filled), p50 (open)"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
        chart
            .draw_series(
                p99.iter()
                    .map(|&(x, y)| Circle::new((x, y), 4, color.filled())),
            )
            .context("drawing")?;
        chart
            .draw_series(LineSeries::new(p50.clone(), color.stroke_width(1)))
            .context("drawing")?;
        chart
            .draw_series(p50.iter().map(|&(x, y)| Circle::new((x, y), 4, color)))
            .context("drawing")?;
        for p in series {
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("{:.0} ms", p.timeout_ms),
                    (p.per_s, p.p99_ms),
                    ("sans-serif", 12),
                )))
                .context("drawing")?;
        }
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .context("drawing")?;
    root.present().context("writing the SVG")?;
    Ok(())
}
