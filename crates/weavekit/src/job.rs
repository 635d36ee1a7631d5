//! A job: its items, how actors claim them in batches, where results land,
//! and how the last batch to finish hands the job back to the master.
//!
//! # Claiming
//!
//! A job is a cursor over `0..total`. An actor claims the next contiguous
//! range with one compare-and-swap; there is no static split, so an actor
//! that finishes early simply claims more, and a job with uneven item costs
//! ends when the last core runs dry. With a fixed batch size every claim
//! takes that many items. Without one the job uses *guided* self-scheduling:
//! each claim takes `ceil(remaining / (4 × actors))` items, so early claims
//! are large (few claims, negligible overhead) and the tail is cut fine
//! enough to balance (the last few claims are single items). No guided claim
//! exceeds [`MAX_GUIDED_CLAIM`] items, so even a job of `usize::MAX` items
//! reaches a batch boundary, where actors can stop, every so often.
//!
//! # Completion
//!
//! `pending` counts items not yet run. Each actor subtracts the length of
//! the range it ran (or skipped) with `AcqRel`; the one that brings it to
//! zero has, through that read-modify-write chain, seen every other actor's
//! result writes, and hands the job to the master under the completion
//! mutex, which the master locks before reading the results.
//!
//! # Failure
//!
//! A panic on item `i` ends the job: the failing actor records the panic and
//! swaps the cursor to `total`, so no further range can be claimed. Exactly
//! the ranges below the swapped-out cursor value were claimed and run (or
//! failed); the skipped remainder is subtracted from `pending` at once.

use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::Range;

use crate::error::Error;
use crate::kernel::{drop_slots, note_drop_panic, ItemPanic, Kernel, Output};
use crate::sync::{lock, AtomicUsize, Mutex, Ordering};
use crate::trace::JobTrace;

/// The name and table index of the handler a job runs, resolved by the
/// master's registry.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub(crate) name: crate::sync::Arc<str>,
    pub(crate) handler: usize,
    /// Run a tracked handler but drop its results (a detached dispatch).
    pub(crate) discard: bool,
}

/// How a job's items are cut into batches.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Batching {
    /// Every claim takes this many items (never 0).
    Fixed(usize),
    /// Every claim takes `ceil(remaining / divisor)` items.
    Guided { divisor: usize },
}

impl Batching {
    /// The rule for `batch_size` on a pool of `actors`.
    pub(crate) fn new(batch_size: Option<usize>, actors: usize) -> Batching {
        match batch_size {
            Some(size) => Batching::Fixed(size),
            None => Batching::Guided {
                divisor: actors.saturating_mul(4).max(1),
            },
        }
    }

    fn claim_len(self, remaining: usize) -> usize {
        match self {
            Batching::Fixed(size) => size.min(remaining),
            Batching::Guided { divisor } => remaining.div_ceil(divisor).min(MAX_GUIDED_CLAIM),
        }
    }
}

/// The most items a guided claim takes. Batch boundaries are where actors
/// stop taking work (`destroy_timeout`), so a huge job must not go out in
/// a few huge claims; 65,536 items of even a nanosecond-long handler keep
/// the claim overhead negligible.
pub(crate) const MAX_GUIDED_CLAIM: usize = 1 << 16;

/// The claim and completion state shared by a job's actors.
pub(crate) struct Progress {
    total: usize,
    batching: Batching,
    /// The first item not yet claimed.
    cursor: AtomicUsize,
    /// Items not yet run or skipped.
    pending: AtomicUsize,
    /// Ranges `0..claimed_limit` were claimed; set below `total` only when a
    /// failure cancels the rest.
    claimed_limit: AtomicUsize,
    /// Panics, one per failed batch; only touched on the failure path.
    failures: Mutex<Vec<Failure>>,
}

impl Progress {
    pub(crate) fn new(total: usize, batching: Batching) -> Progress {
        Progress {
            total,
            batching,
            cursor: AtomicUsize::new(0),
            pending: AtomicUsize::new(total),
            claimed_limit: AtomicUsize::new(total),
            failures: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn total(&self) -> usize {
        self.total
    }

    /// Claims the next range of items, or `None` when all are claimed.
    pub(crate) fn claim(&self) -> Option<Range<usize>> {
        // ORDERING: the cursor only partitions item ids; the job's data was
        // published by the queue mutex, so Relaxed suffices. All claims and
        // the cancelling swap act on this one atomic, whose modification
        // order keeps the claimed ranges disjoint.
        let mut start = self.cursor.load(Ordering::Relaxed);
        loop {
            if start >= self.total {
                return None;
            }
            let end = start + self.batching.claim_len(self.total - start);
            match self.cursor.compare_exchange_weak(
                start,
                end,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(start..end),
                Err(actual) => start = actual,
            }
        }
    }

    /// Whether every item has run or been skipped.
    pub(crate) fn is_done(&self) -> bool {
        // ORDERING: Acquire pairs with `complete`'s release decrements;
        // only used for reports.
        self.pending.load(Ordering::Acquire) == 0
    }

    /// Whether some range is left to claim (a hint: it may change at once).
    pub(crate) fn has_unclaimed(&self) -> bool {
        // ORDERING: a hint for waking another actor; see `claim`.
        self.cursor.load(Ordering::Relaxed) < self.total
    }

    /// Records the panic of `batch` and cancels every range not yet
    /// claimed. Returns how many items were skipped by this call.
    fn fail(&self, batch: Range<usize>, panic: ItemPanic) -> usize {
        lock(&self.failures).push(Failure { batch, panic });
        // ORDERING: see `claim`; only one swap can return a value below
        // `total`, and it alone records the limit and the skipped count.
        let claimed = self.cursor.swap(self.total, Ordering::Relaxed);
        if claimed < self.total {
            self.claimed_limit.store(claimed, Ordering::Relaxed);
            self.total - claimed
        } else {
            0
        }
    }

    /// Marks `done` items finished; true for the call that finishes the job.
    fn complete(&self, done: usize) -> bool {
        // ORDERING: AcqRel makes every actor's result writes (sequenced
        // before its own decrement) visible to the actor whose decrement
        // reaches zero, through the release sequence on `pending`.
        self.pending.fetch_sub(done, Ordering::AcqRel) == done
    }

    /// The panic with the lowest item id, if any. Master side, after
    /// completion. Leaves the record in place for [`Progress::written_ranges`].
    fn first_failure(&self) -> Option<ItemPanic> {
        let failures = lock(&self.failures);
        let first = failures.iter().min_by_key(|failure| failure.panic.item)?;
        Some(ItemPanic {
            item: first.panic.item,
            message: first.panic.message.clone(),
        })
    }

    /// Every recorded panic, lowest item first. After completion.
    fn take_failures(&self) -> Vec<ItemPanic> {
        let mut failures = std::mem::take(&mut *lock(&self.failures));
        failures.sort_by_key(|failure| failure.panic.item);
        failures.into_iter().map(|failure| failure.panic).collect()
    }

    /// The item ranges whose results were written: the claimed prefix minus
    /// the failed batches, whose slots the failing actor dropped again.
    /// Master side, after completion.
    fn written_ranges(&self) -> Vec<Range<usize>> {
        // ORDERING: read after completion, which the completion mutex
        // ordered after every store to it.
        let limit = self.claimed_limit.load(Ordering::Relaxed);
        let mut failed: Vec<Range<usize>> = lock(&self.failures)
            .iter()
            .map(|failure| failure.batch.clone())
            .collect();
        failed.sort_by_key(|batch| batch.start);
        let mut written = Vec::with_capacity(failed.len() + 1);
        let mut start = 0;
        for batch in failed {
            if start < batch.start {
                written.push(start..batch.start);
            }
            start = batch.end;
        }
        if start < limit {
            written.push(start..limit);
        }
        written
    }
}

/// A failed batch and the panic that ended it.
struct Failure {
    batch: Range<usize>,
    panic: ItemPanic,
}

/// A job as the pool and the master see it, whatever its types.
pub(crate) trait Job: Send + Sync {
    /// The job's claim state.
    fn progress(&self) -> &Progress;

    /// The job's name.
    fn name(&self) -> &crate::sync::Arc<str>;

    /// Runs `range` (claimed from this job) on an actor's kernel. Returns
    /// true when this call finished the job.
    fn run(&self, kernel: &mut Kernel, range: Range<usize>) -> bool;

    /// Whether the master must fire a callback when the job is done.
    fn is_tracked(&self) -> bool;

    /// Master only, once, after the job is done: fires the callback.
    fn finish(&self);

    /// After a detached job is done: its panics, as errors.
    fn take_errors(&self) -> Vec<Error>;
}

/// What every job has, whatever it returns: the handler it runs, its claim
/// state, its arguments and its span.
struct JobBase<A> {
    route: Route,
    progress: Progress,
    args: A,
    trace: JobTrace,
}

impl<A: Send + Sync + 'static> JobBase<A> {
    fn new(route: Route, progress: Progress, args: A) -> Self {
        JobBase {
            trace: JobTrace::new(&route.name, progress.total(), progress.batching),
            route,
            progress,
            args,
        }
    }

    /// Runs `range` on `kernel`, recording a panic in `progress`. Returns
    /// true when this call finished the job.
    ///
    /// # Safety
    ///
    /// As [`ErasedHandler::run`](crate::kernel::ErasedHandler::run), for
    /// `output`; `range` must have been claimed from `progress`.
    unsafe fn run(&self, kernel: &mut Kernel, range: Range<usize>, output: Output) -> bool {
        let _span = self
            .trace
            .batch(&self.route.name, kernel.actor_index(), &range);
        let len = range.len();
        let batch = range.clone();
        let handler = kernel.handler(self.route.handler);
        // SAFETY: forwarded from the caller.
        let outcome = unsafe { handler.run(&self.args, range, output) };
        let skipped = match outcome {
            Ok(()) => 0,
            Err(panic) => self.progress.fail(batch, panic),
        };
        self.progress.complete(len + skipped)
    }

    /// The error reporting `panic` in this job.
    fn error(&self, panic: ItemPanic) -> Error {
        Error::HandlerPanicked {
            job: self.route.name.to_string(),
            item: panic.item,
            message: panic.message,
        }
    }
}

/// A tracked job: results in item order, a callback on the master.
pub(crate) struct TrackedJob<A, R, C> {
    base: JobBase<A>,
    /// Start of the result buffer; actors write disjoint claimed slots.
    slots: *mut R,
    /// The buffer's owner and the callback: master thread only.
    master: MasterOnly<Option<Completion<R, C>>>,
}

/// What the master takes out of a finished tracked job.
struct Completion<R, C> {
    buffer: ManuallyDrop<Vec<R>>,
    callback: C,
}

impl<A, R, C> TrackedJob<A, R, C>
where
    A: Send + Sync + 'static,
    C: FnOnce(Result<Vec<R>, Error>),
{
    /// A job over `total` items writing into `buffer` (capacity ≥ `total`,
    /// length 0).
    pub(crate) fn new(
        route: Route,
        progress: Progress,
        args: A,
        buffer: Vec<R>,
        callback: C,
    ) -> Self {
        debug_assert!(buffer.capacity() >= progress.total() && buffer.is_empty());
        let mut buffer = ManuallyDrop::new(buffer);
        TrackedJob {
            slots: buffer.as_mut_ptr(),
            base: JobBase::new(route, progress, args),
            master: MasterOnly::new(Some(Completion { buffer, callback })),
        }
    }

    /// The results, or the failure, of a finished job.
    fn outcome(&self, mut buffer: Vec<R>) -> Result<Vec<R>, Error> {
        let progress = &self.base.progress;
        let Some(panic) = progress.first_failure() else {
            // SAFETY: the job is done without failure, so every slot in
            // `0..total` was written exactly once (claims are disjoint and
            // cover `0..total`), and completion made the writes visible.
            unsafe { buffer.set_len(progress.total()) };
            return Ok(buffer);
        };
        let mut panic = panic;
        let mut drop_panic = None;
        for written in progress.written_ranges() {
            // SAFETY: `written_ranges` are exactly the slots holding a
            // result after a failure (see `Progress::written_ranges`); each
            // is dropped once here and the buffer's length stays 0.
            let dropped = unsafe { drop_slots(buffer.as_mut_ptr(), written) };
            drop_panic = drop_panic.or(dropped);
        }
        if let Some(dropped) = drop_panic {
            note_drop_panic(&mut panic.message, &dropped);
        }
        Err(self.base.error(panic))
    }
}

// SAFETY: actors share `&TrackedJob` to read `args` (`A: Sync`), claim and
// complete through atomics and a mutex, and write disjoint result slots of
// `R: Send`. The callback and the buffer's ownership sit in `MasterOnly`,
// touched only by the master thread (see `MasterOnly`). Dropping the job on
// an actor thread drops `A: Send`, and a `MasterOnly` that `finish` has
// emptied or, for a job that never finished, whose callback `Drop` leaks
// rather than drops (freeing only the buffer's memory, no `R` in it).
unsafe impl<A: Send + Sync, R: Send, C> Send for TrackedJob<A, R, C> {}
// SAFETY: as for `Send`: every field reachable through `&TrackedJob` from an
// actor is either `Sync` or master-only.
unsafe impl<A: Send + Sync, R: Send, C> Sync for TrackedJob<A, R, C> {}

impl<A, R, C> Job for TrackedJob<A, R, C>
where
    A: Send + Sync + 'static,
    R: Send + 'static,
    C: FnOnce(Result<Vec<R>, Error>) + 'static,
{
    fn progress(&self) -> &Progress {
        &self.base.progress
    }

    fn name(&self) -> &crate::sync::Arc<str> {
        &self.base.route.name
    }

    fn run(&self, kernel: &mut Kernel, range: Range<usize>) -> bool {
        let output = if self.base.route.discard {
            Output::Discard
        } else {
            Output::Slots(self.slots.cast())
        };
        // SAFETY: `slots` points to a buffer of `R` (the registry checked
        // the handler returns `R`) with capacity ≥ `total` ≥ `range.end`;
        // `range` was claimed from this job, so no other actor writes it,
        // and the master reads the buffer only after completion.
        unsafe { self.base.run(kernel, range, output) }
    }

    fn is_tracked(&self) -> bool {
        true
    }

    fn finish(&self) {
        // SAFETY: `finish` is called on the master thread only, once the job
        // is done, and nothing else touches `master` then.
        let taken = unsafe { self.master.get_mut().take() };
        let Some(Completion { buffer, callback }) = taken else {
            return;
        };
        let outcome = self.outcome(ManuallyDrop::into_inner(buffer));
        callback(outcome);
    }

    fn take_errors(&self) -> Vec<Error> {
        Vec::new()
    }
}

impl<A, R, C> Drop for TrackedJob<A, R, C> {
    fn drop(&mut self) {
        // A job dropped unfinished (only when its dispatcher was leaked):
        // free the buffer without touching results of unknown state, and
        // leak the callback, which may belong to another thread.
        if let Some(Completion { buffer, callback }) = self.master.get_mut_owned().take() {
            let mut buffer = ManuallyDrop::into_inner(buffer);
            // SAFETY: length 0 never reads a slot; the allocation is freed.
            unsafe { buffer.set_len(0) };
            std::mem::forget(callback);
        }
    }
}

/// A detached job: no results, no callback.
pub(crate) struct DetachedJob<A> {
    base: JobBase<A>,
}

impl<A: Send + Sync + 'static> DetachedJob<A> {
    pub(crate) fn new(route: Route, progress: Progress, args: A) -> Self {
        DetachedJob {
            base: JobBase::new(route, progress, args),
        }
    }
}

impl<A> Job for DetachedJob<A>
where
    A: Send + Sync + 'static,
{
    fn progress(&self) -> &Progress {
        &self.base.progress
    }

    fn name(&self) -> &crate::sync::Arc<str> {
        &self.base.route.name
    }

    fn run(&self, kernel: &mut Kernel, range: Range<usize>) -> bool {
        // SAFETY: `Output::Discard` writes nothing; `range` was claimed from
        // this job.
        unsafe { self.base.run(kernel, range, Output::Discard) }
    }

    fn is_tracked(&self) -> bool {
        false
    }

    fn finish(&self) {}

    fn take_errors(&self) -> Vec<Error> {
        let failures = self.base.progress.take_failures();
        failures
            .into_iter()
            .map(|panic| self.base.error(panic))
            .collect()
    }
}

/// A value only the master thread may touch, inside a job shared with
/// actors.
///
/// `Sync` and `Send` are asserted by the owning job's impls, not here: the
/// proof rests on the dispatcher being `!Send` (so the master is one fixed
/// thread) and on `finish` being called only by the master.
struct MasterOnly<T> {
    value: std::cell::UnsafeCell<T>,
    _not_sync: PhantomData<*mut T>,
}

impl<T> MasterOnly<T> {
    fn new(value: T) -> Self {
        MasterOnly {
            value: std::cell::UnsafeCell::new(value),
            _not_sync: PhantomData,
        }
    }

    /// # Safety
    ///
    /// Only the master thread may call this, and no other reference to the
    /// value may be live.
    #[allow(clippy::mut_from_ref)]
    unsafe fn get_mut(&self) -> &mut T {
        // SAFETY: the caller guarantees exclusive master-thread access.
        unsafe { &mut *self.value.get() }
    }

    /// Exclusive access through `&mut self` (e.g. in `Drop`).
    fn get_mut_owned(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn claims(progress: &Progress) -> Vec<Range<usize>> {
        std::iter::from_fn(|| progress.claim()).collect()
    }

    fn assert_partition(ranges: &[Range<usize>], total: usize) {
        let mut next = 0;
        for range in ranges {
            assert_eq!(range.start, next, "{ranges:?}");
            assert!(range.end > range.start, "{ranges:?}");
            next = range.end;
        }
        assert_eq!(next, total, "{ranges:?}");
    }

    #[test]
    fn fixed_batches_cover_every_item_once() {
        for (total, size) in [(10, 3), (10, 10), (10, 11), (7, 1), (1, 5)] {
            let progress = Progress::new(total, Batching::new(Some(size), 2));
            let ranges = claims(&progress);
            assert_partition(&ranges, total);
            assert!(ranges.iter().all(|r| r.len() <= size));
            assert_eq!(ranges.len(), total.div_ceil(size));
        }
    }

    #[test]
    fn guided_batches_shrink_to_single_items() {
        let progress = Progress::new(1_000, Batching::new(None, 2));
        let ranges = claims(&progress);
        assert_partition(&ranges, 1_000);
        assert_eq!(ranges[0].len(), 125);
        assert!(ranges.windows(2).all(|w| w[0].len() >= w[1].len()));
        assert_eq!(ranges.last().map(Range::len), Some(1));
        assert!(ranges.len() < 60, "{} claims", ranges.len());
    }

    #[test]
    fn guided_claims_are_capped() {
        let progress = Progress::new(usize::MAX, Batching::new(None, 2));
        assert_eq!(progress.claim(), Some(0..MAX_GUIDED_CLAIM));
        let progress = Progress::new(MAX_GUIDED_CLAIM * 8, Batching::new(None, 1));
        assert_eq!(progress.claim().map(|r| r.len()), Some(MAX_GUIDED_CLAIM));
        let progress = Progress::new(MAX_GUIDED_CLAIM * 2, Batching::new(None, 1));
        assert_eq!(
            progress.claim().map(|r| r.len()),
            Some(MAX_GUIDED_CLAIM / 2)
        );
    }

    #[test]
    fn completion_is_reported_once_by_the_last_range() {
        let progress = Progress::new(10, Batching::new(Some(4), 1));
        let done: Vec<bool> = claims(&progress)
            .into_iter()
            .map(|range| progress.complete(range.len()))
            .collect();
        assert_eq!(done, [false, false, true]);
    }

    #[test]
    fn a_failure_cancels_the_unclaimed_rest() {
        let progress = Progress::new(10, Batching::new(Some(2), 1));
        let first = progress.claim().unwrap();
        let second = progress.claim().unwrap();
        let panic = ItemPanic {
            item: 3,
            message: "boom".into(),
        };
        let skipped = progress.fail(second.clone(), panic);
        assert_eq!(skipped, 6);
        assert_eq!(progress.claim(), None);
        assert!(!progress.complete(second.len() + skipped));
        assert!(progress.complete(first.len()));
        assert_eq!(progress.written_ranges(), vec![0..2_usize]);
        assert_eq!(progress.first_failure().map(|p| p.item), Some(3));
    }

    #[test]
    fn empty_jobs_have_nothing_to_claim() {
        let progress = Progress::new(0, Batching::new(None, 4));
        assert_eq!(progress.claim(), None);
    }
}
