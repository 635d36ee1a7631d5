//! The frame pattern (issue 7): the master does its own work between
//! dispatches, as a game's frame loop does, and every frame counts.
//!
//! Two shapes, each on serial code, rayon and weavekit in the same process:
//!
//! - **busy then dispatch** (master busy 4 ms or 17 ms, then the sweep, then
//!   wait): the sample is the sweep's time, from the end of the master's work
//!   to the results. The master's core has just been busy, which is exactly
//!   when the OS scheduler likes to wake a thread on it.
//! - **overlap** (dispatch, master busy 8 ms, wait): the sample is the whole
//!   frame; serial code does the sweep and then the master's work.
//!
//! Frames run back to back: no pause lets the machine settle, no frame is
//! dropped. Each contender runs a few consecutive frames per round, in an
//! order that rotates with the round, and frames are paired by their place
//! in the round for the ratios (medians of per-frame ratios).

use std::cell::RefCell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::Serialize;
use weavekit::Dispatcher;

use super::contenders::Contender;
use super::error::BenchError;
use super::runner::rotated;
use crate::stats::{median, median_ratio};
use crate::workloads::checksum;
use crate::workloads::kernels::fine;
use crate::workloads::sweep::{Scene, SweepParams};
use crate::workloads::worker::{jobs, worker};

/// A frame shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    /// The master is busy for this many milliseconds, then dispatches the
    /// sweep and waits.
    BusyThenDispatch(u64),
    /// The master dispatches the sweep, is busy for this many milliseconds,
    /// then waits.
    Overlap(u64),
}

impl Pattern {
    /// The patterns of issue 7, in table order.
    pub const ALL: [Pattern; 3] = [
        Pattern::BusyThenDispatch(4),
        Pattern::BusyThenDispatch(17),
        Pattern::Overlap(8),
    ];

    /// The name used in the table and the JSON, e.g. `busy_4ms`.
    pub fn name(self) -> String {
        match self {
            Pattern::BusyThenDispatch(ms) => format!("busy_{ms}ms"),
            Pattern::Overlap(ms) => format!("overlap_{ms}ms"),
        }
    }

    fn busy(self) -> Duration {
        match self {
            Pattern::BusyThenDispatch(ms) | Pattern::Overlap(ms) => Duration::from_millis(ms),
        }
    }
}

/// The contenders of the frame pattern.
pub const CONTENDERS: [Contender; 3] = [Contender::Serial, Contender::Rayon, Contender::Weavekit];

/// Samples of one pattern, in nanoseconds.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FrameSamples {
    /// Per contender of [`CONTENDERS`], one sample per frame.
    pub times: [Vec<f64>; 3],
    /// How long weavekit's `dispatch` held the master, per frame.
    pub held: Vec<f64>,
}

/// What the sweep's callback receives.
type SweepResult = Result<Vec<u32>, weavekit::Error>;

/// Serial code, a rayon pool and a dispatcher of their own, and the sweep.
pub struct Frames {
    pool: rayon::ThreadPool,
    dispatcher: Dispatcher,
    scene: Scene,
    params: SweepParams,
    items: usize,
    expected: u64,
    hits: Rc<RefCell<Option<SweepResult>>>,
}

impl Frames {
    /// `actors` actors and rayon threads; the sweep has `items` items.
    pub fn new(actors: usize, items: usize) -> Result<Frames, BenchError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(actors)
            .thread_name(|i| format!("rayon-frame-{i}"))
            .build()
            .map_err(|e| BenchError::Rayon(e.to_string()))?;
        let scene = Scene::benchmark();
        let params = SweepParams::default();
        let serial: Vec<u32> = (0..items).map(|id| scene.hits(id, &params)).collect();
        Ok(Frames {
            pool,
            dispatcher: Dispatcher::new(actors, worker)?,
            scene,
            params,
            items,
            expected: checksum(&serial),
            hits: Rc::default(),
        })
    }

    /// Runs `frames` consecutive frames of `pattern` per contender, the
    /// contenders in an order rotated by `round`, and appends the samples.
    pub fn round(
        &mut self,
        pattern: Pattern,
        round: usize,
        frames: usize,
        out: &mut FrameSamples,
    ) -> Result<(), BenchError> {
        for contender in rotated(&CONTENDERS, round) {
            let column = CONTENDERS.iter().position(|&c| c == contender);
            for _ in 0..frames {
                let (time, held) = self.frame(pattern, contender)?;
                if let Some(column) = column {
                    out.times[column].push(time.as_secs_f64() * 1e9);
                }
                if let Some(held) = held {
                    out.held.push(held.as_secs_f64() * 1e9);
                }
            }
        }
        Ok(())
    }

    /// One frame: (its sample, how long `dispatch` held the master).
    fn frame(
        &mut self,
        pattern: Pattern,
        contender: Contender,
    ) -> Result<(Duration, Option<Duration>), BenchError> {
        let busy = pattern.busy();
        let (start, held, sum) = match pattern {
            Pattern::BusyThenDispatch(_) => {
                master_work(busy);
                let start = Instant::now();
                let (held, sum) = self.sweep(contender, Duration::ZERO)?;
                (start, held, sum)
            }
            Pattern::Overlap(_) => {
                let start = Instant::now();
                let (held, sum) = self.sweep(contender, busy)?;
                (start, held, sum)
            }
        };
        let elapsed = start.elapsed();
        if sum != self.expected {
            return Err(BenchError::Checksum {
                workload: "frames",
                contender: contender.name(),
                expected: self.expected,
                found: sum,
            });
        }
        Ok((elapsed, held))
    }

    /// The sweep on `contender`, with `overlap` of master work done while
    /// it runs (serially: after it): (dispatch held, checksum).
    fn sweep(
        &mut self,
        contender: Contender,
        overlap: Duration,
    ) -> Result<(Option<Duration>, u64), BenchError> {
        let (n, scene, params) = (self.items, &self.scene, self.params);
        match contender {
            Contender::Rayon => {
                let mut buf = Vec::new();
                self.pool.in_place_scope(|s| {
                    s.spawn(|_| {
                        buf = (0..n)
                            .into_par_iter()
                            .map(|id| scene.hits(id, &params))
                            .collect()
                    });
                    master_work(overlap);
                });
                Ok((None, checksum(&buf)))
            }
            Contender::Weavekit | Contender::StaticSplit => {
                let slot = Rc::clone(&self.hits);
                let start = Instant::now();
                self.dispatcher.dispatch(
                    jobs::SWEEP,
                    n,
                    move |buf| *slot.borrow_mut() = Some(buf),
                    None,
                    params,
                )?;
                let held = start.elapsed();
                master_work(overlap);
                self.dispatcher.wait();
                let buf = self.hits.borrow_mut().take();
                let buf = buf.ok_or(BenchError::NoCallback { job: jobs::SWEEP })??;
                Ok((Some(held), checksum(&buf)))
            }
            Contender::Serial => {
                let buf: Vec<u32> = (0..n).map(|id| scene.hits(id, &params)).collect();
                master_work(overlap);
                Ok((None, checksum(&buf)))
            }
        }
    }
}

/// CPU time this process uses while it sleeps for `idle` with nothing
/// dispatched (its dispatchers' actors and rayon's threads all idle), in
/// ns; `None` where per-thread CPU times cannot be read (not Linux).
pub fn idle_cpu_ns(idle: Duration) -> Option<f64> {
    let before = process_cpu_ns()?;
    std::thread::sleep(idle);
    let after = process_cpu_ns()?;
    Some(after.saturating_sub(before) as f64)
}

/// The CPU time of every thread of this process, summed from
/// `/proc/self/task/*/schedstat` (first field: ns on the CPU).
fn process_cpu_ns() -> Option<u64> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path().join("schedstat");
        // A thread may end between the listing and the read: skip it.
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        total += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// The master's own work for `time`: hashing, as game logic would compute.
pub fn master_work(time: Duration) {
    if time.is_zero() {
        return;
    }
    let start = Instant::now();
    let mut i = 0;
    while start.elapsed() < time {
        for _ in 0..64 {
            black_box(fine(black_box(i)));
            i += 1;
        }
    }
}

/// One pattern's results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrameReport {
    /// [`Pattern::name`].
    pub name: String,
    /// The pattern.
    pub pattern: Pattern,
    /// Items of the sweep.
    pub items: usize,
    /// Frames per contender.
    pub frames: usize,
    /// Median sample per contender of [`CONTENDERS`], ns.
    pub median_ns: Vec<(&'static str, Option<f64>)>,
    /// Speed-up over serial code per contender (median of per-frame
    /// ratios; higher is better).
    pub speedup: Vec<(&'static str, Option<f64>)>,
    /// Median time weavekit's `dispatch` held the master, ns.
    pub held_median_ns: Option<f64>,
    /// Every sample per contender, ns.
    pub samples_ns: Vec<(&'static str, Vec<f64>)>,
}

impl FrameReport {
    /// Summarises `samples` of `pattern`.
    pub fn new(pattern: Pattern, items: usize, samples: &FrameSamples) -> FrameReport {
        let serial = &samples.times[0];
        let named = |i: usize| CONTENDERS[i].name();
        FrameReport {
            name: pattern.name(),
            pattern,
            items,
            frames: serial.len(),
            median_ns: (0..3)
                .map(|i| (named(i), median(&samples.times[i])))
                .collect(),
            speedup: (1..3)
                .map(|i| (named(i), median_ratio(serial, &samples.times[i])))
                .collect(),
            held_median_ns: median(&samples.held),
            samples_ns: (0..3)
                .map(|i| (named(i), samples.times[i].clone()))
                .collect(),
        }
    }

    /// The speed-up over serial code of `contender`.
    pub fn speedup_of(&self, contender: Contender) -> Option<f64> {
        let found = self.speedup.iter().find(|(n, _)| *n == contender.name());
        found.and_then(|(_, v)| *v)
    }

    /// The median time of `contender`, ns.
    pub fn median_of(&self, contender: Contender) -> Option<f64> {
        let found = self.median_ns.iter().find(|(n, _)| *n == contender.name());
        found.and_then(|(_, v)| *v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_contender_computes_the_sweep_in_every_pattern() {
        let mut frames = Frames::new(2, 200).unwrap();
        for pattern in [Pattern::BusyThenDispatch(1), Pattern::Overlap(1)] {
            let mut samples = FrameSamples::default();
            // `frame` fails with `BenchError::Checksum` on any difference.
            frames.round(pattern, 1, 2, &mut samples).unwrap();
            assert!(samples.times.iter().all(|t| t.len() == 2));
            assert_eq!(samples.held.len(), 2, "weavekit's dispatch is timed");
            let report = FrameReport::new(pattern, 200, &samples);
            assert_eq!(report.frames, 2);
            assert!(report.speedup_of(Contender::Weavekit).is_some());
            assert!(report.held_median_ns.is_some());
        }
    }

    #[test]
    fn an_overlap_frame_includes_the_master_work() {
        let mut frames = Frames::new(2, 10).unwrap();
        let (time, _) = frames
            .frame(Pattern::Overlap(3), Contender::Weavekit)
            .unwrap();
        assert!(time >= Duration::from_millis(3), "{time:?}");
    }

    #[test]
    fn idle_cpu_counts_this_process_work_only_while_idle() {
        // Not a speed check: the figure exists on Linux and is a sane
        // fraction of the wall time (two idle pools cannot use 4 cores).
        let _frames = Frames::new(2, 10).unwrap();
        if let Some(ns) = idle_cpu_ns(Duration::from_millis(50)) {
            assert!(ns < 4.0 * 50e6, "{ns}");
        }
        assert!(process_cpu_ns().is_some() || !cfg!(target_os = "linux"));
    }

    #[test]
    fn pattern_names() {
        assert_eq!(Pattern::BusyThenDispatch(4).name(), "busy_4ms");
        assert_eq!(Pattern::Overlap(8).name(), "overlap_8ms");
    }
}
