//! The pictures of docs/benchmarks.md, drawn as SVG with plotters.

use std::path::Path;

use plotters::prelude::*;

/// One line of a chart: a label and its points.
pub(crate) struct Line {
    /// Legend text.
    pub(crate) label: String,
    /// (x, y) points.
    pub(crate) points: Vec<(f64, f64)>,
}

const COLORS: [RGBColor; 5] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
];

fn error(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("drawing a chart: {e}")
}

/// Lines over a logarithmic x axis (batch sizes, invocation counts), y from 0.
pub(crate) fn lines(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    lines: &[Line],
) -> anyhow::Result<()> {
    let xs = lines.iter().flat_map(|l| l.points.iter().map(|p| p.0));
    let (x_min, x_max) = xs.fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
    let y_max = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(0.0f64, f64::max)
        * 1.15;
    let root = SVGBackend::new(path, (760, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((x_min * 0.8..x_max * 1.25).log_scale(), 0.0..y_max.max(1.0))
        .map_err(error)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .map_err(error)?;
    for (index, line) in lines.iter().enumerate() {
        let color = COLORS[index % COLORS.len()];
        chart
            .draw_series(LineSeries::new(
                line.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(error)?
            .label(&line.label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(
                line.points
                    .iter()
                    .map(|&p| Circle::new(p, 4, color.filled())),
            )
            .map_err(error)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(error)?;
    root.present().map_err(error)?;
    Ok(())
}

/// Horizontal bars, one per label, with their values written beside them.
pub(crate) fn bars(
    path: &Path,
    title: &str,
    x_label: &str,
    bars: &[(String, f64)],
) -> anyhow::Result<()> {
    let x_max = bars.iter().map(|b| b.1).fold(0.0f64, f64::max) * 1.25;
    let count = bars.len();
    let height = u32::try_from(80 + 40 * count).unwrap_or(480);
    let root = SVGBackend::new(path, (760, height)).into_drawing_area();
    root.fill(&WHITE).map_err(error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(190)
        .build_cartesian_2d(0.0..x_max.max(1.0), 0.0..count as f64)
        .map_err(error)?;
    let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc(x_label)
        .y_labels(count * 2 + 1)
        .y_label_formatter(&|y| {
            let slot = y - 0.5;
            let index = slot.round();
            if (slot - index).abs() > 0.05 || index < 0.0 {
                return String::new();
            }
            // The bars are drawn top-down: bar 0 at the top.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let from_top = count.saturating_sub(1 + index as usize);
            labels.get(from_top).cloned().unwrap_or_default()
        })
        .draw()
        .map_err(error)?;
    for (index, (_, value)) in bars.iter().enumerate() {
        let y = (count - 1 - index) as f64;
        let color = COLORS[index % COLORS.len()];
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(0.0, y + 0.2), (*value, y + 0.8)],
                color.filled(),
            )))
            .map_err(error)?;
        chart
            .draw_series(std::iter::once(Text::new(
                format!("{value:.1}"),
                (*value + x_max * 0.01, y + 0.65),
                ("sans-serif", 14),
            )))
            .map_err(error)?;
    }
    root.present().map_err(error)?;
    Ok(())
}
