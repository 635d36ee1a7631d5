//! [`JobSpec::then`](crate::JobSpec::then): a job whose results go to a
//! closure run on the actor that finishes it.
//!
//! This is how a follow-up consumes a job's results with no master round
//! trip: the closure turns the results into the next job's arguments and
//! dispatches it through a [`Remote`](crate::Remote) (detached, or as a
//! [`JobFuture`](crate::JobFuture)), all on the finishing actor. The
//! record works like a future's (see `future.rs`), with the closure in
//! place of the waker.
//!
//! A panic in the closure is caught on the actor and reported with the
//! detached panics
//! ([`Dispatcher::take_detached_errors`](crate::Dispatcher::take_detached_errors)),
//! as [`Error::HandlerPanicked`] with `item` equal to the job's item count
//! (one past the last item), since no item failed.

use std::mem::ManuallyDrop;
use std::ops::Range;

use crate::after::Links;
use crate::error::Error;
use crate::id::JobId;
use crate::job::{Claims, Job, JobBase, Route};
use crate::kernel::{Kernel, Output};
use crate::sync::{lock, Arc, Mutex};
use crate::unwind;

/// A job whose outcome goes to a closure on the finishing actor.
pub(crate) struct ThenJob<A, R, F> {
    base: JobBase<A>,
    /// Start of the result buffer; actors write disjoint claimed slots.
    slots: *mut R,
    state: Mutex<State<R, F>>,
}

struct State<R, F> {
    /// The buffer's owner until the job is done.
    buffer: Option<ManuallyDrop<Vec<R>>>,
    then: Option<F>,
    /// The closure's panic message, for the master to report.
    panic: Option<String>,
}

impl<A, R, F> ThenJob<A, R, F>
where
    A: Send + Sync + 'static,
{
    /// A job over `claims.total()` items writing into `buffer` (capacity ≥
    /// the total, length 0), handing the outcome to `then`.
    pub(crate) fn new(
        id: JobId,
        route: Route,
        claims: Claims,
        args: A,
        buffer: Vec<R>,
        then: F,
    ) -> Self {
        debug_assert!(buffer.capacity() >= claims.total() && buffer.is_empty());
        let mut buffer = ManuallyDrop::new(buffer);
        ThenJob {
            slots: buffer.as_mut_ptr(),
            base: JobBase::new(id, route, claims, args),
            state: Mutex::new(State {
                buffer: Some(buffer),
                then: Some(then),
                panic: None,
            }),
        }
    }
}

// SAFETY: as for `TrackedJob`: actors read `args` (`A: Sync`), claim and
// complete through atomics, and write disjoint slots of `R: Send`; the
// buffer's ownership and the closure (`F: Send`, called once on the
// finishing thread) sit behind the mutex.
unsafe impl<A: Send + Sync, R: Send, F: Send> Send for ThenJob<A, R, F> {}
// SAFETY: as for `Send`; every field reachable through `&ThenJob` is `Sync`
// or behind the mutex.
unsafe impl<A: Send + Sync, R: Send, F: Send> Sync for ThenJob<A, R, F> {}

impl<A, R, F> Job for ThenJob<A, R, F>
where
    A: Send + Sync + 'static,
    R: Send + 'static,
    F: FnOnce(Result<Vec<R>, Error>) + Send + 'static,
{
    fn id(&self) -> JobId {
        self.base.id
    }

    fn claims(&self) -> &Claims {
        &self.base.claims
    }

    fn links(&self) -> &Links {
        &self.base.links
    }

    fn name(&self) -> &Arc<str> {
        &self.base.route().name
    }

    fn run(&self, kernel: &mut Kernel, range: Range<usize>) -> bool {
        // SAFETY: `slots` points to a buffer of `R` (the registry checked
        // the handler returns `R`) with capacity ≥ `total` ≥ `range.end`;
        // `range` was claimed from this job, so no other actor writes it,
        // and `resolve` reads the buffer only after completion.
        unsafe {
            self.base
                .run(kernel, range, Output::Slots(self.slots.cast()))
        }
    }

    fn resolve(&self) {
        let (buffer, then) = {
            let mut state = lock(&self.state);
            (state.buffer.take(), state.then.take())
        };
        let (Some(buffer), Some(then)) = (buffer, then) else {
            return;
        };
        // SAFETY: this is the job's buffer, taken once (it is now `None`),
        // and `resolve` runs after the job is done.
        let outcome = unsafe { self.base.outcome(ManuallyDrop::into_inner(buffer)) };
        // User code on an actor: a panic must not unwind into the pool.
        if let Err(message) = unwind::catch(|| then(outcome)) {
            lock(&self.state).panic = Some(message);
        }
    }

    fn finish(&self, errors: &mut Vec<Error>) -> bool {
        if let Some(message) = lock(&self.state).panic.take() {
            errors.push(Error::HandlerPanicked {
                job: self.base.route().name.to_string(),
                item: self.base.claims.total(),
                message: format!("the `then` closure panicked: {message}"),
            });
        }
        false
    }
}

impl<A, R, F> Drop for ThenJob<A, R, F> {
    fn drop(&mut self) {
        // A job dropped unresolved (only when its dispatcher was leaked):
        // free the buffer without touching results of unknown state; the
        // closure is dropped with the state.
        let buffer = lock(&self.state).buffer.take();
        if let Some(buffer) = buffer {
            let mut buffer = ManuallyDrop::into_inner(buffer);
            // SAFETY: length 0 never reads a slot; the allocation is freed.
            unsafe { buffer.set_len(0) };
        }
    }
}
