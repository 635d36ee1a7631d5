//! Typed key against string dispatch (issue 9): what the master pays to
//! dispatch the same small tracked job through `dispatcher.job(FINE_KEY,
//! 64).tracked(..)` and through `dispatcher.dispatch("fine", 64, ..)`.
//!
//! Samples come in pairs, one of each, the order alternating from pair to
//! pair so neither always finds the actors just woken by the other; each
//! job is waited for and its results checked against the serial checksum
//! before the next. The sample is the dispatch call alone; the ratio is the
//! median of per-pair ratios (typed / string: at most 1 means the typed
//! key costs nothing extra).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use serde::Serialize;
use weavekit::{Dispatcher, Error};

use super::error::BenchError;
use super::runner::rotated;
use crate::stats::{median, median_ratio};
use crate::workloads::checksum;
use crate::workloads::kernels::fine;
use crate::workloads::worker::{jobs, worker};

/// Items of the dispatched job.
pub const ITEMS: usize = 64;

/// The two ways to dispatch, in the order of [`KeySamples::times`].
pub const CONTENDERS: [&str; 2] = ["string", "typed"];

/// Dispatch times, ns, per contender of [`CONTENDERS`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeySamples {
    /// Samples per contender, paired by index.
    pub times: [Vec<f64>; 2],
}

type Slot = Rc<RefCell<Option<Result<Vec<u64>, Error>>>>;

/// A dispatcher of its own and the serial checksum of the job.
pub struct TypedKey {
    dispatcher: Dispatcher,
    slot: Slot,
    expected: u64,
}

impl TypedKey {
    /// A dispatcher of `actors` actors.
    ///
    /// # Errors
    ///
    /// If the dispatcher cannot be built.
    pub fn new(actors: usize) -> Result<TypedKey, BenchError> {
        let serial: Vec<u64> = (0..ITEMS).map(fine).collect();
        Ok(TypedKey {
            dispatcher: Dispatcher::new(actors, worker)?,
            slot: Slot::default(),
            expected: checksum(&serial),
        })
    }

    /// `pairs` pairs of samples into `out`, the first pair's order set by
    /// `round`.
    ///
    /// # Errors
    ///
    /// If a dispatch fails or a job computes a wrong checksum.
    pub fn round(
        &mut self,
        round: usize,
        pairs: usize,
        out: &mut KeySamples,
    ) -> Result<(), BenchError> {
        for pair in 0..pairs {
            for i in rotated(&[0, 1], round + pair) {
                let ns = self.dispatch_once(i)?;
                out.times[i].push(ns);
            }
        }
        Ok(())
    }

    /// One dispatch through contender `i`, waited for and checked: the
    /// dispatch call's time, ns.
    fn dispatch_once(&mut self, i: usize) -> Result<f64, BenchError> {
        let slot = Rc::clone(&self.slot);
        let callback = move |buf| *slot.borrow_mut() = Some(buf);
        let start = Instant::now();
        if i == 0 {
            self.dispatcher
                .dispatch(jobs::FINE, ITEMS, callback, None, ())?;
        } else {
            self.dispatcher
                .job(jobs::FINE_KEY, ITEMS)
                .tracked((), callback)?;
        }
        let ns = start.elapsed().as_secs_f64() * 1e9;
        self.dispatcher.wait();
        let buf = self.slot.borrow_mut().take();
        let buf = buf.ok_or(BenchError::NoCallback { job: jobs::FINE })??;
        let found = checksum(&buf);
        if found != self.expected {
            return Err(BenchError::Checksum {
                workload: "typed_key",
                contender: CONTENDERS[i],
                expected: self.expected,
                found,
            });
        }
        Ok(ns)
    }
}

/// The comparison's results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypedKeyReport {
    /// Items of the job ([`ITEMS`]).
    pub items: usize,
    /// Dispatches per contender.
    pub dispatches: usize,
    /// Median dispatch time through the string name, ns.
    pub string_median_ns: Option<f64>,
    /// Median dispatch time through the typed key, ns.
    pub typed_median_ns: Option<f64>,
    /// typed / string, median of per-pair ratios.
    pub typed_over_string: Option<f64>,
    /// Every sample per contender, ns.
    pub samples_ns: Vec<(&'static str, Vec<f64>)>,
}

impl TypedKeyReport {
    /// Summarises `samples`.
    pub fn new(samples: &KeySamples) -> TypedKeyReport {
        let t = &samples.times;
        TypedKeyReport {
            items: ITEMS,
            dispatches: t[0].len(),
            string_median_ns: median(&t[0]),
            typed_median_ns: median(&t[1]),
            typed_over_string: median_ratio(&t[1], &t[0]),
            samples_ns: (0..2).map(|i| (CONTENDERS[i], t[i].clone())).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_dispatches_compute_the_job() {
        let mut key = TypedKey::new(2).unwrap();
        let mut samples = KeySamples::default();
        // `round` fails with `BenchError::Checksum` on any difference.
        key.round(0, 3, &mut samples).unwrap();
        key.round(1, 2, &mut samples).unwrap();
        assert!(samples.times.iter().all(|t| t.len() == 5));
        let report = TypedKeyReport::new(&samples);
        assert_eq!((report.items, report.dispatches), (64, 5));
        assert!(report.typed_over_string.is_some());
    }

    #[test]
    fn the_ratio_pairs_dispatches() {
        let samples = KeySamples {
            times: [vec![100.0, 200.0, 300.0], vec![100.0, 100.0, 600.0]],
        };
        let report = TypedKeyReport::new(&samples);
        // Per pair: 1.0, 0.5, 2.0.
        assert_eq!(report.typed_over_string, Some(1.0));
        assert_eq!(report.string_median_ns, Some(200.0));
    }
}
