//! The rounds: every contender of every workload once per round, in an
//! order that rotates from round to round, after unrecorded warm-up rounds.
//!
//! Interleaving is what makes the ratios trustworthy on a shared machine: a
//! burst of load from another process lands on one round of all
//! contenders, not on all rounds of one contender.

use std::time::Duration;

use serde::Serialize;

use super::async_pool::{AsyncPool, AsyncSamples};
use super::contenders::{Allocations, Contender, Contenders, Workload};
use super::error::BenchError;
use super::frames::{FrameSamples, Frames, Pattern};
use super::typed_key::{KeySamples, TypedKey};
use crate::workloads::Sizes;

/// How much to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Items per job of each workload.
    pub sizes: Sizes,
    /// Recorded rounds.
    pub rounds: usize,
    /// Unrecorded rounds run first.
    pub warmup_rounds: usize,
    /// Round-trip jobs per round-trip sample (the sample is their mean).
    pub round_trip_reps: usize,
    /// Master-blocked samples per round.
    pub blocked_per_round: usize,
    /// Dispatches counted for the allocation figures.
    pub alloc_dispatches: usize,
    /// Consecutive frames per contender per round of the frame pattern.
    pub frames_per_round: usize,
    /// Idle time over which the process's CPU use is measured, ms.
    pub idle_ms: u64,
    /// Awaits per contender per round of the async-pool row.
    pub async_awaits: usize,
    /// Pairs of dispatches per round of the typed-key comparison.
    pub key_pairs: usize,
    /// What to measure (`--only`).
    pub stages: Stages,
}

/// The parts of a run that `--only` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Stages {
    /// Timed workloads, in [`Workload::ALL`] order.
    pub workloads: [bool; 4],
    /// How long `dispatch` holds the master.
    pub master_blocked: bool,
    /// Allocations per dispatch.
    pub allocations: bool,
    /// The frame pattern ([`super::frames`]).
    pub frames: bool,
    /// The async-pool row ([`super::async_pool`]).
    pub async_pool: bool,
    /// Typed key against string dispatch ([`super::typed_key`]).
    pub typed_key: bool,
}

impl Stages {
    /// Everything.
    pub const ALL: Stages = Stages {
        workloads: [true; 4],
        master_blocked: true,
        allocations: true,
        frames: true,
        async_pool: true,
        typed_key: true,
    };

    /// Stage names accepted by [`Stages::parse`].
    pub const NAMES: [&'static str; 9] = [
        "sweep",
        "fine",
        "uneven",
        "round_trip",
        "master_blocked",
        "allocations",
        "frames",
        "async_pool",
        "typed_key",
    ];

    /// Parses a comma-separated list of [`Stages::NAMES`].
    pub fn parse(list: &str) -> Result<Stages, String> {
        let mut stages = Stages {
            workloads: [false; 4],
            master_blocked: false,
            allocations: false,
            frames: false,
            async_pool: false,
            typed_key: false,
        };
        for name in list.split(',').map(str::trim) {
            match name {
                "master_blocked" => stages.master_blocked = true,
                "allocations" => stages.allocations = true,
                "frames" => stages.frames = true,
                "async_pool" => stages.async_pool = true,
                "typed_key" => stages.typed_key = true,
                _ => {
                    let i = Workload::ALL.iter().position(|w| w.name() == name);
                    let known = Stages::NAMES.join(", ");
                    let i = i.ok_or_else(|| format!("unknown stage `{name}` (known: {known})"))?;
                    stages.workloads[i] = true;
                }
            }
        }
        Ok(stages)
    }

    /// Whether `workload` is measured.
    pub fn includes(&self, workload: Workload) -> bool {
        let i = Workload::ALL.iter().position(|&w| w == workload);
        i.is_some_and(|i| self.workloads[i])
    }
}

impl Plan {
    /// The default run: well under a minute on two cores.
    pub fn short() -> Plan {
        Plan {
            sizes: Sizes::BENCH,
            rounds: 9,
            warmup_rounds: 1,
            round_trip_reps: 300,
            blocked_per_round: 5,
            alloc_dispatches: 1_000,
            frames_per_round: 3,
            idle_ms: 1000,
            async_awaits: AWAITS,
            key_pairs: KEY_PAIRS,
            stages: Stages::ALL,
        }
    }

    /// `--smoke` (hidden): tiny sizes, two rounds; checks that every piece
    /// runs (tests, CI), measures nothing worth quoting.
    pub fn smoke() -> Plan {
        Plan {
            sizes: Sizes::TINY,
            rounds: 2,
            warmup_rounds: 1,
            round_trip_reps: 5,
            blocked_per_round: 2,
            alloc_dispatches: 50,
            frames_per_round: 1,
            idle_ms: 100,
            async_awaits: 2,
            key_pairs: 2,
            stages: Stages::ALL,
        }
    }

    /// `--full`: more rounds and repetitions, for numbers to quote.
    pub fn full() -> Plan {
        Plan {
            sizes: Sizes::BENCH,
            rounds: 31,
            warmup_rounds: 3,
            round_trip_reps: 2_000,
            blocked_per_round: 10,
            alloc_dispatches: 10_000,
            frames_per_round: 5,
            idle_ms: 1000,
            async_awaits: AWAITS,
            key_pairs: KEY_PAIRS,
            stages: Stages::ALL,
        }
    }
}

/// Samples of one workload, in nanoseconds, one per recorded round per
/// contender (paired by round).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadSamples {
    /// The workload.
    pub workload: Workload,
    /// Per contender, its samples in round order.
    pub samples: Vec<(Contender, Vec<f64>)>,
}

impl WorkloadSamples {
    fn new(workload: Workload) -> Self {
        let samples = workload
            .contenders()
            .iter()
            .map(|&c| (c, Vec::new()))
            .collect();
        WorkloadSamples { workload, samples }
    }

    /// The samples of `contender` (empty if it did not run).
    pub fn of(&self, contender: Contender) -> &[f64] {
        self.samples
            .iter()
            .find(|(c, _)| *c == contender)
            .map_or(&[], |(_, s)| s.as_slice())
    }

    fn push(&mut self, contender: Contender, elapsed: Duration) {
        if let Some((_, s)) = self.samples.iter_mut().find(|(c, _)| *c == contender) {
            s.push(elapsed.as_secs_f64() * 1e9);
        }
    }
}

/// Everything measured by one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurements {
    /// Timings per workload.
    pub workloads: Vec<WorkloadSamples>,
    /// How long `dispatch` held the master, in nanoseconds.
    pub blocked_ns: Vec<f64>,
    /// The same with the actors still awake from a previous job, in ns.
    pub blocked_awake_ns: Vec<f64>,
    /// One wake-up of a thread asleep on another CPU, by a bare thread
    /// ([`wake_floor`](super::wake_floor)), in ns; empty if not measurable.
    pub wake_floor_ns: Vec<f64>,
    /// Allocations per dispatch.
    pub allocations: Allocations,
    /// The frame pattern, per [`Pattern`] measured.
    pub frames: Vec<(Pattern, FrameSamples)>,
    /// CPU time the process used over [`Plan::idle_ms`] of idleness, ns.
    pub idle_cpu_ns: Option<f64>,
    /// The async-pool row, if measured.
    pub async_pool: Option<AsyncSamples>,
    /// Typed key against string dispatch, if measured.
    pub typed_key: Option<KeySamples>,
}

/// What the runner is doing, for a progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Round, from 1 (warm-up rounds included).
    pub round: usize,
    /// Rounds in all (warm-up rounds included).
    pub rounds: usize,
    /// What is being measured.
    pub stage: &'static str,
    /// Whether this is the round's first stage.
    pub first_in_round: bool,
}

/// Runs `plan` on `contenders`, calling `progress` before each stage.
pub fn run(
    contenders: &mut Contenders,
    plan: &Plan,
    progress: &mut dyn FnMut(Progress),
) -> Result<Measurements, BenchError> {
    let mut workloads: Vec<_> = Workload::ALL
        .into_iter()
        .filter(|&w| plan.stages.includes(w))
        .map(WorkloadSamples::new)
        .collect();
    let (mut blocked_ns, mut blocked_awake_ns) = (Vec::new(), Vec::new());
    let mut wake_floor_ns = Vec::new();
    let floor = plan
        .stages
        .master_blocked
        .then(super::wake_floor::WakeFloor::start)
        .flatten();
    let rounds = plan.warmup_rounds + plan.rounds;
    for round in 0..rounds {
        let recording = round >= plan.warmup_rounds;
        let mut tell = |stage, first_in_round| {
            let round = round + 1;
            progress(Progress {
                round,
                rounds,
                stage,
                first_in_round,
            })
        };
        for (i, samples) in workloads.iter_mut().enumerate() {
            tell(samples.workload.name(), i == 0);
            run_round(contenders, samples, round, plan.round_trip_reps, recording)?;
        }
        if plan.stages.master_blocked {
            tell("master_blocked", workloads.is_empty());
            let asleep = sample_blocked(contenders, plan.blocked_per_round, false)?;
            let floor_ns = floor
                .as_ref()
                .and_then(|f| f.sample(plan.blocked_per_round));
            let awake = sample_blocked(contenders, plan.blocked_per_round, true)?;
            if recording {
                blocked_ns.extend(asleep);
                wake_floor_ns.extend(floor_ns.unwrap_or_default());
                blocked_awake_ns.extend(awake);
            }
        }
    }
    let allocations = if plan.stages.allocations {
        progress(Progress {
            round: rounds,
            rounds,
            stage: "allocations",
            first_in_round: false,
        });
        contenders.allocations(plan.alloc_dispatches)?
    } else {
        contenders.allocations(0)?
    };
    Ok(Measurements {
        workloads,
        blocked_ns,
        blocked_awake_ns,
        wake_floor_ns,
        allocations,
        frames: Vec::new(),
        idle_cpu_ns: None,
        async_pool: None,
        typed_key: None,
    })
}

/// The frame pattern's samples, and the idle CPU time measured after it.
pub type FrameMeasurements = (Vec<(Pattern, FrameSamples)>, Option<f64>);

/// Runs the frame pattern of `plan` (if selected) with a rayon pool and a
/// dispatcher of `actors` of its own, calling `progress` before each round,
/// then measures the CPU time of [`Plan::idle_ms`] of idleness. Rounds as
/// in [`run`]: warm-up rounds first, contenders rotating.
pub fn run_frames(
    actors: usize,
    plan: &Plan,
    progress: &mut dyn FnMut(Progress),
) -> Result<FrameMeasurements, BenchError> {
    if !plan.stages.frames {
        return Ok((Vec::new(), None));
    }
    let mut frames = Frames::new(actors, plan.sizes.sweep)?;
    let mut out: Vec<_> = Pattern::ALL
        .into_iter()
        .map(|p| (p, FrameSamples::default()))
        .collect();
    let rounds = plan.warmup_rounds + plan.rounds;
    for round in 0..rounds {
        progress(Progress {
            round: round + 1,
            rounds,
            stage: "frames",
            first_in_round: true,
        });
        for (pattern, samples) in &mut out {
            let mut scratch = FrameSamples::default();
            let target = if round >= plan.warmup_rounds {
                samples
            } else {
                &mut scratch
            };
            frames.round(*pattern, round, plan.frames_per_round, target)?;
        }
    }
    let idle = super::frames::idle_cpu_ns(Duration::from_millis(plan.idle_ms));
    drop(frames);
    Ok((out, idle))
}

/// Awaits per contender per round of the async-pool row (short and full
/// runs): the per-round median of so few is not used, every await is a
/// sample.
const AWAITS: usize = 20;

/// Runs the async-pool row of `plan` (if selected) with a dispatcher, a
/// rayon pool and a tokio runtime of its own, calling `progress` before
/// each round. Rounds as in [`run`]: warm-up rounds first, contenders
/// rotating.
pub fn run_async_pool(
    actors: usize,
    plan: &Plan,
    progress: &mut dyn FnMut(Progress),
) -> Result<Option<AsyncSamples>, BenchError> {
    if !plan.stages.async_pool {
        return Ok(None);
    }
    let mut pool = AsyncPool::new(actors)?;
    let mut out = AsyncSamples::default();
    let rounds = plan.warmup_rounds + plan.rounds;
    for round in 0..rounds {
        progress(Progress {
            round: round + 1,
            rounds,
            stage: "async_pool",
            first_in_round: true,
        });
        let mut scratch = AsyncSamples::default();
        let target = if round >= plan.warmup_rounds {
            &mut out
        } else {
            &mut scratch
        };
        pool.round(round, plan.async_awaits, target)?;
    }
    Ok(Some(out))
}

/// Pairs of dispatches per round of the typed-key comparison (short and
/// full runs).
const KEY_PAIRS: usize = 50;

/// Runs the typed-key comparison of `plan` (if selected) with a dispatcher
/// of its own, calling `progress` before each round; warm-up rounds first.
pub fn run_typed_key(
    actors: usize,
    plan: &Plan,
    progress: &mut dyn FnMut(Progress),
) -> Result<Option<KeySamples>, BenchError> {
    if !plan.stages.typed_key {
        return Ok(None);
    }
    let mut key = TypedKey::new(actors)?;
    let mut out = KeySamples::default();
    let rounds = plan.warmup_rounds + plan.rounds;
    for round in 0..rounds {
        progress(Progress {
            round: round + 1,
            rounds,
            stage: "typed_key",
            first_in_round: true,
        });
        let mut scratch = KeySamples::default();
        let target = if round >= plan.warmup_rounds {
            &mut out
        } else {
            &mut scratch
        };
        key.round(round, plan.key_pairs, target)?;
    }
    Ok(Some(out))
}

/// `count` master-blocked samples, in ns, each after [`SETTLE`]: unless
/// `awake`, the actors are asleep when the job is dispatched, as between a
/// game's frames.
fn sample_blocked(
    contenders: &mut Contenders,
    count: usize,
    awake: bool,
) -> Result<Vec<f64>, BenchError> {
    (0..count)
        .map(|_| {
            std::thread::sleep(SETTLE);
            Ok(contenders.sample_blocked(awake)?.as_secs_f64() * 1e9)
        })
        .collect()
}

/// Untimed pause before every sample, so that the previous contender's
/// threads have stopped spinning and gone to sleep (rayon's and weavekit's
/// idle threads both spin for tens of microseconds after a job). Without it
/// whoever runs right after a parallel contender shares the cores with its
/// spinning threads, and rotation alone does not even that out: with three
/// contenders, weavekit would follow rayon in two rounds of three.
pub const SETTLE: Duration = Duration::from_millis(2);

/// One round of one workload: every contender once, starting with a
/// different one each round, each after [`SETTLE`].
fn run_round(
    contenders: &mut Contenders,
    samples: &mut WorkloadSamples,
    round: usize,
    reps: usize,
    recording: bool,
) -> Result<(), BenchError> {
    for contender in rotated(samples.workload.contenders(), round) {
        std::thread::sleep(SETTLE);
        let elapsed = contenders.sample(samples.workload, contender, reps)?;
        if recording {
            samples.push(contender, elapsed);
        }
    }
    Ok(())
}

/// `items` rotated left by `by`.
pub fn rotated<T: Copy>(items: &[T], by: usize) -> Vec<T> {
    let mut out = items.to_vec();
    if !out.is_empty() {
        let len = out.len();
        out.rotate_left(by % len);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_changes_who_goes_first() {
        assert_eq!(rotated(&[1, 2, 3], 0), [1, 2, 3]);
        assert_eq!(rotated(&[1, 2, 3], 1), [2, 3, 1]);
        assert_eq!(rotated(&[1, 2, 3], 4), [2, 3, 1]);
        assert!(rotated::<u8>(&[], 3).is_empty());
    }

    #[test]
    fn short_plan_is_shorter_than_full() {
        let (short, full) = (Plan::short(), Plan::full());
        assert!(short.rounds < full.rounds && short.round_trip_reps < full.round_trip_reps);
        assert!(short.rounds >= 5, "medians need several rounds");
    }

    #[test]
    fn only_parses_stage_lists() {
        let stages = Stages::parse("fine, master_blocked").unwrap();
        assert!(stages.includes(Workload::Fine) && stages.master_blocked);
        assert!(!stages.includes(Workload::Sweep) && !stages.allocations);
        assert!(!stages.async_pool && Stages::parse("async_pool").unwrap().async_pool);
        assert!(!stages.typed_key && Stages::parse("typed_key").unwrap().typed_key);
        assert_eq!(Stages::parse(&Stages::NAMES.join(",")), Ok(Stages::ALL));
        assert!(Stages::parse("fine,nope").unwrap_err().contains("nope"));
    }

    #[test]
    fn samples_are_kept_per_contender() {
        let mut s = WorkloadSamples::new(Workload::Uneven);
        s.push(Contender::StaticSplit, Duration::from_micros(2));
        s.push(Contender::Rayon, Duration::from_nanos(5));
        assert_eq!(s.of(Contender::StaticSplit), [2000.0]);
        assert_eq!(s.of(Contender::Rayon), [5.0]);
        assert!(s.of(Contender::Weavekit).is_empty());
    }
}
