//! `--svg FILE`: a bar chart of speed-ups over serial code, drawn with
//! plotters.
//!
//! One horizontal bar per workload and contender, all on one axis where
//! higher is better: the contender's speed-up over serial code (the median
//! of per-round ratios; per frame for the frame-pattern rows). Bars are
//! coloured by contender; a black tick marks a speed-up target; a dashed
//! line marks the core-count limit (the most any contender can reach with
//! this many actors on this many CPUs). The round trip (no serial
//! counterpart) and the master-side figures stay in the table.

use std::path::Path;

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::contenders::Contender;
use super::error::BenchError;
use super::report::{Report, WorkloadReport};
use crate::stats::median_ratio;

const RAYON: RGBColor = RGBColor(230, 140, 50);
const WEAVEKIT: RGBColor = RGBColor(46, 110, 170);
const STATIC: RGBColor = RGBColor(150, 150, 150);

/// One bar: a contender's speed-up over serial code on one row.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// `"sweep: weavekit"` and the like.
    pub label: String,
    /// Who.
    pub contender: Contender,
    /// Speed-up over serial code (`None`: not measured).
    pub speedup: Option<f64>,
    /// The speed-up target, if there is one.
    pub target: Option<f64>,
}

/// The bars of `report`, top to bottom.
pub fn bars(report: &Report) -> Vec<Bar> {
    let mut out = Vec::new();
    let target = |name: String| {
        report
            .checks
            .iter()
            .find(|c| c.name == name && c.unit == "x")
            .map(|c| c.target)
    };
    for w in &report.workloads {
        for contender in [
            Contender::Rayon,
            Contender::Weavekit,
            Contender::StaticSplit,
        ] {
            let Some(speedup) = workload_speedup(w, contender) else {
                continue;
            };
            let is_weavekit = contender == Contender::Weavekit;
            out.push(Bar {
                label: format!("{}: {}", w.name, contender.name()),
                contender,
                speedup,
                target: is_weavekit
                    .then(|| target(format!("{} serial/weavekit", w.name)))
                    .flatten(),
            });
        }
    }
    for f in &report.frames {
        for contender in [Contender::Rayon, Contender::Weavekit] {
            let is_weavekit = contender == Contender::Weavekit;
            out.push(Bar {
                label: format!("frame {}: {}", f.name, contender.name()),
                contender,
                speedup: f.speedup_of(contender),
                target: is_weavekit
                    .then(|| target(format!("{} serial/weavekit", f.name)))
                    .flatten(),
            });
        }
    }
    if let Some(row) = &report.async_pool {
        // spawn_blocking runs the items serially: it is this row's serial.
        let samples = |name: &str| {
            let found = row.samples_ns.iter().find(|(n, _)| *n == name);
            found.map_or(&[][..], |(_, s)| s.as_slice())
        };
        for contender in [Contender::Rayon, Contender::Weavekit] {
            out.push(Bar {
                label: format!("async await: {} (x spawn_blocking)", contender.name()),
                contender,
                speedup: median_ratio(samples("spawn_blocking"), samples(contender.name())),
                target: None,
            });
        }
    }
    out
}

/// `Some(speed-up)` if `contender` ran `w` and serial code did too.
fn workload_speedup(w: &WorkloadReport, contender: Contender) -> Option<Option<f64>> {
    let samples = |c: Contender| {
        w.contenders
            .iter()
            .find(|r| r.name == c.name())
            .map(|r| r.samples_ns.as_slice())
    };
    let serial = samples(Contender::Serial)?;
    let theirs = samples(contender)?;
    Some(median_ratio(serial, theirs))
}

/// Draws the speed-ups of `report` into an SVG file at `path`.
pub fn write_svg(report: &Report, path: &Path) -> Result<(), BenchError> {
    let bars = bars(report);
    let height = 140 + 30 * bars.len() as u32;
    let root = SVGBackend::new(path, (900, height)).into_drawing_area();
    draw(&root, report, &bars).map_err(|e| BenchError::output(path, e))?;
    root.present().map_err(|e| BenchError::output(path, e))
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type DrawResult = Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// The most any contender can gain over serial code here.
fn core_limit(report: &Report) -> f64 {
    let m = &report.machine;
    m.actors.min(m.available_parallelism).max(1) as f64
}

fn draw(root: &Area<'_>, report: &Report, bars: &[Bar]) -> DrawResult {
    root.fill(&WHITE)?;
    let limit = core_limit(report);
    let x_max = bars
        .iter()
        .flat_map(|b| [b.speedup.unwrap_or(0.0), b.target.unwrap_or(0.0)])
        .fold(limit, f64::max)
        * 1.35;
    let caption = format!(
        "weave bench: speed-up over serial code, higher is better ({} actors, {} CPUs, {} run)",
        report.machine.actors, report.machine.available_parallelism, report.mode
    );
    let last = bars.len().saturating_sub(1);
    let mut chart = ChartBuilder::on(root)
        .caption(caption, ("sans-serif", 17))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(230)
        .build_cartesian_2d(0.0..x_max, (0..last).into_segmented())?;
    let label = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(row) => bars
            .get(last - row)
            .map_or(String::new(), |b| b.label.clone()),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(bars.len().max(1))
        .y_label_formatter(&label)
        .x_desc("speed-up over serial code (x), higher is better")
        .draw()?;
    // The first bar is drawn on the top row.
    let placed = || bars.iter().enumerate().map(|(i, b)| (last - i, b));
    chart.draw_series(placed().map(|(row, b)| bar(row, b)))?;
    chart.draw_series(placed().filter_map(|(row, b)| b.target.map(|t| target_tick(row, t))))?;
    chart.draw_series(placed().map(|(row, b)| value_text(row, b)))?;
    // The core-count limit, dashed, across every row.
    let top = SegmentValue::Exact(last + 1);
    chart.draw_series(DashedLineSeries::new(
        [(limit, SegmentValue::Exact(0)), (limit, top.clone())],
        6,
        4,
        BLACK.stroke_width(1),
    ))?;
    let style =
        TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Left, VPos::Top));
    chart.draw_series(std::iter::once(Text::new(
        format!(" core-count limit {limit:.0}x"),
        (limit, top),
        style,
    )))?;
    Ok(())
}

fn colour(contender: Contender) -> RGBColor {
    match contender {
        Contender::Rayon => RAYON,
        Contender::StaticSplit | Contender::Serial => STATIC,
        Contender::Weavekit => WEAVEKIT,
    }
}

fn bar(i: usize, b: &Bar) -> Rectangle<(f64, SegmentValue<usize>)> {
    let end = b.speedup.unwrap_or(0.0);
    let mut rect = Rectangle::new(
        [
            (0.0, SegmentValue::Exact(i)),
            (end, SegmentValue::Exact(i + 1)),
        ],
        colour(b.contender).filled(),
    );
    rect.set_margin(4, 4, 0, 0);
    rect
}

fn target_tick(i: usize, target: f64) -> PathElement<(f64, SegmentValue<usize>)> {
    let points = vec![
        (target, SegmentValue::Exact(i)),
        (target, SegmentValue::Exact(i + 1)),
    ];
    PathElement::new(points, BLACK.stroke_width(3))
}

fn value_text(i: usize, b: &Bar) -> Text<'static, (f64, SegmentValue<usize>), String> {
    let text = match (b.speedup, b.target) {
        (Some(v), Some(t)) => format!(" {v:.2}x (target >= {t:.2}x)"),
        (Some(v), None) => format!(" {v:.2}x"),
        (None, _) => " not measured".to_string(),
    };
    // Right of both the bar and the tick, so neither hides the text.
    let at = (
        b.speedup.unwrap_or(0.0).max(b.target.unwrap_or(0.0)),
        SegmentValue::CenterOf(i),
    );
    let style =
        TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    Text::new(text, at, style)
}

#[cfg(test)]
mod tests {
    use super::super::contenders::{Allocations, Workload};
    use super::super::frames::{FrameSamples, Pattern};
    use super::super::report::Machine;
    use super::super::runner::{Measurements, Plan, WorkloadSamples};
    use super::*;

    fn report() -> Report {
        use Contender::*;
        let measurements = Measurements {
            workloads: vec![WorkloadSamples {
                workload: Workload::Uneven,
                samples: vec![
                    (Serial, vec![60.0; 3]),
                    (Rayon, vec![30.0; 3]),
                    (Weavekit, vec![30.0; 3]),
                    (StaticSplit, vec![45.0; 3]),
                ],
            }],
            blocked_ns: vec![1000.0],
            blocked_awake_ns: vec![],
            wake_floor_ns: vec![],
            allocations: Allocations {
                counted: false,
                dispatches: 0,
                tracked_per_dispatch: None,
                detached_per_dispatch: None,
                rayon_per_install: None,
                reused_per_dispatch: None,
                future_per_dispatch: None,
            },
            frames: vec![(
                Pattern::BusyThenDispatch(17),
                FrameSamples {
                    times: [vec![20.0; 3], vec![16.0; 3], vec![10.0; 3]],
                    held: vec![1.0; 3],
                },
            )],
            idle_cpu_ns: None,
            async_pool: Some(super::super::async_pool::AsyncSamples {
                times: [vec![10.0; 3], vec![40.0; 3], vec![20.0; 3]],
                asleep: [vec![10.0], vec![40.0], vec![20.0]],
            }),
            typed_key: None,
        };
        Report::new(Machine::this(2), "short", Plan::short(), &measurements)
    }

    #[test]
    fn every_bar_is_a_speedup_over_serial() {
        let bars = bars(&report());
        let found = |label: &str| bars.iter().find(|b| b.label == label).unwrap();
        assert_eq!(found("uneven: rayon").speedup, Some(2.0));
        assert_eq!(found("uneven: weavekit").speedup, Some(2.0));
        let wk = found("async await: weavekit (x spawn_blocking)");
        assert_eq!((wk.speedup, wk.target), (Some(4.0), None));
        let rayon = found("async await: rayon (x spawn_blocking)");
        assert_eq!(rayon.speedup, Some(2.0));
        assert_eq!(found("uneven: static").speedup, Some(60.0 / 45.0));
        assert_eq!(found("frame busy_17ms: rayon").speedup, Some(1.25));
        let busy = found("frame busy_17ms: weavekit");
        assert_eq!((busy.speedup, busy.target), (Some(2.0), Some(1.8)));
        assert_eq!(bars.len(), 7);
    }

    #[test]
    fn writes_an_svg_with_the_core_limit() {
        let path =
            std::env::temp_dir().join(format!("weave-bench-chart-{}.svg", std::process::id()));
        write_svg(&report(), &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).ok();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("frame busy_17ms: weavekit"));
        assert!(svg.contains("core-count limit"));
        assert!(svg.contains("higher is better"));
    }
}
