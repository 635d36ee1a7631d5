//! The rounds: every contender of every workload once per round, in an
//! order that rotates from round to round, after unrecorded warm-up rounds.
//!
//! Interleaving is what makes the ratios trustworthy on a shared machine: a
//! burst of load from another process lands on one round of all
//! contenders, not on all rounds of one contender.

use std::time::Duration;

use serde::Serialize;

use super::contenders::{Allocations, Contender, Contenders, Workload};
use super::error::BenchError;

/// How much to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Plan {
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
}

impl Plan {
    /// The default run: well under a minute on two cores.
    pub fn short() -> Plan {
        Plan {
            rounds: 9,
            warmup_rounds: 1,
            round_trip_reps: 300,
            blocked_per_round: 5,
            alloc_dispatches: 1_000,
        }
    }

    /// `--full`: more rounds and repetitions, for numbers to quote.
    pub fn full() -> Plan {
        Plan {
            rounds: 31,
            warmup_rounds: 3,
            round_trip_reps: 2_000,
            blocked_per_round: 10,
            alloc_dispatches: 10_000,
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
        let samples = workload.contenders().iter().map(|&c| (c, Vec::new())).collect();
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
    /// Allocations per dispatch.
    pub allocations: Allocations,
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
}

/// Runs `plan` on `contenders`, calling `progress` before each stage.
pub fn run(
    contenders: &mut Contenders,
    plan: &Plan,
    progress: &mut dyn FnMut(Progress),
) -> Result<Measurements, BenchError> {
    let mut workloads: Vec<_> = Workload::ALL.into_iter().map(WorkloadSamples::new).collect();
    let mut blocked_ns = Vec::new();
    let rounds = plan.warmup_rounds + plan.rounds;
    for round in 0..rounds {
        let recording = round >= plan.warmup_rounds;
        for samples in &mut workloads {
            let stage = samples.workload.name();
            progress(Progress { round: round + 1, rounds, stage });
            run_round(contenders, samples, round, plan.round_trip_reps, recording)?;
        }
        progress(Progress { round: round + 1, rounds, stage: "master_blocked" });
        for _ in 0..plan.blocked_per_round {
            let blocked = contenders.sample_blocked()?;
            if recording {
                blocked_ns.push(blocked.as_secs_f64() * 1e9);
            }
        }
    }
    progress(Progress { round: rounds, rounds, stage: "allocations" });
    let allocations = contenders.allocations(plan.alloc_dispatches)?;
    Ok(Measurements { workloads, blocked_ns, allocations })
}

/// One round of one workload: every contender once, starting with a
/// different one each round.
fn run_round(
    contenders: &mut Contenders,
    samples: &mut WorkloadSamples,
    round: usize,
    reps: usize,
    recording: bool,
) -> Result<(), BenchError> {
    for contender in rotated(samples.workload.contenders(), round) {
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
    fn samples_are_kept_per_contender() {
        let mut s = WorkloadSamples::new(Workload::Uneven);
        s.push(Contender::StaticSplit, Duration::from_micros(2));
        s.push(Contender::Rayon, Duration::from_nanos(5));
        assert_eq!(s.of(Contender::StaticSplit), [2000.0]);
        assert_eq!(s.of(Contender::Rayon), [5.0]);
        assert!(s.of(Contender::Weavekit).is_empty());
    }
}
