//! [`JobSpec`]: a job described step by step, then dispatched by one of its
//! terminals.
//!
//! Like `std::process::Command`, a spec gathers options (the batch size,
//! deferral, a result buffer to reuse) on a value and ends in a terminal
//! call ([`tracked`](JobSpec::tracked) or [`detached`](JobSpec::detached))
//! that checks the whole dispatch and returns its [`JobId`]. Every dispatch
//! method of the crate is a one-line layer over a spec, so there is one
//! implementation behind all of them.

use std::fmt;

use crate::check::Request;
use crate::dispatcher::Master;
use crate::error::Error;
use crate::future::JobFuture;
use crate::id::JobId;
use crate::job::{self, TrackedJob};
use crate::key::{DispatchKey, Job};
use crate::sync::Arc;
use crate::then::ThenJob;

/// A job about to be dispatched: `count` items of one handler, with options.
///
/// Made by [`Dispatcher::job`](crate::Dispatcher::job) or
/// [`DispatchHandle::job`](crate::DispatchHandle::job); nothing happens until
/// a terminal ([`tracked`](JobSpec::tracked) or
/// [`detached`](JobSpec::detached)) is called. `K` is the key: with a typed
/// [`Job<A, R>`], the terminals' argument and result types are fixed by it
/// (closures need no annotations, a mismatch does not compile); with a
/// `&str` name, they come from the terminal's arguments and callback, and
/// are checked when it is called.
///
/// # Examples
///
/// ```
/// use weavekit::{Dispatcher, Error, Job, Kernel};
///
/// const SUM: Job<Vec<u32>, u32> = Job::new("sum");
///
/// let mut d = Dispatcher::new(2, |kernel: &mut Kernel| {
///     kernel.on(SUM, |id, data| data[id] + 1);
/// })?;
/// let id = d
///     .job(SUM, 4)
///     .batch(2)
///     .tracked(vec![10, 20, 30, 40], |buf| assert_eq!(buf.unwrap(), [11, 21, 31, 41]))?;
/// d.wait_for(id);
/// # Ok::<(), Error>(())
/// ```
#[must_use = "a job spec does nothing until a terminal (`tracked`, `detached`) is called"]
pub struct JobSpec<'a, K: DispatchKey> {
    master: &'a Master,
    key: K,
    count: usize,
    batch: Option<usize>,
    deferred: bool,
    after: &'a [JobId],
    reuse: Option<Vec<K::Results>>,
}

impl<'a, K: DispatchKey> JobSpec<'a, K> {
    pub(crate) fn new(master: &'a Master, key: K, count: usize) -> Self {
        JobSpec {
            master,
            key,
            count,
            batch: None,
            deferred: false,
            after: &[],
            reuse: None,
        }
    }

    /// Hands items out in runs of `size` contiguous ids. Without it, claims
    /// shrink as the job drains (guided self-scheduling), which balances
    /// uneven items well.
    ///
    /// # Errors
    ///
    /// `size == 0` makes the terminal return [`Error::ZeroBatchSize`].
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Job, Kernel};
    ///
    /// const ACTOR: Job<(), usize> = Job::new("actor");
    /// let mut d = Dispatcher::new(2, |k: &mut Kernel| {
    ///     let me = k.actor_index();
    ///     k.on(ACTOR, move |_, _| me);
    /// })?;
    /// d.job(ACTOR, 8).batch(4).tracked((), |buf| {
    ///     let buf = buf.unwrap();
    ///     // Each run of four ids went to one actor.
    ///     assert!(buf[..4].iter().all(|&a| a == buf[0]));
    ///     assert!(buf[4..].iter().all(|&a| a == buf[4]));
    /// })?;
    /// d.wait();
    /// # Ok::<(), Error>(())
    /// ```
    pub fn batch(self, size: usize) -> Self {
        self.batch_size(Some(size))
    }

    /// The seed's `batch_size` argument.
    pub(crate) fn batch_size(mut self, size: Option<usize>) -> Self {
        self.batch = size;
        self
    }

    /// Starts the job at the dispatcher's next `poll` or `wait` instead of
    /// now. Errors are still returned by the terminal, at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Job, Kernel, Progress};
    ///
    /// const ID: Job<(), usize> = Job::new("id");
    /// let mut d = Dispatcher::new(1, |k: &mut Kernel| k.on(ID, |id, _| id))?;
    /// let job = d.job(ID, 5).deferred().tracked((), |buf| assert_eq!(buf.unwrap().len(), 5))?;
    /// assert_eq!(d.progress(job), Some(Progress { done: 0, total: 5 }));
    /// d.wait(); // starts it, then fires the callback
    /// # Ok::<(), Error>(())
    /// ```
    pub fn deferred(mut self) -> Self {
        self.deferred = true;
        self
    }

    /// Starts the job only once every job in `dependencies` has finished:
    /// the actor that finishes the last of them queues it, with no master
    /// step in between. If one of them failed (a handler panicked), was
    /// cancelled or itself did not run, this job does not run: its callback
    /// gets [`Error::DependencyFailed`]. Dependencies may be tracked or
    /// detached. An id whose outcome was already reported (or an unknown
    /// one) counts as finished successfully.
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Job, Kernel};
    /// use std::sync::{atomic::{AtomicU64, Ordering}, Arc};
    ///
    /// const FILL: Job<Arc<Vec<AtomicU64>>> = Job::new("fill");
    /// const READ: Job<Arc<Vec<AtomicU64>>, u64> = Job::new("read");
    /// let mut d = Dispatcher::new(2, |k: &mut Kernel| {
    ///     k.on_detached(FILL, |id, cells| cells[id].store(id as u64 * 10, Ordering::Relaxed));
    ///     k.on(READ, |id, cells| cells[id].load(Ordering::Relaxed));
    /// })?;
    /// let cells: Arc<Vec<AtomicU64>> = Arc::new((0..4).map(|_| AtomicU64::new(0)).collect());
    /// let fill = d.job(FILL, 4).detached(Arc::clone(&cells))?;
    /// d.job(READ, 4).after(&[fill]).tracked(cells, |buf| {
    ///     assert_eq!(buf.unwrap(), [0, 10, 20, 30]); // ran after `fill`
    /// })?;
    /// d.wait();
    /// # Ok::<(), Error>(())
    /// ```
    pub fn after(mut self, dependencies: &'a [JobId]) -> Self {
        self.after = dependencies;
        self
    }

    /// The checks' view of this spec.
    fn request(&self) -> Request<'_> {
        Request::new(self.key.key_name(), self.count, self.batch)
    }

    /// Dispatches a *tracked* job of `A` arguments and `R` results. Shared
    /// by the two keys' `tracked`.
    fn dispatch_tracked<A, R, C>(
        self,
        reuse: Option<Vec<R>>,
        args: A,
        callback: C,
    ) -> Result<JobId, Error>
    where
        A: Send + Sync + 'static,
        R: Send + 'static,
        C: FnOnce(Result<Vec<R>, Error>) + 'static,
    {
        let (base, buffer) = self.master.check_tracked(self.request(), reuse, args)?;
        let job: Arc<dyn job::Job> = Arc::new(TrackedJob::new(base, buffer, callback));
        Ok(self.master.admit(job, self.deferred, self.after))
    }

    /// Dispatches a job of `A` arguments and `R` results awaited by a
    /// future. Shared by the two keys' `future`.
    fn dispatch_future<A, R>(self, reuse: Option<Vec<R>>, args: A) -> Result<JobFuture<R>, Error>
    where
        A: Send + Sync + 'static,
        R: Send + 'static,
    {
        let (base, buffer) = self.master.check_tracked(self.request(), reuse, args)?;
        let (job, future) = JobFuture::new(base, buffer, self.master.hub());
        self.master.admit(job, self.deferred, self.after);
        Ok(future)
    }

    /// Dispatches a job of `A` arguments and `R` results handed to `then`
    /// on the finishing actor. Shared by the two keys' `then`.
    fn dispatch_then<A, R, F>(self, reuse: Option<Vec<R>>, args: A, then: F) -> Result<JobId, Error>
    where
        A: Send + Sync + 'static,
        R: Send + 'static,
        F: FnOnce(Result<Vec<R>, Error>) + Send + 'static,
    {
        let (base, buffer) = self.master.check_tracked(self.request(), reuse, args)?;
        let job: Arc<dyn job::Job> = Arc::new(ThenJob::new(base, buffer, then));
        Ok(self.master.admit(job, self.deferred, self.after))
    }

    /// Dispatches a *detached* job of `A` arguments. Shared by the two
    /// keys' `detached`.
    fn dispatch_detached<A>(self, args: A) -> Result<JobId, Error>
    where
        A: Send + Sync + 'static,
    {
        let name = self.key.key_name();
        let job = self.master.detached(name, self.count, self.batch, args)?;
        if self.count == 0 && !self.deferred && self.after.is_empty() {
            // Nothing to run and nothing to report: done at once.
            return Ok(self.master.admit_done(job));
        }
        Ok(self.master.admit(job, self.deferred, self.after))
    }
}

/// Terminals of a typed key: the key fixes the argument and result types.
impl<A, R> JobSpec<'_, Job<A, R>> {
    /// Writes the results into `buffer`'s storage instead of a fresh
    /// allocation: a frame loop that hands each frame's buffer back
    /// allocates nothing for results once the buffer is big enough. The
    /// buffer's elements are dropped first; if its capacity is below the
    /// item count it grows. Ignored by [`detached`](JobSpec::detached).
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Job, Kernel};
    /// use std::{cell::RefCell, rc::Rc};
    ///
    /// const ID: Job<(), usize> = Job::new("id");
    /// let mut d = Dispatcher::new(2, |k: &mut Kernel| k.on(ID, |id, _| id))?;
    /// let spare = Rc::new(RefCell::new(Vec::with_capacity(100)));
    /// let storage = spare.borrow().as_ptr();
    /// for _frame in 0..3 {
    ///     let back = Rc::clone(&spare);
    ///     let buffer = spare.take();
    ///     d.job(ID, 100).reuse(buffer).tracked((), move |buf| {
    ///         *back.borrow_mut() = buf.unwrap(); // hand it back for the next frame
    ///     })?;
    ///     d.wait();
    /// }
    /// assert_eq!(spare.borrow().as_ptr(), storage, "the same storage every frame");
    /// # Ok::<(), Error>(())
    /// ```
    pub fn reuse(mut self, buffer: Vec<R>) -> Self {
        self.reuse = Some(buffer);
        self
    }

    /// Dispatches a *tracked* job: items `0..count` run the handler as
    /// `handler(id, &args)` on the actors; `callback` gets the results in
    /// item order (`buf[id]`) later, on this thread, inside `poll`, `wait`,
    /// `wait_for` or at shutdown. It fires exactly once: `Ok(buf)`, or `Err`
    /// when a handler panicked ([`Error::HandlerPanicked`]) or the job was
    /// cancelled ([`Error::Cancelled`]). Callbacks fire in the order jobs
    /// finish; the returned [`JobId`] tells jobs apart.
    ///
    /// # Errors
    ///
    /// At once, with nothing queued: [`Error::UnknownJob`],
    /// [`Error::DetachedHandler`], [`Error::ArgumentType`],
    /// [`Error::ResultType`], [`Error::ZeroBatchSize`],
    /// [`Error::TooManyItems`], [`Error::Closed`].
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Job, Kernel};
    ///
    /// const SCALE: Job<f64, f64> = Job::new("scale");
    /// let mut d = Dispatcher::new(2, |k: &mut Kernel| k.on(SCALE, |id, by| id as f64 * by))?;
    /// d.job(SCALE, 3).tracked(0.5, |buf| assert_eq!(buf.unwrap(), [0.0, 0.5, 1.0]))?;
    /// d.wait();
    /// # Ok::<(), Error>(())
    /// ```
    pub fn tracked<C>(mut self, args: A, callback: C) -> Result<JobId, Error>
    where
        A: Send + Sync + 'static,
        R: Send + 'static,
        C: FnOnce(Result<Vec<R>, Error>) + 'static,
    {
        let reuse = self.reuse.take();
        self.dispatch_tracked(reuse, args, callback)
    }

    /// Dispatches a *detached* job: fire and forget, no results, no
    /// callback, one allocation. A tracked handler runs with its results
    /// dropped. Panics are collected for
    /// [`Dispatcher::take_detached_errors`](crate::Dispatcher::take_detached_errors).
    ///
    /// # Errors
    ///
    /// At once: [`Error::UnknownJob`], [`Error::ArgumentType`],
    /// [`Error::ZeroBatchSize`], [`Error::Closed`].
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Job, Kernel};
    ///
    /// const LOG: Job<&'static str> = Job::new("log");
    /// let mut d = Dispatcher::new(2, |k: &mut Kernel| k.on_detached(LOG, |_, _| {}))?;
    /// let id = d.job(LOG, 1_000).detached("tick")?;
    /// d.wait_for(id);
    /// assert!(d.take_detached_errors().is_empty());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn detached(self, args: A) -> Result<JobId, Error>
    where
        A: Send + Sync + 'static,
    {
        self.dispatch_detached(args)
    }

    /// Dispatches a job whose results are awaited: the returned
    /// [`JobFuture`] resolves to what a tracked callback would get,
    /// woken by the actor that finishes the job, with no `poll` or `wait` on
    /// the master. It is `Send`: await it on any thread, under any
    /// executor. Dropping it unfinished cancels the job. The job counts in
    /// [`in_flight`](crate::Dispatcher::in_flight) until the dispatcher
    /// next polls after it finished.
    ///
    /// # Errors
    ///
    /// As [`tracked`](JobSpec::tracked), at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Job, Kernel};
    ///
    /// const DOUBLE: Job<u32, u32> = Job::new("double");
    /// let mut d = Dispatcher::new(2, |k: &mut Kernel| k.on(DOUBLE, |id, by| id as u32 * by))?;
    /// let future = d.job(DOUBLE, 1_000).batch(100).future(2)?;
    /// let buf = std::thread::spawn(move || block_on(future)).join().unwrap()?;
    /// assert_eq!(buf[500], 1_000);
    /// d.wait();
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
    pub fn future(mut self, args: A) -> Result<JobFuture<R>, Error>
    where
        A: Send + Sync + 'static,
        R: Send + 'static,
    {
        let reuse = self.reuse.take();
        self.dispatch_future(reuse, args)
    }

    /// Dispatches a job whose results go to `then`, called once on the
    /// actor that finishes the job, with what a tracked callback would get.
    /// It is how a follow-up consumes results without a master round trip:
    /// `then` turns them into the next job's arguments and dispatches it
    /// through a [`Remote`](crate::Remote) it captured. The actor runs
    /// nothing else meanwhile, so keep it short.
    ///
    /// A panic in `then` is caught and reported with
    /// [`take_detached_errors`](crate::Dispatcher::take_detached_errors) as
    /// [`Error::HandlerPanicked`] whose `item` is the item count.
    ///
    /// # Errors
    ///
    /// As [`tracked`](JobSpec::tracked), at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{atomic::{AtomicU64, Ordering}, Arc};
    /// use weavekit::{Dispatcher, Error, Job, Kernel};
    ///
    /// const SQUARE: Job<(), u64> = Job::new("square");
    /// const ADD: Job<(u64, Arc<AtomicU64>)> = Job::new("add");
    /// let mut d = Dispatcher::new(2, |k: &mut Kernel| {
    ///     k.on(SQUARE, |id, _| (id * id) as u64);
    ///     k.on_detached(ADD, |_, (n, sum)| { sum.fetch_add(*n, Ordering::Relaxed); });
    /// })?;
    /// let remote = d.remote();
    /// let sum = Arc::new(AtomicU64::new(0));
    /// let total = Arc::clone(&sum);
    /// d.job(SQUARE, 4).then((), move |squares| {
    ///     // On the actor that finished SQUARE: 0 + 1 + 4 + 9, twice.
    ///     let n: u64 = squares.unwrap().iter().sum();
    ///     remote.job(ADD, 2).detached((n, total)).unwrap();
    /// })?;
    /// d.wait(); // also waits for the follow-up
    /// assert_eq!(sum.load(Ordering::Relaxed), 28);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn then<F>(mut self, args: A, then: F) -> Result<JobId, Error>
    where
        A: Send + Sync + 'static,
        R: Send + 'static,
        F: FnOnce(Result<Vec<R>, Error>) + Send + 'static,
    {
        let reuse = self.reuse.take();
        self.dispatch_then(reuse, args, then)
    }
}

/// Terminals of a `&str` name: the types come from the call and are checked
/// against the handler's when it is made.
impl JobSpec<'_, &str> {
    /// As the typed key's [`tracked`](JobSpec::tracked), with `A` and `R`
    /// taken from `args` and `callback` (annotate the callback's argument).
    ///
    /// # Errors
    ///
    /// As the typed [`tracked`](JobSpec::tracked), at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Kernel};
    ///
    /// let mut d = Dispatcher::new(1, |k: &mut Kernel| k.on("neg", |id: usize, _: &()| -(id as i64)))?;
    /// d.job("neg", 3).tracked((), |buf: Result<Vec<i64>, Error>| {
    ///     assert_eq!(buf.unwrap(), [0, -1, -2]);
    /// })?;
    /// // Types are checked at the call for a name.
    /// let wrong = d.job("neg", 3).tracked((), |_: Result<Vec<u8>, Error>| {});
    /// assert!(matches!(wrong, Err(Error::ResultType { .. })));
    /// d.wait();
    /// # Ok::<(), Error>(())
    /// ```
    pub fn tracked<A, R, C>(self, args: A, callback: C) -> Result<JobId, Error>
    where
        A: Send + Sync + 'static,
        R: Send + 'static,
        C: FnOnce(Result<Vec<R>, Error>) + 'static,
    {
        self.dispatch_tracked(None, args, callback)
    }

    /// As the typed key's [`detached`](JobSpec::detached), with `A` taken
    /// from `args`.
    ///
    /// # Errors
    ///
    /// As the typed [`detached`](JobSpec::detached), at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Kernel};
    ///
    /// let mut d = Dispatcher::new(1, |k: &mut Kernel| k.on_detached("t", |_: usize, _: &u8| {}))?;
    /// let id = d.job("t", 3).deferred().detached(7_u8)?;
    /// assert!(d.progress(id).is_some());
    /// assert!(matches!(d.job("t", 3).detached(7_i32), Err(Error::ArgumentType { .. })));
    /// d.wait();
    /// # Ok::<(), Error>(())
    /// ```
    pub fn detached<A>(self, args: A) -> Result<JobId, Error>
    where
        A: Send + Sync + 'static,
    {
        self.dispatch_detached(args)
    }

    /// As the typed key's [`future`](JobSpec::future), with `A` and `R`
    /// from the call (name `R`, for example with `future::<_, u64>`).
    ///
    /// # Errors
    ///
    /// As the typed [`future`](JobSpec::future), at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Kernel};
    ///
    /// let d = Dispatcher::new(1, |k: &mut Kernel| k.on("id", |id: usize, _: &()| id))?;
    /// let future = d.job("id", 4).future::<(), usize>(())?;
    /// drop(future); // cancels the job
    /// # Ok::<(), Error>(())
    /// ```
    pub fn future<A, R>(self, args: A) -> Result<JobFuture<R>, Error>
    where
        A: Send + Sync + 'static,
        R: Send + 'static,
    {
        self.dispatch_future(None, args)
    }
}

impl<K: DispatchKey> fmt::Debug for JobSpec<'_, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobSpec")
            .field("name", &self.key.key_name())
            .field("count", &self.count)
            .field("batch", &self.batch)
            .field("deferred", &self.deferred)
            .field("reuse", &self.reuse.as_ref().map(Vec::capacity))
            .finish()
    }
}
