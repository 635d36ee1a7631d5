//! [`JobFuture`]: a job awaited from async code, resolved by the actor that
//! finishes it.
//!
//! The job record plays the part of a oneshot channel: besides what every
//! job has (its [`JobBase`] and result slots, see `job.rs`) it holds a
//! small state behind a mutex (the buffer until the job is done, then the
//! outcome, and the waker of the last poll). The actor that
//! finishes the job turns the buffer into the outcome and wakes the task;
//! no master `poll` is involved. The mutex is touched once per `poll` of
//! the future and once at completion, never per item. A `poll` that finds
//! the job unfinished wakes the actors held at dispatch, as a master's
//! `wait` does: its caller is about to leave the CPU they are pinned to.
//!
//! Dropping an unfinished future cancels the job
//! ([`Error::Cancelled`](crate::Error::Cancelled) semantics: unclaimed items
//! are skipped, running batches finish, their results are dropped).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::buffer::{Buffer, Slots};
use crate::error::Error;
use crate::id::JobId;
use crate::job::{Job, JobBase, JobKind};
use crate::kernel::Output;
use crate::pool::Hub;
use crate::sync::{lock, Arc, Mutex};

/// A job whose results are awaited: `Future<Output = Result<Vec<R>, Error>>`.
///
/// Made by [`JobSpec::future`](crate::JobSpec::future) (or
/// [`RemoteSpec::future`](crate::RemoteSpec::future) from any thread). It
/// resolves when the job finishes, woken from the actor that finished it,
/// with no `poll` or `wait` on the master; any executor works (it needs no
/// runtime). The outcome is as a tracked callback's: `Ok(buf)` in item
/// order, or the job's error.
///
/// # Drop
///
/// Dropping the future before it resolved cancels the job: items not yet
/// claimed are skipped, batches already running finish and their results
/// are dropped.
///
/// # Examples
///
/// ```
/// use weavekit::{Dispatcher, Error, Job, Kernel};
///
/// const SQUARE: Job<(), u64> = Job::new("square");
/// let d = Dispatcher::new(2, |k: &mut Kernel| k.on(SQUARE, |id, _| (id * id) as u64))?;
/// let future = d.job(SQUARE, 100).future(())?;
/// // Any executor: a thread that blocks on it, a tokio task, ...
/// let buf = std::thread::spawn(move || block_on(future)).join().unwrap()?;
/// assert_eq!(buf[9], 81);
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     use std::task::{Context, Poll, Wake, Waker};
/// #     struct T(std::thread::Thread);
/// #     impl Wake for T { fn wake(self: std::sync::Arc<Self>) { self.0.unpark() } }
/// #     let waker = Waker::from(std::sync::Arc::new(T(std::thread::current())));
/// #     let mut f = std::pin::pin!(f);
/// #     loop {
/// #         if let Poll::Ready(v) = f.as_mut().poll(&mut Context::from_waker(&waker)) { return v; }
/// #         std::thread::park();
/// #     }
/// # }
/// # Ok::<(), Error>(())
/// ```
#[must_use = "a JobFuture does nothing unless awaited; dropping it cancels the job"]
pub struct JobFuture<R> {
    job: Arc<dyn Job>,
    state: Arc<dyn Resolve<R>>,
    hub: Arc<Hub>,
    done: bool,
}

impl<R> JobFuture<R> {
    /// The job's id, for [`Dispatcher::progress`](crate::Dispatcher::progress)
    /// and the like (a future made by a [`Remote`](crate::Remote) has an id
    /// the dispatcher does not track).
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Job, Kernel, Progress};
    ///
    /// const ID: Job<(), usize> = Job::new("id");
    /// let d = Dispatcher::new(1, |k: &mut Kernel| k.on(ID, |id, _| id))?;
    /// let future = d.job(ID, 4).deferred().future(())?;
    /// assert_eq!(d.progress(future.id()), Some(Progress { done: 0, total: 4 }));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn id(&self) -> JobId {
        self.job.id()
    }
}

impl<R> Future for JobFuture<R> {
    type Output = Result<Vec<R>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let polled = self.state.poll_outcome(cx.waker());
        if polled.is_ready() {
            self.done = true;
        } else {
            // The caller goes off to wait in its executor: as for a master
            // blocking in `wait`, the actors held at dispatch (pinned to
            // its CPU) may run now (`sleep` module docs).
            self.hub.caller_waits();
        }
        polled
    }
}

impl<R> Drop for JobFuture<R> {
    fn drop(&mut self) {
        if !self.done {
            crate::job::cancel(&self.job, &self.hub);
            // Results already handed over are dropped here and now, not
            // whenever the last actor lets go of the job record.
            self.state.discard();
        }
    }
}

impl<R> fmt::Debug for JobFuture<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobFuture")
            .field("id", &self.job.id())
            .field("done", &self.done)
            .finish()
    }
}

impl<R: Send + 'static> JobFuture<R> {
    /// A job writing into `buffer` (capacity ≥ the item count, length 0),
    /// and the future of its outcome.
    pub(crate) fn new<A: Send + Sync + 'static>(
        base: JobBase<A>,
        buffer: Vec<R>,
        hub: &Arc<Hub>,
    ) -> (Arc<dyn Job>, Self) {
        let job = Arc::new(FutureJob::new(base, buffer));
        // Before the job is queued: this thread will await it here.
        hub.note_awaiting_caller();
        let future = JobFuture {
            job: job.clone(),
            state: job.clone(),
            hub: Arc::clone(hub),
            done: false,
        };
        (job, future)
    }
}

/// The future's view of its job record.
trait Resolve<R>: Send + Sync {
    /// Takes the outcome if the job is done, else stores `waker`.
    fn poll_outcome(&self, waker: &Waker) -> Poll<Result<Vec<R>, Error>>;

    /// Drops the outcome, if the job is done, and the stored waker.
    fn discard(&self);
}

/// A job whose outcome goes to a [`JobFuture`].
struct FutureJob<A, R> {
    base: JobBase<A>,
    slots: Slots<R>,
    state: Mutex<State<R>>,
}

struct State<R> {
    /// The buffer's owner until the job is done.
    buffer: Option<Buffer<R>>,
    /// Set once by `resolve`, taken once by the future.
    outcome: Option<Result<Vec<R>, Error>>,
    waker: Option<Waker>,
}

impl<A, R> FutureJob<A, R> {
    /// A job writing into `buffer` (capacity ≥ the item count, length 0).
    fn new(base: JobBase<A>, buffer: Vec<R>) -> Self {
        let (buffer, slots) = Buffer::new(buffer, base.claims.total());
        FutureJob {
            base,
            slots,
            state: Mutex::new(State {
                buffer: Some(buffer),
                outcome: None,
                waker: None,
            }),
        }
    }
}

// SAFETY: `slots` points to the job's buffer of `R`, the result type the
// registry checked for the route, with capacity ≥ the item count; only
// `resolve` takes the buffer, after the job is done.
unsafe impl<A, R> JobKind for FutureJob<A, R>
where
    A: Send + Sync + 'static,
    R: Send + 'static,
{
    type Args = A;

    fn base(&self) -> &JobBase<A> {
        &self.base
    }

    fn output(&self) -> Output {
        self.slots.output()
    }

    fn resolve(&self) {
        let waker = {
            let mut state = lock(&self.state);
            let Some(buffer) = state.buffer.take() else {
                return;
            };
            // SAFETY: this is the job's buffer, taken once (it is now
            // `None`), and `resolve` runs after the job is done.
            let outcome = unsafe { self.base.outcome(buffer) };
            state.outcome = Some(outcome);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn finish(&self, _errors: &mut Vec<Error>) -> bool {
        // Delivered to the future by `resolve`, on the finishing thread.
        false
    }

    fn abandon(&self) {
        let waker = {
            let mut state = lock(&self.state);
            if state.buffer.is_none() || state.outcome.is_some() {
                return; // resolved already
            }
            // The buffer stays: a stuck actor may still write to it. Should
            // the job finish after all, `resolve` replaces this outcome if
            // the future has not taken it yet.
            state.outcome = Some(Err(Error::Closed));
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<A, R> Resolve<R> for FutureJob<A, R>
where
    A: Send + Sync + 'static,
    R: Send + 'static,
{
    fn poll_outcome(&self, waker: &Waker) -> Poll<Result<Vec<R>, Error>> {
        let mut state = lock(&self.state);
        if let Some(outcome) = state.outcome.take() {
            return Poll::Ready(outcome);
        }
        if state.buffer.is_none() {
            // Resolved and taken already: polled after completion.
            return Poll::Ready(Err(Error::Closed));
        }
        match &mut state.waker {
            Some(stored) if stored.will_wake(waker) => {}
            stored => *stored = Some(waker.clone()),
        }
        Poll::Pending
    }

    fn discard(&self) {
        let (outcome, waker) = {
            let mut state = lock(&self.state);
            (state.outcome.take(), state.waker.take())
        };
        // Outside the lock: dropping results runs user `Drop`.
        drop((outcome, waker));
    }
}
