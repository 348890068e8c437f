//! The report's charts, as SVG files (plotters, SVG backend only): latency histograms on a log scale,
//! percentiles over time with the chaos events marked, horizontal bars for counts, lines per process.

use crate::stats::{Bucket, Window};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
#[error("drawing {path}: {message}")]
pub struct ChartError {
    path: String,
    message: String,
}

const SIZE: (u32, u32) = (900, 420);
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

type Drawn = Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// Draws into the SVG at `path`, turning plotters' errors into ours.
fn draw(path: &Path, paint: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Drawn) -> Result<(), ChartError> {
    let fail = |message: String| ChartError { path: path.display().to_string(), message };
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    paint(&root).map_err(|e| fail(e.to_string()))?;
    root.present().map_err(|e| fail(e.to_string()))
}

/// A chart builder with the title and the margins every chart here has.
fn builder<'a, 'b>(root: &'a DrawingArea<SVGBackend<'b>, Shift>, title: &str) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut builder = ChartBuilder::on(root);
    builder.caption(title, ("sans-serif", 20)).margin(12).x_label_area_size(40).y_label_area_size(60);
    builder
}

/// A histogram of log-spaced `buckets` (milliseconds).
pub fn histogram(path: &Path, title: &str, buckets: &[Bucket]) -> Result<(), ChartError> {
    let (Some(first), Some(last)) = (buckets.first(), buckets.last()) else { return empty(path, title) };
    let top = buckets.iter().map(|b| b.count).max().unwrap_or(1).max(1) as f64 * 1.1;
    draw(path, |root| {
        let mut chart = builder(root, title).build_cartesian_2d((first.low..last.high).log_scale(), 0.0..top)?;
        chart.configure_mesh().x_desc("milliseconds (log scale)").y_desc("samples").draw()?;
        chart.draw_series(
            buckets
                .iter()
                .map(|b| Rectangle::new([(b.low, 0.0), (b.high, b.count as f64)], color(0).mix(0.8).filled())),
        )?;
        Ok(())
    })
}

/// p50, p95 and p99 per window over the run (log scale), with the chaos events as labelled vertical lines.
pub fn over_time(path: &Path, title: &str, windows: &[Window], events: &[(f64, String)]) -> Result<(), ChartError> {
    if windows.is_empty() {
        return empty(path, title);
    }
    let end = windows.iter().map(|w| w.start).fold(0.0, f64::max) + 10.0;
    let end = events.iter().map(|(at, _)| *at + 5.0).fold(end, f64::max);
    let floor = 0.01;
    let high = windows.iter().map(|w| w.p99).fold(1.0, f64::max) * 2.0;
    draw(path, |root| {
        let mut chart = builder(root, title).build_cartesian_2d(0.0..end, (floor..high).log_scale())?;
        chart.configure_mesh().x_desc("seconds since the start").y_desc("milliseconds (log scale)").draw()?;
        let column = |pick: fn(&Window) -> f64| windows.iter().map(pick).collect::<Vec<f64>>();
        let percentiles = [("p50", column(|w| w.p50)), ("p95", column(|w| w.p95)), ("p99", column(|w| w.p99))];
        for (i, (name, values)) in percentiles.into_iter().enumerate() {
            let points = windows.iter().zip(values).map(|(w, value)| (w.start, value.max(floor)));
            chart
                .draw_series(LineSeries::new(points, color(i).stroke_width(2)))?
                .label(name)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color(i).stroke_width(2)));
        }
        mark_events(&mut chart, events, floor, high)?;
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
        Ok(())
    })
}

/// Each point is one sample (seconds since the start, milliseconds), one colour per kind, chaos marked.
pub fn scatter(
    path: &Path,
    title: &str,
    kinds: &BTreeMap<String, Vec<(f64, f64)>>,
    events: &[(f64, String)],
) -> Result<(), ChartError> {
    let all = || kinds.values().flatten();
    if all().next().is_none() {
        return empty(path, title);
    }
    let end = all().map(|p| p.0).chain(events.iter().map(|(at, _)| *at)).fold(0.0, f64::max) + 5.0;
    let floor = 1.0;
    let high = all().map(|p| p.1).fold(10.0, f64::max) * 2.0;
    draw(path, |root| {
        let mut chart = builder(root, title).build_cartesian_2d(0.0..end, (floor..high).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("seconds since the start (when the link was lost)")
            .y_desc("milliseconds (log scale)")
            .draw()?;
        for (i, (kind, points)) in kinds.iter().enumerate() {
            chart
                .draw_series(points.iter().map(|(x, y)| Circle::new((*x, y.max(floor)), 2, color(i).filled())))?
                .label(kind.as_str())
                .legend(move |(x, y)| Circle::new((x + 8, y), 3, color(i).filled()));
        }
        mark_events(&mut chart, events, floor, high)?;
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
        Ok(())
    })
}

fn mark_events<DB: DrawingBackend, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
    events: &[(f64, String)],
    low: f64,
    high: f64,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    for (at, name) in events {
        chart.draw_series(std::iter::once(PathElement::new([(*at, low), (*at, high)], BLACK.mix(0.5))))?;
        chart.draw_series(std::iter::once(Text::new(name.clone(), (*at, high / 1.5), ("sans-serif", 12))))?;
    }
    Ok(())
}

/// One horizontal bar per label.
pub fn bars(path: &Path, title: &str, bars: &[(String, f64)]) -> Result<(), ChartError> {
    if bars.is_empty() {
        return empty(path, title);
    }
    let top = bars.iter().map(|(_, v)| *v).fold(1.0, f64::max) * 1.15;
    let count = bars.len();
    draw(path, |root| {
        let mut chart = builder(root, title).y_label_area_size(260).build_cartesian_2d(0.0..top, 0.0..count as f64)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(count * 2 + 1)
            .y_label_formatter(&|y| {
                let slot = *y - 0.5;
                let index = slot.round();
                if (slot - index).abs() < 1e-6 && index >= 0.0 && (index as usize) < count {
                    bars[count - 1 - index as usize].0.clone()
                } else {
                    String::new()
                }
            })
            .draw()?;
        chart.draw_series(bars.iter().enumerate().map(|(i, (_, value))| {
            let y = (count - 1 - i) as f64;
            Rectangle::new([(0.0, y + 0.15), (*value, y + 0.85)], color(i).mix(0.8).filled())
        }))?;
        chart.draw_series(bars.iter().enumerate().map(|(i, (_, value))| {
            let y = (count - 1 - i) as f64 + 0.35;
            Text::new(format!("{value}"), (*value + top * 0.01, y), ("sans-serif", 12))
        }))?;
        Ok(())
    })
}

/// One line per series over the run.
pub fn lines(
    path: &Path,
    title: &str,
    y_label: &str,
    series: &BTreeMap<String, Vec<(f64, f64)>>,
) -> Result<(), ChartError> {
    let all = || series.values().flatten();
    if all().next().is_none() {
        return empty(path, title);
    }
    let end = all().map(|p| p.0).fold(1.0, f64::max);
    let high = all().map(|p| p.1).fold(1.0, f64::max) * 1.1;
    draw(path, |root| {
        let mut chart = builder(root, title).build_cartesian_2d(0.0..end, 0.0..high)?;
        chart.configure_mesh().x_desc("seconds since the start").y_desc(y_label).draw()?;
        for (i, (name, points)) in series.iter().enumerate() {
            chart
                .draw_series(LineSeries::new(points.iter().copied(), color(i).stroke_width(2)))?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color(i).stroke_width(2)));
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
        Ok(())
    })
}

/// A chart that says there was nothing to draw.
fn empty(path: &Path, title: &str) -> Result<(), ChartError> {
    draw(path, |root| {
        root.draw(&Text::new(format!("{title}: no samples"), (20, 40), ("sans-serif", 20)))?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_files_with_their_titles_and_labels() {
        let dir = std::env::temp_dir().join(format!("tradesim-charts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let buckets = [Bucket { low: 1.0, high: 2.0, count: 5 }, Bucket { low: 2.0, high: 4.0, count: 2 }];
        histogram(&dir.join("h.svg"), "round trip", &buckets).unwrap();
        let windows = [Window { start: 0.0, count: 3, p50: 1.0, p95: 2.0, p99: 3.0 }];
        over_time(&dir.join("t.svg"), "over time", &windows, &[(2.0, "kill".into())]).unwrap();
        bars(&dir.join("b.svg"), "errors", &[("http_503_unavailable".into(), 4.0)]).unwrap();
        let series = BTreeMap::from([("host a".to_owned(), vec![(0.0, 1.0), (1.0, 2.0)])]);
        lines(&dir.join("l.svg"), "cpu", "%", &series).unwrap();
        scatter(&dir.join("s.svg"), "reconnects", &series, &[]).unwrap();
        lines(&dir.join("e.svg"), "nothing", "%", &BTreeMap::new()).unwrap();
        for (file, text) in [
            ("h.svg", "round trip"),
            ("t.svg", "kill"),
            ("b.svg", "http_503_unavailable"),
            ("l.svg", "host a"),
            ("s.svg", "reconnects"),
            ("e.svg", "no samples"),
        ] {
            let svg = std::fs::read_to_string(dir.join(file)).unwrap();
            assert!(svg.starts_with("<svg") && svg.contains(text), "{file} lacks {text:?}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
