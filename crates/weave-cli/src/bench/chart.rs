//! `--svg FILE`: a bar chart of the ratio targets, drawn with plotters.
//!
//! One horizontal bar per ratio (green when its target is met, red when
//! missed), a black tick at the target, the value written at the bar's end.
//! Horizontal bars leave room for readable labels like
//! `uneven static/weavekit`.

use std::path::Path;

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::error::BenchError;
use super::report::{Check, Comparison, Report};

const MET: RGBColor = RGBColor(46, 139, 87);
const MISSED: RGBColor = RGBColor(200, 60, 60);
const UNMEASURED: RGBColor = RGBColor(160, 160, 160);

/// Draws the ratio checks of `report` into an SVG file at `path`.
pub fn write_svg(report: &Report, path: &Path) -> Result<(), BenchError> {
    let bars: Vec<&Check> = report.checks.iter().filter(|c| c.unit == "x").collect();
    let height = 120 + 50 * bars.len() as u32;
    let root = SVGBackend::new(path, (900, height)).into_drawing_area();
    draw(&root, report, &bars).map_err(|e| BenchError::output(path, e))?;
    root.present().map_err(|e| BenchError::output(path, e))
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type DrawResult = Result<(), DrawingAreaErrorKind<std::io::Error>>;

fn draw(root: &Area<'_>, report: &Report, bars: &[&Check]) -> DrawResult {
    root.fill(&WHITE)?;
    let x_max = bars
        .iter()
        .flat_map(|c| [c.value.unwrap_or(0.0), c.target])
        .fold(1.0f64, f64::max)
        * 1.5;
    let caption = format!(
        "weave bench: ratios of times, targets as black ticks ({} actors, {} run)",
        report.machine.actors, report.mode
    );
    let mut chart = ChartBuilder::on(root)
        .caption(caption, ("sans-serif", 18))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(200)
        .build_cartesian_2d(0.0..x_max, (0..rows(bars)).into_segmented())?;
    let label = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(row) => bars
            .get(rows(bars) - row)
            .map_or(String::new(), |c| c.name.clone()),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(bars.len().max(1))
        .y_label_formatter(&label)
        .x_desc("ratio (x)")
        .draw()?;
    // The first check is drawn on the top row.
    let placed = || bars.iter().enumerate().map(|(i, c)| (rows(bars) - i, *c));
    chart.draw_series(placed().map(|(row, c)| bar(row, c)))?;
    chart.draw_series(placed().map(|(row, c)| target_tick(row, c)))?;
    chart.draw_series(placed().map(|(row, c)| value_text(row, c)))?;
    Ok(())
}

/// The last row index: plotters' segmented `0..last` has `last + 1` rows.
fn rows(bars: &[&Check]) -> usize {
    bars.len().saturating_sub(1)
}

fn bar(i: usize, check: &Check) -> Rectangle<(f64, SegmentValue<usize>)> {
    let colour = match check.met {
        Some(true) => MET,
        Some(false) => MISSED,
        None => UNMEASURED,
    };
    let end = check.value.unwrap_or(0.0);
    let mut rect = Rectangle::new(
        [
            (0.0, SegmentValue::Exact(i)),
            (end, SegmentValue::Exact(i + 1)),
        ],
        colour.filled(),
    );
    rect.set_margin(8, 8, 0, 0);
    rect
}

fn target_tick(i: usize, check: &Check) -> PathElement<(f64, SegmentValue<usize>)> {
    let points = vec![
        (check.target, SegmentValue::Exact(i)),
        (check.target, SegmentValue::Exact(i + 1)),
    ];
    PathElement::new(points, BLACK.stroke_width(3))
}

fn value_text(i: usize, check: &Check) -> Text<'static, (f64, SegmentValue<usize>), String> {
    let rule = match check.comparison {
        Comparison::AtMost => "<=",
        Comparison::AtLeast => ">=",
    };
    let text = match check.value {
        Some(v) => format!(" {v:.2}x (target {rule} {:.2}x)", check.target),
        None => " not measured".to_string(),
    };
    // Right of both the bar and the tick, so neither hides the text.
    let at = (
        check.value.unwrap_or(0.0).max(check.target),
        SegmentValue::CenterOf(i),
    );
    let style =
        TextStyle::from(("sans-serif", 14).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    Text::new(text, at, style)
}

#[cfg(test)]
mod tests {
    use super::super::contenders::Allocations;
    use super::super::report::Machine;
    use super::super::runner::{Measurements, Plan};
    use super::*;

    #[test]
    fn writes_an_svg_with_a_bar_per_ratio_target() {
        let measurements = Measurements {
            workloads: Vec::new(),
            blocked_ns: vec![1000.0],
            blocked_awake_ns: vec![],
            allocations: Allocations {
                counted: false,
                dispatches: 0,
                tracked_per_dispatch: None,
                detached_per_dispatch: None,
                rayon_per_install: None,
            },
            frames: Vec::new(),
        };
        let report = Report::new(Machine::this(2), "short", Plan::short(), &measurements);
        let path =
            std::env::temp_dir().join(format!("weave-bench-chart-{}.svg", std::process::id()));
        write_svg(&report, &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).ok();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("sweep weavekit/rayon"));
        assert!(svg.contains("not measured"));
    }
}
