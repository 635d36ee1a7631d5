//! `weave bench --profile WORKLOAD/CONTENDER` (hidden): runs one workload on
//! one contender in a loop and nothing else, for `perf stat` or
//! `valgrind --tool=callgrind` to look at.
//!
//! ```text
//! perf stat -e task-clock,context-switches,instructions \
//!     weave bench --profile round_trip/weavekit --iters 20000
//! valgrind --tool=callgrind --collect-atstart=no \
//!     --toggle-collect='*profile_loop*' weave bench --profile master_blocked/weavekit
//! ```

use std::time::{Duration, Instant};

use super::contenders::{Contender, Contenders, Workload};
use super::error::BenchError;
use crate::workloads::Sizes;

/// What `--profile` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// One workload on one contender.
    Sample(Workload, Contender),
    /// `dispatch` of the master-blocked job (the job then runs, untimed).
    MasterBlocked,
}

impl Target {
    /// Parses `WORKLOAD/CONTENDER` (names as in the table) or
    /// `master_blocked/weavekit`.
    pub fn parse(text: &str) -> Result<Target, String> {
        let (workload, contender) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}`: expected WORKLOAD/CONTENDER"))?;
        if (workload, contender) == ("master_blocked", "weavekit") {
            return Ok(Target::MasterBlocked);
        }
        let w = Workload::from_name(workload).ok_or_else(|| format!("no workload `{workload}`"))?;
        let c =
            Contender::from_name(contender).ok_or_else(|| format!("no contender `{contender}`"))?;
        if !w.contenders().contains(&c) {
            return Err(format!("`{contender}` does not run `{workload}`"));
        }
        Ok(Target::Sample(w, c))
    }
}

/// Runs `target` `iters` times on `actors` and prints the mean time per
/// iteration on stdout.
pub fn profile(target: Target, iters: usize, actors: usize) -> Result<(), BenchError> {
    let mut contenders = Contenders::new(actors, Sizes::BENCH)?;
    let start = Instant::now();
    let measured = profile_loop(&mut contenders, target, iters)?;
    let wall = start.elapsed();
    let per = |d: Duration| d / iters.max(1) as u32;
    println!(
        "{target:?} x {iters}: {:?} per iteration measured, {:?} wall",
        per(measured),
        per(wall)
    );
    Ok(())
}

/// The loop itself, a separate function for callgrind's `--toggle-collect`.
#[inline(never)]
fn profile_loop(
    contenders: &mut Contenders,
    target: Target,
    iters: usize,
) -> Result<Duration, BenchError> {
    (0..iters)
        .map(|_| match target {
            Target::Sample(workload, contender) => contenders.sample(workload, contender, 1),
            Target::MasterBlocked => contenders.sample_blocked(false),
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_workload_and_contender() {
        assert_eq!(
            Target::parse("round_trip/weavekit"),
            Ok(Target::Sample(Workload::RoundTrip, Contender::Weavekit))
        );
        assert_eq!(
            Target::parse("uneven/static"),
            Ok(Target::Sample(Workload::Uneven, Contender::StaticSplit))
        );
        assert_eq!(
            Target::parse("master_blocked/weavekit"),
            Ok(Target::MasterBlocked)
        );
        assert!(Target::parse("sweep").is_err());
        assert!(Target::parse("sweep/static").is_err());
        assert!(Target::parse("nope/rayon").is_err());
    }
}
