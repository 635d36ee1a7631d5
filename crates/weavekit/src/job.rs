//! A job: its items, how actors claim them in batches, where results land,
//! and how the last batch to finish hands the job back to the master.
//!
//! # Kinds
//!
//! There are four kinds of job: tracked and detached (here), awaited by a
//! [`JobFuture`](crate::JobFuture) (`future.rs`) and handed to a `then`
//! closure (`then.rs`). The pool and the master see each one as a
//! `dyn` [`Job`]. All of them embed a [`JobBase`] (id, handler, claims,
//! dependency links, arguments, span), which runs every batch and turns a
//! finished job's result buffer (`buffer.rs`) into its outcome. A kind
//! implements only [`JobKind`]: where its results go (its buffer's slots,
//! or nowhere) and how its outcome is delivered (on the master in
//! [`Job::finish`], or by the finishing thread in [`Job::resolve`]). One
//! blanket impl makes every `JobKind` a `Job`. Every dispatch checks its
//! call the same way before it builds a kind (`check.rs`).
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
//!
//! # Cancel
//!
//! [`Dispatcher::cancel`](crate::Dispatcher::cancel) takes the same path
//! from the master: one swap of the cursor to `total` ([`Claims::stop`]).
//! If it skipped items, the job cannot have finished yet (those items are
//! still in `pending`), so the canceller marks the job cancelled before
//! subtracting them; whoever then finishes the job (the canceller itself,
//! or the actor running the last claimed batch) routes it to the master,
//! whose outcome is [`Error::Cancelled`]. If the swap skipped nothing,
//! every item was already claimed (or a failure stopped the job first): the
//! cancel changes nothing and reports `false`. Batches already running
//! always finish.

use std::marker::PhantomData;
use std::ops::Range;

use crate::after::Links;
use crate::buffer::{Buffer, Slots};
use crate::error::Error;
use crate::id::JobId;
use crate::kernel::{drop_slots, note_drop_panic, ItemPanic, Kernel, Output};
use crate::pool::Hub;
use crate::sync::{lock, Arc, AtomicBool, AtomicUsize, Mutex, Ordering};
use crate::trace::JobTrace;

/// The name and table index of the handler a job runs, resolved by the
/// master's registry.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub(crate) name: Arc<str>,
    pub(crate) handler: usize,
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
pub(crate) struct Claims {
    total: usize,
    batching: Batching,
    /// The first item not yet claimed.
    cursor: AtomicUsize,
    /// Items not yet run or skipped.
    pending: AtomicUsize,
    /// Ranges `0..claimed_limit` were claimed; set below `total` only when a
    /// failure or a cancel skips the rest.
    claimed_limit: AtomicUsize,
    /// Set by [`Claims::mark_cancelled`]; read after completion.
    cancelled: AtomicBool,
    /// Panics, one per failed batch; only touched on the failure path.
    failures: Mutex<Vec<Failure>>,
}

impl Claims {
    pub(crate) fn new(total: usize, batching: Batching) -> Claims {
        Claims {
            total,
            batching,
            cursor: AtomicUsize::new(0),
            pending: AtomicUsize::new(total),
            claimed_limit: AtomicUsize::new(total),
            cancelled: AtomicBool::new(false),
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

    /// Items finished (run, failed or skipped) so far.
    pub(crate) fn done(&self) -> usize {
        // ORDERING: a snapshot for `Dispatcher::progress`; nothing is read
        // through it.
        self.total - self.pending.load(Ordering::Relaxed)
    }

    /// Marks the job cancelled, after a [`Claims::stop`] that skipped
    /// items and before those are passed to [`Claims::complete`].
    pub(crate) fn mark_cancelled(&self) {
        // ORDERING: stored before the canceller's `complete`, whose AcqRel
        // chain publishes it to whoever finishes the job.
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Whether a handler panicked or a cancel skipped items. After
    /// completion.
    pub(crate) fn has_failed(&self) -> bool {
        self.was_cancelled() || !lock(&self.failures).is_empty()
    }

    /// Whether a cancel skipped items of this job. After completion.
    fn was_cancelled(&self) -> bool {
        // ORDERING: see `mark_cancelled`.
        self.cancelled.load(Ordering::Relaxed)
    }

    /// Records the panic of `batch` and cancels every range not yet
    /// claimed. Returns how many items were skipped by this call.
    fn fail(&self, batch: Range<usize>, panic: ItemPanic) -> usize {
        lock(&self.failures).push(Failure { batch, panic });
        self.stop()
    }

    /// Ends claiming: no range can be claimed afterwards. Returns how many
    /// items this call skipped (0 when every item was already claimed, or a
    /// failure or cancel stopped the job first). The caller must pass a
    /// non-zero result on to [`Claims::complete`].
    pub(crate) fn stop(&self) -> usize {
        // ORDERING: see `claim`; only one swap can return a value below
        // `total`, and it alone records the limit and the skipped count.
        // The limit is read after completion, which the `pending` chain
        // orders after this store.
        let claimed = self.cursor.swap(self.total, Ordering::Relaxed);
        if claimed < self.total {
            self.claimed_limit.store(claimed, Ordering::Relaxed);
            self.total - claimed
        } else {
            0
        }
    }

    /// Marks `done` items finished; true for the call that finishes the job.
    pub(crate) fn complete(&self, done: usize) -> bool {
        // ORDERING: AcqRel makes every actor's result writes (sequenced
        // before its own decrement) visible to the actor whose decrement
        // reaches zero, through the release sequence on `pending`.
        self.pending.fetch_sub(done, Ordering::AcqRel) == done
    }

    /// The panic with the lowest item id, if any. Master side, after
    /// completion. Leaves the record in place for [`Claims::written_ranges`].
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

/// Cancels `job` from any thread (see "Cancel" above): returns whether it
/// skipped items; if that finished the job, routes it as an actor would.
pub(crate) fn cancel(job: &Arc<dyn Job>, hub: &Hub) -> bool {
    let claims = job.claims();
    let skipped = claims.stop();
    if skipped == 0 {
        return false;
    }
    // The skipped items are still pending, so the job cannot finish before
    // this mark is published by the `complete` below.
    claims.mark_cancelled();
    if claims.complete(skipped) {
        // Every claimed batch had already finished.
        hub.job_done(Arc::clone(job));
    }
    true
}

/// A job as the pool and the master see it, whatever its types.
///
/// Every job takes the same route to completion: the call that finishes its
/// last item (an actor, or the master cancelling) hands it to the master,
/// which delivers the outcome with [`Job::finish`] and drops it from its
/// table. What the outcome is (a callback, panics to report) is the job's
/// own business.
///
/// Implemented once, for every [`JobKind`]: a kind states only what sets
/// it apart, the rest comes from the [`JobBase`] it embeds.
pub(crate) trait Job: Send + Sync {
    /// The id the master's table knows the job by.
    fn id(&self) -> JobId;

    /// The job's claim state.
    fn claims(&self) -> &Claims;

    /// The job's dependency state.
    fn links(&self) -> &Links;

    /// Whether the job failed, was cancelled or never ran because a
    /// dependency failed: its dependents must not run. After completion.
    fn failed(&self) -> bool {
        self.links().dependency_failed() || self.claims().has_failed()
    }

    /// The job's name.
    fn name(&self) -> &Arc<str>;

    /// Runs `range` (claimed from this job) on an actor's kernel. Returns
    /// true when this call finished the job.
    fn run(&self, kernel: &mut Kernel, range: Range<usize>) -> bool;

    /// Whoever finished the job, once, right then: resolves a
    /// [`JobFuture`](crate::JobFuture) (other jobs deliver on the master).
    fn resolve(&self);

    /// Master only, once, after the job is done: delivers the outcome. A
    /// tracked job fires its callback and returns true; a detached job
    /// moves its panics to `errors` and returns false.
    fn finish(&self, errors: &mut Vec<Error>) -> bool;

    /// Master, when `destroy_timeout` gives up on the job unfinished: tells
    /// whoever waits off the master (a [`JobFuture`](crate::JobFuture))
    /// that no outcome is coming, without touching the results, which a
    /// stuck actor may still be writing.
    fn abandon(&self);
}

/// One kind of job: where its results go ([`JobKind::output`]) and how its
/// outcome is delivered ([`JobKind::resolve`], [`JobKind::finish`]).
/// Everything else a [`Job`] does is the same for every kind and comes
/// from its [`JobBase`].
///
/// # Safety
///
/// [`JobKind::output`] must return [`Output::Discard`], or
/// [`Output::Slots`] of a buffer of the result type of the handler that
/// `base()` routes to, with room for `base().claims.total()` values, whose
/// storage stays allocated, and whose slots nothing touches but the actors
/// writing the ranges they claimed, until the job is done (see
/// `buffer.rs`).
pub(crate) unsafe trait JobKind: Send + Sync {
    /// The job's arguments.
    type Args: Send + Sync + 'static;

    /// What every job has.
    fn base(&self) -> &JobBase<Self::Args>;

    /// Where the handler's results go.
    fn output(&self) -> Output;

    /// As [`Job::resolve`]; by default nothing (the master delivers).
    fn resolve(&self) {}

    /// As [`Job::finish`].
    fn finish(&self, errors: &mut Vec<Error>) -> bool;

    /// As [`Job::abandon`]; by default nothing (callbacks of abandoned
    /// jobs never fire).
    fn abandon(&self) {}
}

impl<K: JobKind> Job for K {
    fn id(&self) -> JobId {
        self.base().id
    }

    fn claims(&self) -> &Claims {
        &self.base().claims
    }

    fn links(&self) -> &Links {
        &self.base().links
    }

    fn name(&self) -> &Arc<str> {
        &self.base().route.name
    }

    fn run(&self, kernel: &mut Kernel, range: Range<usize>) -> bool {
        // SAFETY: `output` is valid for the handler's results (the
        // `JobKind` contract), and `range` was claimed from this job.
        unsafe { self.base().run(kernel, range, self.output()) }
    }

    fn resolve(&self) {
        JobKind::resolve(self);
    }

    fn finish(&self, errors: &mut Vec<Error>) -> bool {
        JobKind::finish(self, errors)
    }

    fn abandon(&self) {
        JobKind::abandon(self);
    }
}

/// What every job has, whatever its kind: its id, the handler it runs,
/// its claim and dependency state, its arguments and its span.
pub(crate) struct JobBase<A> {
    pub(crate) id: JobId,
    route: Route,
    pub(crate) claims: Claims,
    pub(crate) links: Links,
    args: A,
    trace: JobTrace,
}

impl<A: Send + Sync + 'static> JobBase<A> {
    pub(crate) fn new(id: JobId, route: Route, claims: Claims, args: A) -> Self {
        JobBase {
            trace: JobTrace::new(&route.name, claims.total(), claims.batching),
            id,
            route,
            claims,
            links: Links::new(),
            args,
        }
    }

    /// Runs `range` on `kernel`, recording a panic in `claims`. Returns
    /// true when this call finished the job.
    ///
    /// # Safety
    ///
    /// As [`ErasedHandler::run`](crate::kernel::ErasedHandler::run), for
    /// `output`; `range` must have been claimed from `claims`.
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
            Err(panic) => self.claims.fail(batch, panic),
        };
        self.claims.complete(len + skipped)
    }
}

impl<A> JobBase<A> {
    /// The results, or the failure, of a finished job.
    ///
    /// # Safety
    ///
    /// `buffer` must be the job's result buffer, taken once, after the job
    /// is done.
    pub(crate) unsafe fn outcome<R>(&self, buffer: Buffer<R>) -> Result<Vec<R>, Error> {
        let mut buffer = buffer.into_vec();
        let claims = &self.claims;
        let failure = claims.first_failure();
        let dependency_failed = self.links.dependency_failed();
        if failure.is_none() && !claims.was_cancelled() && !dependency_failed {
            // SAFETY: the job is done without failure or cancel, so every
            // slot in `0..total` was written exactly once (claims are
            // disjoint and cover `0..total`), and completion made the
            // writes visible (the caller's guarantee).
            unsafe { buffer.set_len(claims.total()) };
            return Ok(buffer);
        }
        let mut drop_panic = None;
        for written in claims.written_ranges() {
            // SAFETY: `written_ranges` are exactly the slots holding a
            // result after a failure or cancel (see
            // `Claims::written_ranges`); each is dropped once here and the
            // buffer's length stays 0.
            let dropped = unsafe { drop_slots(buffer.as_mut_ptr(), written) };
            drop_panic = drop_panic.or(dropped);
        }
        let job = self.route.name.to_string();
        match failure {
            // The job never ran.
            _ if dependency_failed => Err(Error::DependencyFailed { job }),
            // A cancel that skipped items wins: the caller was told so.
            _ if claims.was_cancelled() => Err(Error::Cancelled { job }),
            Some(mut panic) => {
                if let Some(dropped) = drop_panic {
                    note_drop_panic(&mut panic.message, &dropped);
                }
                Err(self.error(panic))
            }
            None => unreachable!("checked above"),
        }
    }

    /// The job's name, for errors about it.
    pub(crate) fn job_name(&self) -> String {
        self.route.name.to_string()
    }

    /// The error reporting `panic` in this job.
    fn error(&self, panic: ItemPanic) -> Error {
        Error::HandlerPanicked {
            job: self.job_name(),
            item: panic.item,
            message: panic.message,
        }
    }
}

/// A tracked job: results in item order, a callback on the master.
pub(crate) struct TrackedJob<A, R, C> {
    base: JobBase<A>,
    slots: Slots<R>,
    /// The buffer's owner and the callback: master thread only.
    master: MasterOnly<Option<Completion<R, C>>>,
}

/// What the master takes out of a finished tracked job.
struct Completion<R, C> {
    buffer: Buffer<R>,
    callback: C,
}

impl<A, R, C> TrackedJob<A, R, C> {
    /// A job writing into `buffer` (capacity ≥ the item count, length 0).
    pub(crate) fn new(base: JobBase<A>, buffer: Vec<R>, callback: C) -> Self {
        let (buffer, slots) = Buffer::new(buffer, base.claims.total());
        TrackedJob {
            base,
            slots,
            master: MasterOnly::new(Some(Completion { buffer, callback })),
        }
    }
}

// SAFETY: actors share `&TrackedJob` to read `args` (`A: Sync`), claim and
// complete through atomics and a mutex, and write disjoint result slots of
// `R: Send` (see `Slots`). The callback and the buffer's ownership sit in
// `MasterOnly`, touched only by the master thread (see `MasterOnly`).
// Dropping the job on an actor thread drops `A: Send`, and a `MasterOnly`
// that `finish` has emptied or, for a job that never finished, whose
// callback `Drop` leaks rather than drops (freeing only the buffer's
// memory, no `R` in it).
unsafe impl<A: Send + Sync, R: Send, C> Send for TrackedJob<A, R, C> {}
// SAFETY: as for `Send`: every field reachable through `&TrackedJob` from an
// actor is either `Sync` or master-only.
unsafe impl<A: Send + Sync, R: Send, C> Sync for TrackedJob<A, R, C> {}

// SAFETY: `slots` points to the job's buffer of `R`, the result type the
// registry checked for the route, with capacity ≥ the item count; only
// `finish` takes the buffer, on the master, after the job is done.
unsafe impl<A, R, C> JobKind for TrackedJob<A, R, C>
where
    A: Send + Sync + 'static,
    R: Send + 'static,
    C: FnOnce(Result<Vec<R>, Error>) + 'static,
{
    type Args = A;

    fn base(&self) -> &JobBase<A> {
        &self.base
    }

    fn output(&self) -> Output {
        self.slots.output()
    }

    fn finish(&self, _errors: &mut Vec<Error>) -> bool {
        // SAFETY: `finish` is called on the master thread only, once the job
        // is done, and nothing else touches `master` then.
        let taken = unsafe { self.master.get_mut().take() };
        let Some(Completion { buffer, callback }) = taken else {
            return false;
        };
        // SAFETY: `buffer` is this job's result buffer, and the job is done.
        let outcome = unsafe { self.base.outcome(buffer) };
        callback(outcome);
        true
    }
}

impl<A, R, C> Drop for TrackedJob<A, R, C> {
    fn drop(&mut self) {
        // A job dropped unfinished (only when its dispatcher was leaked):
        // the buffer frees its storage without touching results of unknown
        // state (see `Buffer`); the callback is leaked, since it may belong
        // to another thread.
        if let Some(Completion { buffer, callback }) = self.master.get_mut_owned().take() {
            drop(buffer);
            std::mem::forget(callback);
        }
    }
}

/// A detached job: no results, no callback; its panics are reported.
pub(crate) struct DetachedJob<A> {
    base: JobBase<A>,
}

impl<A> DetachedJob<A> {
    pub(crate) fn new(base: JobBase<A>) -> Self {
        DetachedJob { base }
    }
}

// SAFETY: `Output::Discard` writes nothing.
unsafe impl<A: Send + Sync + 'static> JobKind for DetachedJob<A> {
    type Args = A;

    fn base(&self) -> &JobBase<A> {
        &self.base
    }

    fn output(&self) -> Output {
        Output::Discard
    }

    fn finish(&self, errors: &mut Vec<Error>) -> bool {
        let failures = self.base.claims.take_failures();
        errors.extend(failures.into_iter().map(|panic| self.base.error(panic)));
        false
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

    fn claims(progress: &Claims) -> Vec<Range<usize>> {
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
            let progress = Claims::new(total, Batching::new(Some(size), 2));
            let ranges = claims(&progress);
            assert_partition(&ranges, total);
            assert!(ranges.iter().all(|r| r.len() <= size));
            assert_eq!(ranges.len(), total.div_ceil(size));
        }
    }

    #[test]
    fn guided_batches_shrink_to_single_items() {
        let progress = Claims::new(1_000, Batching::new(None, 2));
        let ranges = claims(&progress);
        assert_partition(&ranges, 1_000);
        assert_eq!(ranges[0].len(), 125);
        assert!(ranges.windows(2).all(|w| w[0].len() >= w[1].len()));
        assert_eq!(ranges.last().map(Range::len), Some(1));
        assert!(ranges.len() < 60, "{} claims", ranges.len());
    }

    #[test]
    fn guided_claims_are_capped() {
        let progress = Claims::new(usize::MAX, Batching::new(None, 2));
        assert_eq!(progress.claim(), Some(0..MAX_GUIDED_CLAIM));
        let progress = Claims::new(MAX_GUIDED_CLAIM * 8, Batching::new(None, 1));
        assert_eq!(progress.claim().map(|r| r.len()), Some(MAX_GUIDED_CLAIM));
        let progress = Claims::new(MAX_GUIDED_CLAIM * 2, Batching::new(None, 1));
        assert_eq!(
            progress.claim().map(|r| r.len()),
            Some(MAX_GUIDED_CLAIM / 2)
        );
    }

    #[test]
    fn completion_is_reported_once_by_the_last_range() {
        let progress = Claims::new(10, Batching::new(Some(4), 1));
        let done: Vec<bool> = claims(&progress)
            .into_iter()
            .map(|range| progress.complete(range.len()))
            .collect();
        assert_eq!(done, [false, false, true]);
    }

    #[test]
    fn a_failure_cancels_the_unclaimed_rest() {
        let progress = Claims::new(10, Batching::new(Some(2), 1));
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
        let progress = Claims::new(0, Batching::new(None, 4));
        assert_eq!(progress.claim(), None);
    }
}
