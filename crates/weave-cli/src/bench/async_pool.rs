//! The async-pool row (issue 9): a 64-item job awaited from async code.
//!
//! Three ways an async program hands CPU work to a pool and awaits it, in
//! the same process, on a tokio current-thread runtime driven by the
//! master thread:
//!
//! - **weavekit**: `dispatcher.job(FINE_KEY, 64).future(())`, a
//!   `JobFuture` resolved by the actor that finishes the job;
//! - **spawn_blocking**: `tokio::task::spawn_blocking` running the 64
//!   items serially on tokio's blocking thread;
//! - **rayon**: `pool.spawn` of a `par_iter` over the 64 items, the results
//!   sent back through a `tokio::sync::oneshot`.
//!
//! The sample is one await, from the dispatch to the results in the task.
//! Each contender runs a few awaits per round, in an order that rotates
//! with the round, after [`SETTLE`]; every result is checked against the
//! serial checksum. Ratios are medians of per-await ratios paired by their
//! place in the round. The first await after each [`SETTLE`] is also kept
//! apart: the pool's threads are asleep then (an async server between
//! requests), while the awaits that follow find them still spinning.

use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::Serialize;
use weavekit::Dispatcher;

use super::error::BenchError;
use super::runner::{rotated, SETTLE};
use crate::stats::{median, median_ratio};
use crate::workloads::checksum;
use crate::workloads::kernels::fine;
use crate::workloads::worker::{jobs, worker};

/// Items of the awaited job.
pub const ITEMS: usize = 64;

/// The contenders, in the order of [`AsyncSamples::times`].
pub const CONTENDERS: [&str; 3] = ["weavekit", "spawn_blocking", "rayon"];

/// Per-await samples, ns, per contender of [`CONTENDERS`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AsyncSamples {
    /// Samples per contender, in the order they ran.
    pub times: [Vec<f64>; 3],
    /// Per contender, the first await of each round (after [`SETTLE`],
    /// the threads asleep); also in `times`.
    pub asleep: [Vec<f64>; 3],
}

/// A dispatcher, a rayon pool of the same size and a current-thread tokio
/// runtime, with the serial checksum of the job.
pub struct AsyncPool {
    dispatcher: Dispatcher,
    pool: rayon::ThreadPool,
    runtime: tokio::runtime::Runtime,
    expected: u64,
}

impl AsyncPool {
    /// `actors` actors and as many rayon threads.
    ///
    /// # Errors
    ///
    /// If the dispatcher, the pool or the runtime cannot be built.
    pub fn new(actors: usize) -> Result<AsyncPool, BenchError> {
        let dispatcher = Dispatcher::new(actors, worker)?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(actors)
            .build()
            .map_err(|e| BenchError::Rayon(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| BenchError::Async(e.to_string()))?;
        let serial: Vec<u64> = (0..ITEMS).map(fine).collect();
        Ok(AsyncPool {
            dispatcher,
            pool,
            runtime,
            expected: checksum(&serial),
        })
    }

    /// One round: `awaits` awaits per contender, contenders rotated by
    /// `round`, each contender after [`SETTLE`]; samples go to `out`.
    ///
    /// # Errors
    ///
    /// If a contender fails or computes a wrong checksum.
    pub fn round(
        &mut self,
        round: usize,
        awaits: usize,
        out: &mut AsyncSamples,
    ) -> Result<(), BenchError> {
        for i in rotated(&[0, 1, 2], round) {
            std::thread::sleep(SETTLE);
            for k in 0..awaits {
                let (time, sum) = self.await_once(i)?;
                check(i, self.expected, sum)?;
                let ns = time.as_secs_f64() * 1e9;
                out.times[i].push(ns);
                if k == 0 {
                    out.asleep[i].push(ns);
                }
            }
        }
        Ok(())
    }

    /// One await on contender `i` of [`CONTENDERS`]: (time, checksum).
    fn await_once(&mut self, i: usize) -> Result<(Duration, u64), BenchError> {
        let (dispatcher, pool) = (&self.dispatcher, &self.pool);
        let (time, sum) = self.runtime.block_on(async move {
            let start = Instant::now();
            let values: Vec<u64> = match i {
                0 => dispatcher.job(jobs::FINE_KEY, ITEMS).future(())?.await?,
                1 => tokio::task::spawn_blocking(|| (0..ITEMS).map(fine).collect())
                    .await
                    .map_err(|e| BenchError::Async(e.to_string()))?,
                _ => {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    pool.spawn(move || {
                        // The receiver only goes away if the task was dropped.
                        let _ = tx.send((0..ITEMS).into_par_iter().map(fine).collect());
                    });
                    rx.await.map_err(|e| BenchError::Async(e.to_string()))?
                }
            };
            Ok::<_, BenchError>((start.elapsed(), checksum(&values)))
        })?;
        // Reclaims the finished weavekit job (nothing to do otherwise).
        self.dispatcher.poll();
        Ok((time, sum))
    }
}

fn check(i: usize, expected: u64, found: u64) -> Result<(), BenchError> {
    if found == expected {
        return Ok(());
    }
    Err(BenchError::Checksum {
        workload: "async_pool",
        contender: CONTENDERS[i],
        expected,
        found,
    })
}

/// The row's results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AsyncPoolReport {
    /// Items of the job ([`ITEMS`]).
    pub items: usize,
    /// Awaits per contender.
    pub awaits: usize,
    /// Of those, the first of each round (the threads asleep).
    pub asleep_awaits: usize,
    /// Median per-await latency per contender of [`CONTENDERS`], ns.
    pub median_ns: Vec<(&'static str, Option<f64>)>,
    /// weavekit / spawn_blocking (median of per-await ratios; lower is
    /// better for weavekit).
    pub weavekit_over_spawn_blocking: Option<f64>,
    /// weavekit / rayon (median of per-await ratios).
    pub weavekit_over_rayon: Option<f64>,
    /// As `median_ns`, over the first await of each round only (the
    /// threads asleep).
    pub asleep_median_ns: Vec<(&'static str, Option<f64>)>,
    /// weavekit / rayon over those first awaits (median of per-round
    /// ratios).
    pub asleep_weavekit_over_rayon: Option<f64>,
    /// Every sample per contender, ns.
    pub samples_ns: Vec<(&'static str, Vec<f64>)>,
}

impl AsyncPoolReport {
    /// Summarises `samples`.
    pub fn new(samples: &AsyncSamples) -> AsyncPoolReport {
        let t = &samples.times;
        AsyncPoolReport {
            items: ITEMS,
            awaits: t[0].len(),
            asleep_awaits: samples.asleep[0].len(),
            median_ns: (0..3).map(|i| (CONTENDERS[i], median(&t[i]))).collect(),
            weavekit_over_spawn_blocking: median_ratio(&t[0], &t[1]),
            weavekit_over_rayon: median_ratio(&t[0], &t[2]),
            asleep_median_ns: (0..3)
                .map(|i| (CONTENDERS[i], median(&samples.asleep[i])))
                .collect(),
            asleep_weavekit_over_rayon: median_ratio(&samples.asleep[0], &samples.asleep[2]),
            samples_ns: (0..3).map(|i| (CONTENDERS[i], t[i].clone())).collect(),
        }
    }

    /// The median latency of `contender` (a name of [`CONTENDERS`]), ns.
    pub fn median_of(&self, contender: &str) -> Option<f64> {
        let found = self.median_ns.iter().find(|(n, _)| *n == contender);
        found.and_then(|(_, v)| *v)
    }

    /// As [`AsyncPoolReport::median_of`], over the first await of each
    /// round (the threads asleep).
    pub fn asleep_median_of(&self, contender: &str) -> Option<f64> {
        let found = self.asleep_median_ns.iter().find(|(n, _)| *n == contender);
        found.and_then(|(_, v)| *v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_contender_computes_the_job() {
        let mut pool = AsyncPool::new(2).unwrap();
        let mut samples = AsyncSamples::default();
        // `round` fails with `BenchError::Checksum` on any difference.
        pool.round(1, 3, &mut samples).unwrap();
        pool.round(2, 3, &mut samples).unwrap();
        assert!(samples.times.iter().all(|t| t.len() == 6));
        // One await per contender per round found the threads asleep: the
        // first, also among all the others.
        assert!(samples.asleep.iter().all(|t| t.len() == 2));
        for (asleep, all) in samples.asleep.iter().zip(&samples.times) {
            assert_eq!(asleep[..], [all[0], all[3]]);
        }
        let report = AsyncPoolReport::new(&samples);
        assert_eq!((report.items, report.awaits), (64, 6));
        assert!(report.weavekit_over_spawn_blocking.is_some());
        assert!(report.weavekit_over_rayon.is_some());
        assert!(CONTENDERS.iter().all(|c| report.median_of(c).is_some()));
    }

    #[test]
    fn a_wrong_checksum_is_an_error() {
        assert!(check(0, 1, 1).is_ok());
        let err = check(2, 1, 2).unwrap_err();
        assert!(err.to_string().contains("rayon"), "{err}");
    }

    #[test]
    fn ratios_pair_awaits() {
        let samples = AsyncSamples {
            times: [vec![10.0, 20.0], vec![20.0, 40.0], vec![5.0, 10.0]],
            asleep: [vec![10.0], vec![20.0], vec![40.0]],
        };
        let report = AsyncPoolReport::new(&samples);
        assert_eq!(report.weavekit_over_spawn_blocking, Some(0.5));
        assert_eq!(report.weavekit_over_rayon, Some(2.0));
        assert_eq!(report.median_of("weavekit"), Some(15.0));
        assert_eq!(report.asleep_median_of("rayon"), Some(40.0));
        assert_eq!(report.asleep_weavekit_over_rayon, Some(0.25));
    }
}
