//! [`JobFuture`]: a job awaited from async code, resolved by the actor that
//! finishes it.
//!
//! The job record plays the part of a oneshot channel: besides its result
//! slots it holds a small state behind a mutex (the buffer until the job is
//! done, then the outcome, and the waker of the last poll). The actor that
//! finishes the job turns the buffer into the outcome and wakes the task;
//! no master `poll` is involved. The mutex is touched once per `poll` of
//! the future and once at completion, never per item.
//!
//! Dropping an unfinished future cancels the job
//! ([`Error::Cancelled`](crate::Error::Cancelled) semantics: unclaimed items
//! are skipped, running batches finish, their results are dropped).

use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::ops::Range;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::after::Links;
use crate::error::Error;
use crate::id::JobId;
use crate::job::{Claims, Job, JobBase, Route};
use crate::kernel::{Kernel, Output};
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
    /// The future of `job`, which must come from [`FutureJob::new`].
    pub(crate) fn new<A: Send + Sync + 'static>(job: Arc<FutureJob<A, R>>, hub: Arc<Hub>) -> Self {
        JobFuture {
            job: job.clone(),
            state: job,
            hub,
            done: false,
        }
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
pub(crate) struct FutureJob<A, R> {
    base: JobBase<A>,
    /// Start of the result buffer; actors write disjoint claimed slots.
    slots: *mut R,
    state: Mutex<State<R>>,
}

struct State<R> {
    /// The buffer's owner until the job is done.
    buffer: Option<ManuallyDrop<Vec<R>>>,
    /// Set once by `resolve`, taken once by the future.
    outcome: Option<Result<Vec<R>, Error>>,
    waker: Option<Waker>,
}

impl<A: Send + Sync + 'static, R> FutureJob<A, R> {
    /// A job over `claims.total()` items writing into `buffer` (capacity ≥
    /// the total, length 0).
    pub(crate) fn new(id: JobId, route: Route, claims: Claims, args: A, buffer: Vec<R>) -> Self {
        debug_assert!(buffer.capacity() >= claims.total() && buffer.is_empty());
        let mut buffer = ManuallyDrop::new(buffer);
        FutureJob {
            slots: buffer.as_mut_ptr(),
            base: JobBase::new(id, route, claims, args),
            state: Mutex::new(State {
                buffer: Some(buffer),
                outcome: None,
                waker: None,
            }),
        }
    }
}

// SAFETY: as for `TrackedJob`: actors read `args` (`A: Sync`), claim and
// complete through atomics, and write disjoint slots of `R: Send`; the
// buffer's ownership, the outcome (`R: Send`) and the waker sit behind the
// mutex. Dropping the job on any thread drops `A: Send` and `R: Send`.
unsafe impl<A: Send + Sync, R: Send> Send for FutureJob<A, R> {}
// SAFETY: as for `Send`; every field reachable through `&FutureJob` is
// `Sync` or behind the mutex.
unsafe impl<A: Send + Sync, R: Send> Sync for FutureJob<A, R> {}

impl<A, R> Job for FutureJob<A, R>
where
    A: Send + Sync + 'static,
    R: Send + 'static,
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
        let waker = {
            let mut state = lock(&self.state);
            let Some(buffer) = state.buffer.take() else {
                return;
            };
            // SAFETY: this is the job's buffer, taken once (it is now
            // `None`), and `resolve` runs after the job is done.
            let outcome = unsafe { self.base.outcome(ManuallyDrop::into_inner(buffer)) };
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

impl<A, R> Drop for FutureJob<A, R> {
    fn drop(&mut self) {
        // A job dropped unresolved (only when its dispatcher was leaked):
        // free the buffer without touching results of unknown state.
        let buffer = lock(&self.state).buffer.take();
        if let Some(buffer) = buffer {
            let mut buffer = ManuallyDrop::into_inner(buffer);
            // SAFETY: length 0 never reads a slot; the allocation is freed.
            unsafe { buffer.set_len(0) };
        }
    }
}
