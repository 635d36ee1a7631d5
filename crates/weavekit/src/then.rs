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

use crate::buffer::{Buffer, Slots};
use crate::error::Error;
use crate::job::{JobBase, JobKind};
use crate::kernel::Output;
use crate::sync::{lock, Mutex};
use crate::unwind;

/// A job whose outcome goes to a closure on the finishing actor.
pub(crate) struct ThenJob<A, R, F> {
    base: JobBase<A>,
    slots: Slots<R>,
    state: Mutex<State<R, F>>,
}

struct State<R, F> {
    /// The buffer's owner until the job is done.
    buffer: Option<Buffer<R>>,
    then: Option<F>,
    /// The closure's panic message, for the master to report.
    panic: Option<String>,
}

impl<A, R, F> ThenJob<A, R, F> {
    /// A job writing into `buffer` (capacity ≥ the item count, length 0),
    /// handing the outcome to `then`.
    pub(crate) fn new(base: JobBase<A>, buffer: Vec<R>, then: F) -> Self {
        let (buffer, slots) = Buffer::new(buffer, base.claims.total());
        ThenJob {
            base,
            slots,
            state: Mutex::new(State {
                buffer: Some(buffer),
                then: Some(then),
                panic: None,
            }),
        }
    }
}

// SAFETY: `slots` points to the job's buffer of `R`, the result type the
// registry checked for the route, with capacity ≥ the item count; only
// `resolve` takes the buffer, after the job is done.
unsafe impl<A, R, F> JobKind for ThenJob<A, R, F>
where
    A: Send + Sync + 'static,
    R: Send + 'static,
    F: FnOnce(Result<Vec<R>, Error>) + Send + 'static,
{
    type Args = A;

    fn base(&self) -> &JobBase<A> {
        &self.base
    }

    fn output(&self) -> Output {
        self.slots.output()
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
        let outcome = unsafe { self.base.outcome(buffer) };
        // User code on an actor: a panic must not unwind into the pool.
        if let Err(message) = unwind::catch(|| then(outcome)) {
            lock(&self.state).panic = Some(message);
        }
    }

    fn finish(&self, errors: &mut Vec<Error>) -> bool {
        if let Some(message) = lock(&self.state).panic.take() {
            errors.push(Error::HandlerPanicked {
                job: self.base.job_name(),
                item: self.base.claims.total(),
                message: format!("the `then` closure panicked: {message}"),
            });
        }
        false
    }
}
