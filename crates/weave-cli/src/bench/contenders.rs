//! The contenders (serial code, a rayon pool, weavekit, weavekit with the
//! original's static split) and one timed sample of a workload on each.
//!
//! Fairness rules, kept in one place:
//! - rayon gets a pool built once with as many threads as weavekit has
//!   actors; weavekit gets one dispatcher built once; both are warm.
//! - Every contender computes the same items with the same function and
//!   collects them into a `Vec` in id order; buffers are dropped and
//!   checksums computed outside the timed region.
//! - Every sample is checked against the serial run's checksum, so a broken
//!   contender fails the bench instead of winning it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::Serialize;
use weavekit::Dispatcher;

use super::error::BenchError;
use crate::alloc_count;
use crate::workloads::kernels::{fine, uneven};
use crate::workloads::sweep::{Scene, SweepParams};
use crate::workloads::worker::{jobs, worker};
use crate::workloads::{checksum, Sizes};

/// Who runs a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Contender {
    /// A plain loop on the calling thread.
    Serial,
    /// `pool.install(|| (0..n).into_par_iter().map(f).collect())`.
    Rayon,
    /// weavekit with its default batching.
    Weavekit,
    /// weavekit with the original Weave's static split: one contiguous
    /// range per actor (`batch_size = ceil(items / actors)`).
    StaticSplit,
}

impl Contender {
    /// The name used in the table and the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Contender::Serial => "serial",
            Contender::Rayon => "rayon",
            Contender::Weavekit => "weavekit",
            Contender::StaticSplit => "static",
        }
    }

    /// Every contender.
    pub const ALL: [Contender; 4] = [
        Contender::Serial,
        Contender::Rayon,
        Contender::Weavekit,
        Contender::StaticSplit,
    ];

    /// The contender called `name` ([`Contender::name`]).
    pub fn from_name(name: &str) -> Option<Contender> {
        Contender::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// A timed workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Workload {
    /// 10,000 items casting 8 rays each against ~100 spheres.
    Sweep,
    /// 1,000,000 items of a few nanoseconds each.
    Fine,
    /// Item cost proportional to the id.
    Uneven,
    /// One 64-item job from dispatch to callback (time per job).
    RoundTrip,
}

impl Workload {
    /// Every workload, in table order.
    pub const ALL: [Workload; 4] = [
        Workload::Sweep,
        Workload::Fine,
        Workload::Uneven,
        Workload::RoundTrip,
    ];

    /// The name used in the table and the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Sweep => "sweep",
            Workload::Fine => "fine",
            Workload::Uneven => "uneven",
            Workload::RoundTrip => "round_trip",
        }
    }

    /// The workload called `name` ([`Workload::name`]).
    pub fn from_name(name: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == name)
    }

    /// Items per job with `sizes`.
    pub fn items(self, sizes: &Sizes) -> usize {
        match self {
            Workload::Sweep => sizes.sweep,
            Workload::Fine => sizes.fine,
            Workload::Uneven => sizes.uneven,
            Workload::RoundTrip => sizes.round_trip,
        }
    }

    /// The contenders that run this workload.
    pub fn contenders(self) -> &'static [Contender] {
        use Contender::*;
        match self {
            Workload::Uneven => &[Serial, Rayon, Weavekit, StaticSplit],
            _ => &[Serial, Rayon, Weavekit],
        }
    }

    /// The ratios reported for this workload, as (numerator, denominator)
    /// of median-per-round times.
    pub fn ratios(self) -> &'static [(Contender, Contender)] {
        use Contender::*;
        match self {
            Workload::Sweep | Workload::Fine => {
                &[(Weavekit, Rayon), (Serial, Weavekit), (Serial, Rayon)]
            }
            Workload::Uneven => &[
                (Weavekit, Rayon),
                (Serial, Weavekit),
                (StaticSplit, Weavekit),
                (Serial, Rayon),
            ],
            Workload::RoundTrip => &[(Weavekit, Rayon)],
        }
    }
}

/// Allocations per dispatch, counted by the binary's global allocator.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Allocations {
    /// Whether the counting allocator was installed (else all are `None`).
    pub counted: bool,
    /// Dispatches counted of each kind.
    pub dispatches: usize,
    /// Per tracked 64-item dispatch, callback included.
    pub tracked_per_dispatch: Option<f64>,
    /// Per detached 64-item dispatch.
    pub detached_per_dispatch: Option<f64>,
    /// Per rayon `install` + `collect` of 64 items (for reference).
    pub rayon_per_install: Option<f64>,
    /// Per tracked 64-item dispatch through a typed key, handing each
    /// result buffer back with `reuse`.
    pub reused_per_dispatch: Option<f64>,
    /// Per 64-item `JobFuture` dispatched and awaited on the master.
    pub future_per_dispatch: Option<f64>,
}

/// What a tracked job's callback receives.
type JobResult<R> = Result<Vec<R>, weavekit::Error>;

/// Where a tracked job's callback leaves its result.
struct Slot<R> {
    cell: Rc<RefCell<Option<JobResult<R>>>>,
}

impl<R: 'static> Slot<R> {
    fn new() -> Self {
        Slot {
            cell: Rc::new(RefCell::new(None)),
        }
    }

    /// A callback that stores the result here (allocates nothing).
    fn callback(&self) -> impl FnOnce(JobResult<R>) + 'static {
        let cell = Rc::clone(&self.cell);
        move |result| *cell.borrow_mut() = Some(result)
    }

    /// Takes the stored result.
    fn take(&self, job: &'static str) -> Result<Vec<R>, BenchError> {
        let result = self.cell.borrow_mut().take();
        result
            .ok_or(BenchError::NoCallback { job })?
            .map_err(BenchError::from)
    }
}

/// The contenders, built once and kept warm, with the serial run's
/// checksums to check every sample against.
pub struct Contenders {
    actors: usize,
    sizes: Sizes,
    pool: rayon::ThreadPool,
    dispatcher: Dispatcher,
    scene: Scene,
    params: SweepParams,
    hits: Slot<u32>,
    values: Slot<u64>,
    /// The buffer `reused_round_trip` hands back to the next dispatch.
    spare: Vec<u64>,
    /// Unparks the thread that built the contenders (the bench's master).
    waker: std::task::Waker,
    expected: HashMap<Workload, u64>,
    expected_blocked: u64,
}

impl Contenders {
    /// Builds a rayon pool of `actors` threads and a dispatcher of `actors`
    /// actors, and runs every workload (of `sizes`) serially once for its
    /// checksum.
    pub fn new(actors: usize, sizes: Sizes) -> Result<Contenders, BenchError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(actors)
            .thread_name(|i| format!("rayon-{i}"))
            .build()
            .map_err(|e| BenchError::Rayon(e.to_string()))?;
        let mut contenders = Contenders {
            actors,
            sizes,
            pool,
            dispatcher: Dispatcher::new(actors, worker)?,
            scene: Scene::benchmark(),
            params: SweepParams::default(),
            hits: Slot::new(),
            values: Slot::new(),
            spare: Vec::new(),
            waker: std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current()))),
            expected: HashMap::new(),
            expected_blocked: serial(sizes.blocked, fine).1,
        };
        for workload in Workload::ALL {
            let sum = contenders.run(workload, Contender::Serial)?.1;
            contenders.expected.insert(workload, sum);
        }
        Ok(contenders)
    }

    /// Actors of the dispatcher (and threads of the rayon pool).
    pub fn actors(&self) -> usize {
        self.actors
    }

    /// Items per job of each workload.
    pub fn sizes(&self) -> Sizes {
        self.sizes
    }

    /// The serial run's checksum of `workload`.
    pub fn expected_checksum(&self, workload: Workload) -> u64 {
        self.expected[&workload]
    }

    /// Runs `workload` once on `contender` (`reps` jobs for
    /// [`Workload::RoundTrip`]), checks its results, and returns the time
    /// per job.
    pub fn sample(
        &mut self,
        workload: Workload,
        contender: Contender,
        reps: usize,
    ) -> Result<Duration, BenchError> {
        let reps = if workload == Workload::RoundTrip {
            reps.max(1)
        } else {
            1
        };
        let mut total = Duration::ZERO;
        for _ in 0..reps {
            let (elapsed, sum) = self.run(workload, contender)?;
            self.check(workload, contender, sum)?;
            total += elapsed;
        }
        Ok(total / reps as u32)
    }

    /// How long `dispatch` of a [`Sizes::blocked`]-item job holds
    /// the calling thread (the job then runs to the end, untimed, and its
    /// results are checked). With `actors_awake`, a small job runs just
    /// before, so the actors are still spinning when the big one comes:
    /// that isolates the dispatcher's own cost from waking sleeping threads.
    pub fn sample_blocked(&mut self, actors_awake: bool) -> Result<Duration, BenchError> {
        if actors_awake {
            self.tracked_round_trip()?;
        }
        let callback = self.values.callback();
        let n = self.sizes.blocked;
        let start = Instant::now();
        self.dispatcher
            .dispatch(jobs::FINE, n, callback, None, ())?;
        let blocked = start.elapsed();
        self.dispatcher.wait();
        let buf = self.values.take(jobs::FINE)?;
        let (expected, found) = (self.expected_blocked, checksum(&buf));
        check_sum("master_blocked", Contender::Weavekit, expected, found)?;
        Ok(blocked)
    }

    /// Counts allocations per 64-item tracked and detached dispatch (and
    /// per rayon install), over `dispatches` of each after a warm-up.
    pub fn allocations(&mut self, dispatches: usize) -> Result<Allocations, BenchError> {
        let mut report = Allocations {
            counted: alloc_count::is_installed(),
            dispatches,
            tracked_per_dispatch: None,
            detached_per_dispatch: None,
            rayon_per_install: None,
            reused_per_dispatch: None,
            future_per_dispatch: None,
        };
        if !report.counted || dispatches == 0 {
            return Ok(report);
        }
        let per = |count: u64| Some(count as f64 / dispatches as f64);
        report.tracked_per_dispatch =
            per(self.count_repeated(dispatches, Self::tracked_round_trip)?);
        report.detached_per_dispatch =
            per(self.count_repeated(dispatches, Self::detached_round_trip)?);
        report.rayon_per_install = per(self.count_repeated(dispatches, Self::rayon_round_trip)?);
        report.reused_per_dispatch = per(self.count_repeated(dispatches, Self::reused_round_trip)?);
        report.future_per_dispatch = per(self.count_repeated(dispatches, Self::future_round_trip)?);
        Ok(report)
    }

    /// Runs `step` as a warm-up, then counts the allocations of `times` runs.
    fn count_repeated(
        &mut self,
        times: usize,
        step: fn(&mut Self) -> Result<(), BenchError>,
    ) -> Result<u64, BenchError> {
        for _ in 0..times.min(100) {
            step(self)?;
        }
        let (result, allocations) = alloc_count::count(|| (0..times).try_for_each(|_| step(self)));
        result.map(|()| allocations)
    }

    fn tracked_round_trip(&mut self) -> Result<(), BenchError> {
        let callback = self.values.callback();
        let n = self.sizes.round_trip;
        self.dispatcher
            .dispatch(jobs::FINE, n, callback, None, ())?;
        self.dispatcher.wait();
        self.values.take(jobs::FINE).map(drop)
    }

    /// A tracked dispatch through a typed key that writes into the previous
    /// round's buffer (`reuse`), handed back by the callback.
    fn reused_round_trip(&mut self) -> Result<(), BenchError> {
        let callback = self.values.callback();
        let n = self.sizes.round_trip;
        let spare = std::mem::take(&mut self.spare);
        self.dispatcher
            .job(jobs::FINE_KEY, n)
            .reuse(spare)
            .tracked((), callback)?;
        self.dispatcher.wait();
        self.spare = self.values.take(jobs::FINE)?;
        Ok(())
    }

    /// A `JobFuture` dispatched from the master and polled there to the end.
    fn future_round_trip(&mut self) -> Result<(), BenchError> {
        let n = self.sizes.round_trip;
        let future = self.dispatcher.job(jobs::FINE_KEY, n).future(())?;
        drop(block_on(future, &self.waker)?);
        self.dispatcher.poll();
        Ok(())
    }

    fn detached_round_trip(&mut self) -> Result<(), BenchError> {
        let n = self.sizes.round_trip;
        self.dispatcher
            .dispatch_detached(jobs::TOUCH, n, None, ())?;
        self.dispatcher.wait();
        Ok(())
    }

    fn rayon_round_trip(&mut self) -> Result<(), BenchError> {
        let n = self.sizes.round_trip;
        drop(
            self.pool
                .install(|| (0..n).into_par_iter().map(fine).collect::<Vec<_>>()),
        );
        Ok(())
    }

    /// Fails if `sum` is not the serial run's checksum of `workload`.
    fn check(&self, workload: Workload, contender: Contender, sum: u64) -> Result<(), BenchError> {
        check_sum(workload.name(), contender, self.expected[&workload], sum)
    }

    /// Runs one job of `workload` on `contender`: (time, checksum).
    fn run(
        &mut self,
        workload: Workload,
        contender: Contender,
    ) -> Result<(Duration, u64), BenchError> {
        let n = workload.items(&self.sizes);
        let batch = match contender {
            Contender::StaticSplit => Some(n.div_ceil(self.actors)),
            _ => None,
        };
        let (scene, params, pool) = (&self.scene, self.params, &self.pool);
        let d = &mut self.dispatcher;
        match (workload, contender) {
            (Workload::Sweep, Contender::Serial) => Ok(serial(n, |id| scene.hits(id, &params))),
            (Workload::Sweep, Contender::Rayon) => {
                Ok(parallel(pool, n, |id| scene.hits(id, &params)))
            }
            (Workload::Sweep, _) => tracked(d, &self.hits, jobs::SWEEP, n, batch, params),
            (Workload::Uneven, Contender::Serial) => Ok(serial(n, uneven)),
            (Workload::Uneven, Contender::Rayon) => Ok(parallel(pool, n, uneven)),
            (Workload::Uneven, _) => tracked(d, &self.values, jobs::UNEVEN, n, batch, ()),
            (_, Contender::Serial) => Ok(serial(n, fine)),
            (_, Contender::Rayon) => Ok(parallel(pool, n, fine)),
            (_, _) => tracked(d, &self.values, jobs::FINE, n, batch, ()),
        }
    }
}

/// Polls `future` on this thread until it resolves, parking in between;
/// `waker` must unpark this thread (see [`Unpark`]).
fn block_on<F: std::future::Future>(future: F, waker: &std::task::Waker) -> F::Output {
    let mut future = std::pin::pin!(future);
    loop {
        let polled = future
            .as_mut()
            .poll(&mut std::task::Context::from_waker(waker));
        if let std::task::Poll::Ready(value) = polled {
            return value;
        }
        std::thread::park();
    }
}

/// Wakes a parked thread. Built once, so awaiting allocates nothing.
struct Unpark(std::thread::Thread);

impl std::task::Wake for Unpark {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

/// Fails unless `found == expected`.
fn check_sum(
    workload: &'static str,
    contender: Contender,
    expected: u64,
    found: u64,
) -> Result<(), BenchError> {
    if found == expected {
        return Ok(());
    }
    Err(BenchError::Checksum {
        workload,
        contender: contender.name(),
        expected,
        found,
    })
}

/// Times a serial loop over `0..n`.
fn serial<R: Copy + Into<u64>>(n: usize, f: impl Fn(usize) -> R) -> (Duration, u64) {
    let start = Instant::now();
    let buf: Vec<R> = (0..n).map(f).collect();
    let elapsed = start.elapsed();
    (elapsed, checksum(&buf))
}

/// Times a rayon parallel map over `0..n` on `pool`.
fn parallel<R, F>(pool: &rayon::ThreadPool, n: usize, f: F) -> (Duration, u64)
where
    R: Copy + Into<u64> + Send,
    F: Fn(usize) -> R + Send + Sync,
{
    let start = Instant::now();
    let buf: Vec<R> = pool.install(|| (0..n).into_par_iter().map(f).collect());
    let elapsed = start.elapsed();
    (elapsed, checksum(&buf))
}

/// Times a tracked weavekit job from dispatch to callback.
fn tracked<A, R>(
    dispatcher: &mut Dispatcher,
    slot: &Slot<R>,
    job: &'static str,
    n: usize,
    batch: Option<usize>,
    args: A,
) -> Result<(Duration, u64), BenchError>
where
    A: Send + Sync + 'static,
    R: Copy + Into<u64> + Send + 'static,
{
    let callback = slot.callback();
    let start = Instant::now();
    dispatcher.dispatch(job, n, callback, batch, args)?;
    dispatcher.wait();
    let elapsed = start.elapsed();
    let buf = slot.take(job)?;
    Ok((elapsed, checksum(&buf)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_contender_agrees_with_serial_on_every_workload() {
        let mut contenders = Contenders::new(2, Sizes::TINY).unwrap();
        for workload in Workload::ALL {
            for &contender in workload.contenders() {
                // `sample` fails with `BenchError::Checksum` on any difference.
                contenders.sample(workload, contender, 3).unwrap();
            }
        }
        contenders.sample_blocked(false).unwrap();
        contenders.sample_blocked(true).unwrap();
    }

    #[test]
    fn static_split_is_one_batch_per_actor_and_still_correct() {
        let mut contenders = Contenders::new(3, Sizes::TINY).unwrap();
        let (_, sum) = contenders
            .run(Workload::Uneven, Contender::StaticSplit)
            .unwrap();
        assert_eq!(sum, contenders.expected_checksum(Workload::Uneven));
    }

    #[test]
    fn a_wrong_result_is_an_error_naming_the_contender() {
        let error = check_sum("sweep", Contender::Rayon, 1, 2).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("rayon") && message.contains("sweep"),
            "{message}"
        );
        assert!(check_sum("sweep", Contender::Rayon, 7, 7).is_ok());
    }

    #[test]
    fn allocations_are_counted_under_the_counting_allocator() {
        let mut contenders = Contenders::new(2, Sizes::TINY).unwrap();
        let allocations = contenders.allocations(20).unwrap();
        assert_eq!(allocations.dispatches, 20);
        // The lib test binary installs the counting allocator; other tests
        // running at the same time may add to the count, so only bound it
        // loosely from below.
        assert!(allocations.counted);
        assert!(allocations.tracked_per_dispatch.unwrap() >= 1.0);
    }
}
