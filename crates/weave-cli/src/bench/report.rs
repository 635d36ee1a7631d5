//! The report of a run: medians, ratios, the targets of issue 3, the table
//! printed on stdout and the JSON written by `--json`.
//!
//! Ratios are medians of per-round ratios (see [`crate::stats`]); times are
//! medians over rounds. Both are in the JSON, with the raw samples, so
//! anyone can recompute them.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::async_pool::{AsyncPoolReport, CONTENDERS};
use super::contenders::{Allocations, Contender, Workload};
use super::error::BenchError;
use super::frames::{FrameReport, Pattern};
use super::runner::{Measurements, Plan, WorkloadSamples};
use super::typed_key::TypedKeyReport;
use crate::stats::{median, median_ratio, quantile};
use crate::workloads::kernels::static_split_bound;
use crate::workloads::Sizes;

/// Version of the JSON layout.
pub const SCHEMA: u32 = 1;

/// Whether a value must stay at most or at least at its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Comparison {
    /// `value <= target`.
    #[serde(rename = "<=")]
    AtMost,
    /// `value >= target`.
    #[serde(rename = ">=")]
    AtLeast,
}

impl Comparison {
    /// `<=` or `>=`.
    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::AtMost => "<=",
            Comparison::AtLeast => ">=",
        }
    }

    /// Whether `value` meets `target`.
    pub fn holds(self, value: f64, target: f64) -> bool {
        match self {
            Comparison::AtMost => value <= target,
            Comparison::AtLeast => value >= target,
        }
    }
}

/// The ratio targets of issue 3: (workload, numerator, denominator, comparison, target).
const RATIO_TARGETS: [(Workload, Contender, Contender, Comparison, f64); 6] = [
    (
        Workload::Sweep,
        Contender::Weavekit,
        Contender::Rayon,
        Comparison::AtMost,
        1.0,
    ),
    (
        Workload::Sweep,
        Contender::Serial,
        Contender::Weavekit,
        Comparison::AtLeast,
        1.9,
    ),
    (
        Workload::Fine,
        Contender::Weavekit,
        Contender::Rayon,
        Comparison::AtMost,
        1.0,
    ),
    (
        Workload::Uneven,
        Contender::Weavekit,
        Contender::Rayon,
        Comparison::AtMost,
        1.0,
    ),
    (
        Workload::Uneven,
        Contender::StaticSplit,
        Contender::Weavekit,
        Comparison::AtLeast,
        1.5,
    ),
    (
        Workload::RoundTrip,
        Contender::Weavekit,
        Contender::Rayon,
        Comparison::AtMost,
        0.7,
    ),
];
/// Target: the median time `dispatch` of a 1M-item job holds the master
/// with the actors asleep, above the median wake-up floor (one wake of a
/// thread asleep on another CPU, see [`super::wake_floor`]), in µs. Issue 3
/// set 2 µs for the whole dispatch; the wake it must make costs more than
/// that on its own on some machines (18 µs median on the 2-vCPU KVM guest
/// of 2026-12-03), so the target counts what weavekit adds to it.
const BLOCKED_TARGET_US: f64 = 2.0;
/// Target of issue 7: speed-up over serial of busy-then-dispatch frames.
const FRAME_SPEEDUP_TARGET: f64 = 1.8;
/// Target of issue 7: median time `dispatch` holds the master in a frame, µs.
const FRAME_HELD_TARGET_US: f64 = 50.0;
/// Target: CPU the idle process uses, in ms per idle second (1% of a core).
const IDLE_CPU_TARGET_MS_PER_S: f64 = 10.0;
/// Target: allocations per tracked dispatch.
const TRACKED_ALLOCS_TARGET: f64 = 2.0;
/// Target: allocations per detached dispatch.
const DETACHED_ALLOCS_TARGET: f64 = 1.0;

/// The machine and settings of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Machine {
    /// Actors (and rayon threads).
    pub actors: usize,
    /// `std::thread::available_parallelism`.
    pub available_parallelism: usize,
    /// `std::env::consts::OS`.
    pub os: &'static str,
    /// `std::env::consts::ARCH`.
    pub arch: &'static str,
    /// 1, 5 and 15-minute load averages before the run (Linux only): on a
    /// shared machine, a load near the core count means the parallel
    /// contenders had less than the whole machine.
    pub load_average: Option<String>,
}

impl Machine {
    /// This machine, running `actors` actors.
    pub fn this(actors: usize) -> Machine {
        Machine {
            actors,
            available_parallelism: std::thread::available_parallelism().map_or(1, |n| n.get()),
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
            load_average: load_average(),
        }
    }
}

/// The first three fields of `/proc/loadavg`, if there is one.
fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(
        text.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// One contender's times on one workload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContenderReport {
    /// [`Contender::name`].
    pub name: &'static str,
    /// Median time per job, ns.
    pub median_ns: Option<f64>,
    /// Fastest sample, ns.
    pub min_ns: Option<f64>,
    /// Every recorded sample in round order, ns.
    pub samples_ns: Vec<f64>,
}

/// A ratio of two contenders' times on one workload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RatioReport {
    /// `"weavekit/rayon"` and the like.
    pub name: String,
    /// Median over rounds of the per-round ratio.
    pub value: Option<f64>,
}

/// One workload's results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkloadReport {
    /// [`Workload::name`].
    pub name: &'static str,
    /// Items per job.
    pub items: usize,
    /// Per contender.
    pub contenders: Vec<ContenderReport>,
    /// The ratios of [`Workload::ratios`].
    pub ratios: Vec<RatioReport>,
}

/// How long `dispatch` of a large job held the master.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlockedReport {
    /// Items of the dispatched job.
    pub items: usize,
    /// Median with the actors still awake from a previous job (the
    /// dispatcher's own cost, without waking a sleeping thread), ns.
    pub awake_median_ns: Option<f64>,
    /// The awake samples, ns.
    pub awake_samples_ns: Vec<f64>,
    /// Median with the actors asleep (the target's measure), ns.
    pub median_ns: Option<f64>,
    /// 90th percentile, ns.
    pub p90_ns: Option<f64>,
    /// Largest sample, ns.
    pub max_ns: Option<f64>,
    /// Every sample, ns.
    pub samples_ns: Vec<f64>,
    /// Median of the wake-up floor in the same rounds, ns (`None`: not
    /// measurable here).
    pub wake_floor_median_ns: Option<f64>,
    /// The floor's samples, ns.
    pub wake_floor_samples_ns: Vec<f64>,
}

impl BlockedReport {
    /// The asleep median above the floor's median, ns (negative when the
    /// dispatch, which wakes through its own sleep slot, beats the bare
    /// `unpark`).
    pub fn above_floor_ns(&self) -> Option<f64> {
        Some(self.median_ns? - self.wake_floor_median_ns?)
    }
}

/// A target of issue 3 and whether this run met it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// What is measured, e.g. `"sweep weavekit/rayon"`.
    pub name: String,
    /// The measured value (`None`: not measured).
    pub value: Option<f64>,
    /// `"x"`, `"us"` or `"allocs"`.
    pub unit: &'static str,
    /// How the value compares with the target.
    pub comparison: Comparison,
    /// The target.
    pub target: f64,
    /// Whether the target is met (`None`: not measured).
    pub met: Option<bool>,
}

impl Check {
    fn new(
        name: String,
        value: Option<f64>,
        unit: &'static str,
        comparison: Comparison,
        target: f64,
    ) -> Check {
        let met = value.map(|v| comparison.holds(v, target));
        Check {
            name,
            value,
            unit,
            comparison,
            target,
            met,
        }
    }
}

/// Everything `weave bench` reports; serialised as the `--json` file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: u32,
    /// The machine.
    pub machine: Machine,
    /// `"short"` or `"full"`.
    pub mode: &'static str,
    /// What was measured.
    pub plan: Plan,
    /// Per workload.
    pub workloads: Vec<WorkloadReport>,
    /// Master blocked by `dispatch`.
    pub master_blocked: BlockedReport,
    /// Allocations per dispatch.
    pub allocations: Allocations,
    /// The frame pattern (issue 7), per pattern.
    pub frames: Vec<FrameReport>,
    /// CPU time the whole process used per second of idleness (nothing
    /// dispatched), ms.
    pub idle_cpu_ms_per_s: Option<f64>,
    /// The async-pool row (issue 9), if measured.
    pub async_pool: Option<AsyncPoolReport>,
    /// Typed key against string dispatch (issue 9), if measured.
    pub typed_key: Option<TypedKeyReport>,
    /// The targets.
    pub checks: Vec<Check>,
    /// The best `uneven static/weavekit` any scheduler can reach here
    /// (perfect balance, zero overhead, a core per actor): its target is
    /// only reachable if this bound is above it.
    pub uneven_static_bound: f64,
    /// Reasons to distrust this run (e.g. a busy machine); empty if none.
    pub warnings: Vec<String>,
}

impl Report {
    /// Summarises `measurements`.
    pub fn new(
        machine: Machine,
        mode: &'static str,
        plan: Plan,
        measurements: &Measurements,
    ) -> Report {
        let workloads: Vec<_> = measurements
            .workloads
            .iter()
            .map(|w| workload_report(w, &plan.sizes))
            .collect();
        let blocked = &measurements.blocked_ns;
        let master_blocked = BlockedReport {
            items: plan.sizes.blocked,
            median_ns: median(blocked),
            p90_ns: quantile(blocked, 0.9),
            max_ns: quantile(blocked, 1.0),
            samples_ns: blocked.clone(),
            awake_median_ns: median(&measurements.blocked_awake_ns),
            awake_samples_ns: measurements.blocked_awake_ns.clone(),
            wake_floor_median_ns: median(&measurements.wake_floor_ns),
            wake_floor_samples_ns: measurements.wake_floor_ns.clone(),
        };
        let frames: Vec<_> = measurements
            .frames
            .iter()
            .map(|(pattern, samples)| FrameReport::new(*pattern, plan.sizes.sweep, samples))
            .collect();
        let mut checks = checks(
            &measurements.workloads,
            &master_blocked,
            &measurements.allocations,
        );
        checks.extend(frame_checks(&frames, &measurements.frames));
        let idle_cpu_ms_per_s = measurements
            .idle_cpu_ns
            .map(|ns| ns / 1e6 / (plan.idle_ms as f64 / 1e3));
        if plan.stages.frames {
            checks.push(Check::new(
                "idle CPU, ms per idle second".into(),
                idle_cpu_ms_per_s,
                "ms",
                Comparison::AtMost,
                IDLE_CPU_TARGET_MS_PER_S,
            ));
        }
        let uneven_static_bound = static_split_bound(plan.sizes.uneven, machine.actors);
        Report {
            schema: SCHEMA,
            machine,
            mode,
            plan,
            workloads,
            master_blocked,
            allocations: measurements.allocations,
            frames,
            idle_cpu_ms_per_s,
            async_pool: measurements.async_pool.as_ref().map(AsyncPoolReport::new),
            typed_key: measurements.typed_key.as_ref().map(TypedKeyReport::new),
            checks,
            uneven_static_bound,
            warnings: Vec::new(),
        }
        .with_warnings()
    }

    /// Adds a warning when rayon's speed-up over serial code on the sweep
    /// (pure computation, no scheduling subtleties) falls well short of the
    /// thread count: then other processes had part of the machine.
    fn with_warnings(mut self) -> Report {
        let threads = self.machine.actors.min(self.machine.available_parallelism);
        let speedup = self
            .workloads
            .iter()
            .find(|w| w.name == Workload::Sweep.name())
            .and_then(|w| w.ratios.iter().find(|r| r.name == "serial/rayon"))
            .and_then(|r| r.value);
        if let Some(speedup) = speedup.filter(|&s| threads > 1 && s < 0.85 * threads as f64) {
            self.warnings.push(format!(
                "busy machine: rayon ran the sweep only {speedup:.2}x faster than serial code on \
                 {threads} threads; other processes took part of the cores, so parallel times \
                 and ratios are less reliable than usual"
            ));
        }
        self
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serialises")
    }

    /// Writes [`Report::to_json`] to `path`.
    pub fn write_json(&self, path: &Path) -> Result<(), BenchError> {
        std::fs::write(path, self.to_json() + "\n").map_err(|e| BenchError::output(path, e))
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let _ = writeln!(
            out,
            "weave bench ({} run): {} actors = {} rayon threads, {} CPUs, {} rounds, medians",
            self.mode, m.actors, m.actors, m.available_parallelism, self.plan.rounds
        );
        if let Some(load) = &m.load_average {
            let _ = writeln!(out, "load average before the run: {load}");
        }
        out += &workload_table(&self.workloads);
        out += &frame_table(&self.frames);
        out += &async_pool_table(self.async_pool.as_ref());
        for warning in &self.warnings {
            let _ = writeln!(out, "warning: {warning}");
        }
        out += &self.summary_lines();
        out += "\ntargets (ratios are medians of per-round ratios)\n";
        for check in &self.checks {
            out += &check_line(check);
        }
        let _ = writeln!(
            out,
            "  (uneven static/weavekit cannot exceed {:.3}x here: the static split's slowest \
             range over a perfect balance, with zero overhead)",
            self.uneven_static_bound
        );
        out
    }

    fn summary_lines(&self) -> String {
        let mut out = String::from("\n");
        out += &blocked_line(&self.master_blocked);
        out += &allocations_line(&self.allocations);
        out += &typed_key_line(self.typed_key.as_ref());
        out
    }
}

fn typed_key_line(k: Option<&TypedKeyReport>) -> String {
    let Some(k) = k else {
        return String::new();
    };
    let ratio = k
        .typed_over_string
        .map_or("-".into(), |v| format!("{v:.2}x"));
    format!(
        "dispatch of {} items on the master: typed key {} median, string name {} median, \
         typed/string {ratio} ({} pairs)\n",
        k.items,
        fmt_ns(k.typed_median_ns),
        fmt_ns(k.string_median_ns),
        k.dispatches
    )
}

fn blocked_line(b: &BlockedReport) -> String {
    if b.samples_ns.is_empty() {
        return "master blocked: not measured\n".into();
    }
    format!(
        "master blocked by dispatch of {} items: actors asleep {} median ({} p90, {} max, {} \
         samples); actors awake {} median\n\
         wake-up floor (a bare thread waking one asleep on another CPU): {} median; \
         asleep dispatch above it: {}\n",
        b.items,
        fmt_ns(b.median_ns),
        fmt_ns(b.p90_ns),
        fmt_ns(b.max_ns),
        b.samples_ns.len(),
        fmt_ns(b.awake_median_ns),
        fmt_ns(b.wake_floor_median_ns),
        fmt_signed_ns(b.above_floor_ns()),
    )
}

fn allocations_line(a: &Allocations) -> String {
    match (a.counted, a.dispatches) {
        (_, 0) => "allocations: not measured\n".into(),
        (false, _) => "allocations: not counted (counting allocator not installed)\n".into(),
        (true, n) => format!(
            "allocations per dispatch: {} tracked, {} detached (rayon install+collect: {}), \
             over {n} each\n\
             allocations per dispatch: {} tracked with a reused buffer, {} awaited future\n",
            fmt_count(a.tracked_per_dispatch),
            fmt_count(a.detached_per_dispatch),
            fmt_count(a.rayon_per_install),
            fmt_count(a.reused_per_dispatch),
            fmt_count(a.future_per_dispatch),
        ),
    }
}

fn workload_report(w: &WorkloadSamples, sizes: &Sizes) -> WorkloadReport {
    let contenders = w
        .samples
        .iter()
        .map(|(c, s)| ContenderReport {
            name: c.name(),
            median_ns: median(s),
            min_ns: quantile(s, 0.0),
            samples_ns: s.clone(),
        })
        .collect();
    let ratios = w
        .workload
        .ratios()
        .iter()
        .map(|&(num, den)| RatioReport {
            name: ratio_name(num, den),
            value: median_ratio(w.of(num), w.of(den)),
        })
        .collect();
    WorkloadReport {
        name: w.workload.name(),
        items: w.workload.items(sizes),
        contenders,
        ratios,
    }
}

fn ratio_name(numerator: Contender, denominator: Contender) -> String {
    format!("{}/{}", numerator.name(), denominator.name())
}

fn checks(
    workloads: &[WorkloadSamples],
    blocked: &BlockedReport,
    allocs: &Allocations,
) -> Vec<Check> {
    let mut out: Vec<Check> = RATIO_TARGETS
        .iter()
        .map(|&(workload, num, den, comparison, target)| {
            let samples = workloads.iter().find(|w| w.workload == workload);
            let value = samples.and_then(|w| median_ratio(w.of(num), w.of(den)));
            let name = format!("{} {}", workload.name(), ratio_name(num, den));
            Check::new(name, value, "x", comparison, target)
        })
        .collect();
    let blocked_us = blocked.above_floor_ns().map(|ns| ns / 1e3);
    out.push(Check::new(
        "master blocked, actors asleep, above one wake-up".into(),
        blocked_us,
        "us",
        Comparison::AtMost,
        BLOCKED_TARGET_US,
    ));
    let tracked = allocs.tracked_per_dispatch;
    out.push(Check::new(
        "allocations per tracked dispatch".into(),
        tracked,
        "allocs",
        Comparison::AtMost,
        TRACKED_ALLOCS_TARGET,
    ));
    let detached = allocs.detached_per_dispatch;
    out.push(Check::new(
        "allocations per detached dispatch".into(),
        detached,
        "allocs",
        Comparison::AtMost,
        DETACHED_ALLOCS_TARGET,
    ));
    out
}

/// The targets of issue 7: busy-then-dispatch speed-ups, the time
/// `dispatch` held the master over all those frames, and overlap against
/// rayon.
fn frame_checks(
    frames: &[FrameReport],
    samples: &[(Pattern, super::frames::FrameSamples)],
) -> Vec<Check> {
    let mut out = Vec::new();
    let mut held = Vec::new();
    for (report, (pattern, samples)) in frames.iter().zip(samples) {
        let weavekit = report.speedup_of(Contender::Weavekit);
        match pattern {
            Pattern::BusyThenDispatch(_) => {
                held.extend_from_slice(&samples.held);
                out.push(Check::new(
                    format!("{} serial/weavekit", report.name),
                    weavekit,
                    "x",
                    Comparison::AtLeast,
                    FRAME_SPEEDUP_TARGET,
                ));
            }
            Pattern::Overlap(_) => {
                let rayon = report.speedup_of(Contender::Rayon);
                let value = weavekit.zip(rayon).map(|(w, r)| w / r);
                out.push(Check::new(
                    format!("{} speed-up weavekit/rayon", report.name),
                    value,
                    "x",
                    Comparison::AtLeast,
                    1.0,
                ));
            }
        }
    }
    if !frames.is_empty() {
        out.push(Check::new(
            "frames: dispatch held the master (median)".into(),
            median(&held).map(|ns| ns / 1e3),
            "us",
            Comparison::AtMost,
            FRAME_HELD_TARGET_US,
        ));
    }
    out
}

/// The async-pool row: median per-await latency and weavekit's ratios.
fn async_pool_table(row: Option<&AsyncPoolReport>) -> String {
    let Some(row) = row else {
        return String::new();
    };
    let mut out = format!(
        "\n{:<14}{:>8}{:>12}{:>16}{:>12}{:>16}{:>12}\n",
        "async await", "awaits", "weavekit", "spawn_blocking", "rayon", "wk/blocking", "wk/rayon"
    );
    let _ = write!(
        out,
        "{:<14}{:>8}",
        format!("{} items", row.items),
        row.awaits
    );
    for (c, width) in CONTENDERS.iter().zip([12, 16, 12]) {
        let _ = write!(out, "{:>width$}", fmt_ns(row.median_of(c)));
    }
    let fmt = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2}x"));
    let _ = writeln!(
        out,
        "{:>16}{:>12}",
        fmt(row.weavekit_over_spawn_blocking),
        fmt(row.weavekit_over_rayon)
    );
    // The first await of each round: the threads asleep.
    let _ = write!(out, "{:<14}{:>8}", "  asleep", row.asleep_awaits);
    for (c, width) in CONTENDERS.iter().zip([12, 16, 12]) {
        let _ = write!(out, "{:>width$}", fmt_ns(row.asleep_median_of(c)));
    }
    let _ = writeln!(out, "{:>16}{:>12}", "", fmt(row.asleep_weavekit_over_rayon));
    out
}

/// The frame pattern's table: median times and speed-ups over serial.
fn frame_table(frames: &[FrameReport]) -> String {
    if frames.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "
{:<14}{:>8}{:>12}{:>12}{:>12}{:>10}{:>10}{:>14}
",
        "frame", "frames", "serial", "rayon", "weavekit", "rayon", "weavekit", "dispatch held"
    );
    let _ = writeln!(
        out,
        "{:<14}{:>8}{:>36}{:>20}{:>14}",
        "", "", "(median per frame)", "(x serial)", "(median)"
    );
    for f in frames {
        let _ = write!(out, "{:<14}{:>8}", f.name, f.frames);
        for c in super::frames::CONTENDERS {
            let _ = write!(out, "{:>12}", fmt_ns(f.median_of(c)));
        }
        for c in [Contender::Rayon, Contender::Weavekit] {
            let v = f.speedup_of(c);
            let _ = write!(out, "{:>10}", v.map_or("-".into(), |v| format!("{v:.2}x")));
        }
        let _ = writeln!(out, "{:>14}", fmt_ns(f.held_median_ns));
    }
    out
}

/// The table of times and ratios, one row per workload.
fn workload_table(workloads: &[WorkloadReport]) -> String {
    let contenders = [
        Contender::Serial,
        Contender::Rayon,
        Contender::Weavekit,
        Contender::StaticSplit,
    ];
    let ratios = [
        (Contender::Weavekit, Contender::Rayon),
        (Contender::Serial, Contender::Weavekit),
        (Contender::StaticSplit, Contender::Weavekit),
        (Contender::Serial, Contender::Rayon),
    ];
    let mut out = format!("{:<12}{:>9}", "workload", "items");
    for c in contenders {
        let _ = write!(out, "{:>12}", c.name());
    }
    for (num, den) in ratios {
        let _ = write!(out, "{:>17}", ratio_name(num, den));
    }
    out.push('\n');
    for w in workloads {
        let _ = write!(out, "{:<12}{:>9}", w.name, w.items);
        for c in contenders {
            let median = w
                .contenders
                .iter()
                .find(|r| r.name == c.name())
                .and_then(|r| r.median_ns);
            let _ = write!(
                out,
                "{:>12}",
                if median.is_some() {
                    fmt_ns(median)
                } else {
                    "-".into()
                }
            );
        }
        for (num, den) in ratios {
            let value = w
                .ratios
                .iter()
                .find(|r| r.name == ratio_name(num, den))
                .and_then(|r| r.value);
            let _ = write!(
                out,
                "{:>17}",
                value.map_or("-".into(), |v| format!("{v:.2}x"))
            );
        }
        out.push('\n');
    }
    out
}

fn check_line(check: &Check) -> String {
    let value = match (check.value, check.unit) {
        (None, _) => "n/a".to_string(),
        (Some(v), "x") => format!("{}x", fmt_ratio(v, check.target)),
        (Some(v), "us") => format!("{v:.2} us"),
        (Some(v), "ms") => format!("{v:.2} ms"),
        (Some(v), _) => format!("{v:.2}"),
    };
    let target = match check.unit {
        "x" => format!("{:.2}x", check.target),
        "us" => format!("{:.2} us", check.target),
        "ms" => format!("{:.2} ms", check.target),
        _ => format!("{:.0}", check.target),
    };
    let verdict = match check.met {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "not measured",
    };
    format!(
        "  {:<40}{:>10}  {} {:<10}{}\n",
        check.name,
        value,
        check.comparison.symbol(),
        target,
        verdict
    )
}

/// A ratio with three decimals, or four when three would round it onto
/// `target` (so that `1.500x  >= 1.50x  MISSED` cannot happen).
fn fmt_ratio(value: f64, target: f64) -> String {
    let short = format!("{value:.3}");
    if value != target && short == format!("{target:.3}") {
        format!("{value:.4}")
    } else {
        short
    }
}

/// A duration in ns with a readable unit, `-` for `None`.
pub fn fmt_ns(ns: Option<f64>) -> String {
    match ns {
        None => "-".into(),
        Some(ns) if ns < 1e3 => format!("{ns:.0} ns"),
        Some(ns) if ns < 1e6 => format!("{:.2} us", ns / 1e3),
        Some(ns) if ns < 1e9 => format!("{:.2} ms", ns / 1e6),
        Some(ns) => format!("{:.2} s", ns / 1e9),
    }
}

/// As [`fmt_ns`], with a sign (`+1.20 us`, `-350 ns`).
fn fmt_signed_ns(ns: Option<f64>) -> String {
    match ns {
        None => "-".into(),
        Some(ns) if ns < 0.0 => format!("-{}", fmt_ns(Some(-ns))),
        Some(ns) => format!("+{}", fmt_ns(Some(ns))),
    }
}

fn fmt_count(count: Option<f64>) -> String {
    count.map_or("-".into(), |c| format!("{c:.2}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(workload: Workload, times: &[(Contender, [f64; 3])]) -> WorkloadSamples {
        WorkloadSamples {
            workload,
            samples: times.iter().map(|(c, s)| (*c, s.to_vec())).collect(),
        }
    }

    fn measurements() -> Measurements {
        use Contender::*;
        Measurements {
            workloads: vec![
                samples(
                    Workload::Sweep,
                    &[
                        (Serial, [40.0, 44.0, 400.0]),
                        (Rayon, [21.0, 22.0, 200.0]),
                        (Weavekit, [20.0, 22.0, 200.0]),
                    ],
                ),
                samples(
                    Workload::Uneven,
                    &[
                        (Serial, [60.0; 3]),
                        (Rayon, [30.0; 3]),
                        (Weavekit, [30.0; 3]),
                        (StaticSplit, [45.0; 3]),
                    ],
                ),
            ],
            blocked_ns: vec![900.0, 1100.0, 5000.0],
            blocked_awake_ns: vec![300.0],
            wake_floor_ns: vec![800.0, 900.0, 1000.0],
            allocations: Allocations {
                counted: true,
                dispatches: 10,
                tracked_per_dispatch: Some(2.0),
                detached_per_dispatch: Some(1.5),
                rayon_per_install: Some(3.0),
                reused_per_dispatch: Some(1.0),
                future_per_dispatch: Some(2.0),
            },
            frames: vec![(
                Pattern::BusyThenDispatch(4),
                super::super::frames::FrameSamples {
                    times: [
                        vec![20.0, 20.0, 30.0],
                        vec![20.0, 11.0, 15.0],
                        vec![10.0, 10.0, 20.0],
                    ],
                    held: vec![30e3, 40e3, 90e3],
                },
            )],
            idle_cpu_ns: Some(2e6),
            async_pool: Some(super::super::async_pool::AsyncSamples {
                times: [vec![40e3, 60e3], vec![80e3, 120e3], vec![20e3, 40e3]],
                asleep: [vec![40e3], vec![80e3], vec![20e3]],
            }),
            typed_key: Some(super::super::typed_key::KeySamples {
                times: [vec![1000.0, 2000.0, 3000.0], vec![900.0, 2000.0, 3300.0]],
            }),
        }
    }

    fn report() -> Report {
        Report::new(Machine::this(2), "short", Plan::short(), &measurements())
    }

    fn check<'a>(report: &'a Report, name: &str) -> &'a Check {
        report.checks.iter().find(|c| c.name == name).unwrap()
    }

    #[test]
    fn ratios_are_medians_of_per_round_ratios() {
        let r = report();
        let sweep = &r.workloads[0];
        assert_eq!(sweep.contenders[0].median_ns, Some(44.0));
        let wk_rayon = sweep
            .ratios
            .iter()
            .find(|x| x.name == "weavekit/rayon")
            .unwrap();
        // Per round: 20/21, 1.0, 1.0.
        assert_eq!(wk_rayon.value, Some(1.0));
        assert_eq!(check(&r, "sweep serial/weavekit").value, Some(2.0));
        assert_eq!(check(&r, "uneven static/weavekit").value, Some(1.5));
    }

    #[test]
    fn frame_checks_are_speedups_over_serial() {
        let r = report();
        // Per frame: 2.0, 2.0, 1.5.
        let speedup = check(&r, "busy_4ms serial/weavekit");
        assert_eq!((speedup.value, speedup.met), (Some(2.0), Some(true)));
        let held = check(&r, "frames: dispatch held the master (median)");
        assert_eq!((held.value, held.met), (Some(40.0), Some(true)));
        assert_eq!(
            r.frames[0].speedup_of(Contender::Rayon),
            Some(1.8181818181818181)
        );
        assert!(r.table().contains("busy_4ms"));
        let idle = check(&r, "idle CPU, ms per idle second");
        // 2 ms over the short plan's idle second.
        assert_eq!((idle.value, idle.met), (Some(2.0), Some(true)));
    }

    #[test]
    fn the_async_pool_row_is_reported() {
        let r = report();
        let row = r.async_pool.as_ref().unwrap();
        // Per await: 0.5, 0.5 against spawn_blocking; 2.0, 1.5 against rayon.
        assert_eq!(row.weavekit_over_spawn_blocking, Some(0.5));
        assert_eq!(row.weavekit_over_rayon, Some(1.75));
        assert_eq!(row.median_of("spawn_blocking"), Some(100e3));
        let table = r.table();
        assert!(table.contains("async await"), "{table}");
        assert!(table.contains("spawn_blocking") && table.contains("1.75x"));
        // The asleep line: the first await of the one round, 2.0x rayon.
        assert_eq!(row.asleep_awaits, 1);
        let asleep = table.lines().find(|l| l.starts_with("  asleep")).unwrap();
        assert!(
            asleep.ends_with("2.00x") && asleep.contains("40.00 us"),
            "{asleep}"
        );
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(json["async_pool"]["items"], 64);
        assert_eq!(json["async_pool"]["weavekit_over_rayon"], 1.75);
        let key = r.typed_key.as_ref().unwrap();
        // Per pair: 0.9, 1.0, 1.1.
        assert_eq!(key.typed_over_string, Some(1.0));
        assert!(table.contains("typed/string 1.00x (3 pairs)"), "{table}");
        assert_eq!(json["typed_key"]["typed_median_ns"], 2000.0);
        let mut m = measurements();
        m.async_pool = None;
        m.typed_key = None;
        let r = Report::new(Machine::this(2), "short", Plan::short(), &m);
        assert!(!r.table().contains("async await") && !r.table().contains("typed/string"));
    }

    #[test]
    fn checks_compare_against_targets() {
        let r = report();
        assert_eq!(check(&r, "sweep weavekit/rayon").met, Some(true));
        assert_eq!(check(&r, "sweep serial/weavekit").met, Some(true));
        assert_eq!(check(&r, "uneven static/weavekit").met, Some(true));
        // Asleep median 1100 ns above the floor's 900 ns: 0.2 µs.
        let above = check(&r, "master blocked, actors asleep, above one wake-up");
        assert!((above.value.unwrap() - 0.2).abs() < 1e-9, "{above:?}");
        assert_eq!(above.met, Some(true));
        assert_eq!(
            check(&r, "allocations per tracked dispatch").met,
            Some(true)
        );
        assert_eq!(
            check(&r, "allocations per detached dispatch").met,
            Some(false)
        );
        // No fine samples: measured as nothing, neither met nor missed.
        assert_eq!(check(&r, "fine weavekit/rayon").met, None);
    }

    #[test]
    fn json_has_the_documented_shape() {
        let json: serde_json::Value = serde_json::from_str(&report().to_json()).unwrap();
        assert_eq!(json["schema"], SCHEMA);
        assert_eq!(json["machine"]["actors"], 2);
        assert_eq!(json["mode"], "short");
        assert_eq!(json["plan"]["rounds"], Plan::short().rounds);
        let sweep = &json["workloads"][0];
        assert_eq!(sweep["name"], "sweep");
        assert_eq!(sweep["items"], 10_000);
        assert_eq!(sweep["contenders"][1]["name"], "rayon");
        assert_eq!(
            sweep["contenders"][1]["samples_ns"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        assert_eq!(sweep["ratios"][0]["name"], "weavekit/rayon");
        assert_eq!(json["master_blocked"]["median_ns"], 1100.0);
        assert_eq!(json["master_blocked"]["awake_median_ns"], 300.0);
        assert_eq!(json["master_blocked"]["wake_floor_median_ns"], 900.0);
        assert_eq!(json["allocations"]["tracked_per_dispatch"], 2.0);
        assert!(json["uneven_static_bound"].as_f64().unwrap() > 1.4);
        assert!(json["warnings"].as_array().unwrap().is_empty());
        let first = &json["checks"][0];
        assert_eq!(first["comparison"], "<=");
        assert_eq!(first["unit"], "x");
        assert!(first["met"].is_boolean());
        assert!(json["checks"][2]["met"].is_null());
    }

    #[test]
    fn a_busy_machine_is_flagged() {
        let mut m = measurements();
        // rayon only 1.1x faster than serial on two threads.
        m.workloads[0].samples[1].1 = vec![40.0, 40.0, 360.0];
        let report = Report::new(Machine::this(2), "short", Plan::short(), &m);
        if report.machine.available_parallelism > 1 {
            assert_eq!(report.warnings.len(), 1);
            assert!(report.table().contains("warning: busy machine"));
        }
    }

    #[test]
    fn table_lists_workloads_and_verdicts() {
        let table = report().table();
        assert!(table.contains("sweep"));
        assert!(table.contains("2.00x"));
        assert!(table.contains("MISSED"));
        assert!(table.contains("not measured"));
    }

    #[test]
    fn ratios_near_their_target_show_a_fourth_decimal() {
        assert_eq!(fmt_ratio(1.4996, 1.5), "1.4996");
        assert_eq!(fmt_ratio(1.5, 1.5), "1.500");
        assert_eq!(fmt_ratio(0.98712, 1.0), "0.987");
    }

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(fmt_ns(Some(850.0)), "850 ns");
        assert_eq!(fmt_ns(Some(1500.0)), "1.50 us");
        assert_eq!(fmt_ns(Some(2.5e7)), "25.00 ms");
        assert_eq!(fmt_ns(Some(3e9)), "3.00 s");
        assert_eq!(fmt_signed_ns(Some(-350.0)), "-350 ns");
        assert_eq!(fmt_signed_ns(Some(1200.0)), "+1.20 us");
        assert_eq!(fmt_signed_ns(None), "-");
        assert_eq!(fmt_ns(None), "-");
    }
}
