//! The master side: [`Dispatcher`] and [`DispatchHandle`].
//!
//! The master never runs items. A dispatch checks the call against the
//! handler registry (`check.rs`, the same checks as a [`Remote`]'s),
//! allocates the job (one allocation for the job record, one for the
//! result buffer), queues it and wakes the actors; that is all, so its
//! cost does not depend on the item count. Callbacks fire later, on
//! the master, in [`Dispatcher::poll`], [`Dispatcher::wait`] or at shutdown.
//!
//! The master state lives behind an `Rc` shared by the dispatcher and its
//! handles; every method takes `&self`, and no `RefCell` borrow is held
//! while user code (a callback) runs, so callbacks may dispatch freely.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use crate::after::Links;
use crate::builder::{DispatcherBuilder, PoolConfig};
use crate::check::{Checks, Request};
use crate::error::Error;
use crate::id::{JobId, JobTable, Progress};
use crate::job::{DetachedJob, Job, JobBase};
use crate::kernel::Kernel;
use crate::key::DispatchKey;
use crate::pool::{Pool, Worker};
use crate::registry::Registry;
use crate::remote::{Remote, Shared};
use crate::spec::JobSpec;
use crate::sync::Arc;
use crate::unwind;

/// Runs named jobs on a pool of actors and calls back on this thread.
///
/// The dispatcher belongs to the thread that created it (the *master*): it
/// is neither `Send` nor `Sync`, because callbacks, which need not be
/// `Send`, run on that thread.
///
/// Job arguments are dropped wherever the job's last reference goes: on an
/// actor or on the master, possibly after the callback fired. A panic in
/// that `Drop` (or in `Drop` of results the library drops, as after a
/// handler panic) is caught and reported as [`Error::DropPanicked`] through
/// [`take_detached_errors`](Dispatcher::take_detached_errors); it never
/// unwinds out of `poll`, `wait` or drop. Handler and entry panics are
/// caught only with `panic = "unwind"` (the default); with
/// `panic = "abort"` they abort the process, as any panic does.
///
/// # Drop
///
/// Dropping the dispatcher (or calling [`destroy`](Dispatcher::destroy))
/// runs every dispatched and deferred job to the end, fires every pending
/// callback, then stops and joins the actors. A callback that panics during
/// this drain is reported on stderr and the drain goes on; detached panics
/// never taken with [`take_detached_errors`](Dispatcher::take_detached_errors)
/// are printed on stderr.
///
/// # Examples
///
/// ```
/// use weavekit::{Dispatcher, Error, Kernel};
///
/// fn worker(kernel: &mut Kernel) {
///     kernel.on("double", |id: usize, factor: &u64| id as u64 * factor);
/// }
///
/// let mut dispatcher = Dispatcher::new(2, worker)?;
/// dispatcher.dispatch(
///     "double",
///     1_000,
///     |buf: Result<Vec<u64>, Error>| assert_eq!(buf.unwrap()[999], 1_998),
///     None,
///     2_u64,
/// )?;
/// dispatcher.wait();
/// # Ok::<(), Error>(())
/// ```
pub struct Dispatcher {
    /// Every dispatch method delegates to the handle's.
    handle: DispatchHandle,
}

/// A cloneable handle to a [`Dispatcher`], for dispatching from places that
/// do not own it, such as callbacks (chaining).
///
/// Like the dispatcher, it stays on the master thread. Once the dispatcher
/// is destroyed, every method returns [`Error::Closed`].
///
/// # Examples
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use weavekit::{Dispatcher, Error, Kernel};
///
/// let mut dispatcher = Dispatcher::new(2, |kernel: &mut Kernel| {
///     kernel.on("id", |id: usize, _: &()| id);
/// })?;
/// let handle = dispatcher.handle();
/// let total = Rc::new(Cell::new(0));
/// let seen = Rc::clone(&total);
/// dispatcher.dispatch("id", 10, move |first: Result<Vec<usize>, Error>| {
///     let n = first.unwrap().len();
///     // Chain a second job sized by the first one's result.
///     handle
///         .dispatch_deferred("id", n * 2, move |second: Result<Vec<usize>, Error>| {
///             seen.set(second.unwrap().len());
///         }, None, ())
///         .unwrap();
/// }, None, ())?;
/// dispatcher.wait();
/// assert_eq!(total.get(), 20);
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone)]
pub struct DispatchHandle {
    master: Rc<Master>,
}

impl Dispatcher {
    /// The most actors a dispatcher starts: 1024.
    ///
    /// Actors are OS threads running CPU-bound handlers, so more actors than
    /// hardware threads only add context switches; 1024 is above the
    /// hardware thread count of today's largest common servers and leaves
    /// room for a few dispatchers per process. It is far below where
    /// operating systems stop creating threads: on a default Linux setup
    /// the standard library aborts the process (it cannot map a thread's
    /// signal stack guard page) at around 17,000 threads, an abort no
    /// library can catch, which is why larger counts are refused up front,
    /// before any thread starts. The Luau host caps at the same number.
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Kernel};
    ///
    /// let refused = Dispatcher::new(100_000, |_: &mut Kernel| {});
    /// assert_eq!(
    ///     refused.err(),
    ///     Some(Error::TooManyActors { requested: 100_000, max: Dispatcher::MAX_ACTORS })
    /// );
    /// ```
    pub const MAX_ACTORS: usize = 1024;

    /// Options for a dispatcher: actor count (default: the machine's
    /// available parallelism), stack size, thread names, quiet panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Kernel};
    ///
    /// let dispatcher = Dispatcher::builder().build(|_: &mut Kernel| {})?;
    /// assert!(dispatcher.actor_count() >= 1);
    /// # Ok::<(), weavekit::Error>(())
    /// ```
    pub fn builder() -> DispatcherBuilder {
        DispatcherBuilder::new()
    }

    /// Starts `actor_count` actors, each running `worker` once on its own
    /// thread with its own [`Kernel`], and returns when every one is ready.
    /// The same as `Dispatcher::builder().actor_count(actor_count).build(worker)`.
    ///
    /// # Errors
    ///
    /// [`Error::NoActors`] for `actor_count == 0`;
    /// [`Error::TooManyActors`] above [`Dispatcher::MAX_ACTORS`];
    /// [`Error::WorkerPanicked`] (naming the actor, with the panic message)
    /// when the entry panics on any actor; [`Error::WorkersDisagree`] when
    /// actors register different handlers; [`Error::Spawn`] when a thread
    /// cannot start. On error every actor already started is stopped and
    /// joined.
    pub fn new<W>(actor_count: usize, worker: W) -> Result<Dispatcher, Error>
    where
        W: Fn(&mut Kernel) + Send + Sync + 'static,
    {
        Dispatcher::builder().actor_count(actor_count).build(worker)
    }

    /// Starts the pool `config` describes (already checked).
    pub(crate) fn start(config: &PoolConfig, worker: Worker) -> Result<Dispatcher, Error> {
        let (pool, table) = Pool::start(config, worker)?;
        let master = Master {
            hub: Arc::clone(pool.hub()),
            pool: RefCell::new(Some(pool)),
            registry: Arc::new(Registry::new(&table)),
            actor_count: config.actor_count,
            quiet_panics: config.quiet_panics,
            closed: Cell::new(false),
            deferred: RefCell::new(VecDeque::new()),
            ready: RefCell::new(VecDeque::new()),
            jobs: RefCell::new(JobTable::default()),
        };
        Ok(Dispatcher {
            handle: DispatchHandle {
                master: Rc::new(master),
            },
        })
    }

    /// Describes a job of `count` items of the handler `key` names (a typed
    /// [`Job`](crate::Job) or a `&str`); a terminal of the returned
    /// [`JobSpec`] dispatches it. Every other dispatch method is a layer
    /// over this one.
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Job, Kernel};
    ///
    /// const DOUBLE: Job<u64, u64> = Job::new("double");
    /// let mut d = Dispatcher::new(2, |k: &mut Kernel| k.on(DOUBLE, |id, by| id as u64 * by))?;
    /// let id = d.job(DOUBLE, 1_000).batch(64).tracked(2, |buf| {
    ///     assert_eq!(buf.unwrap()[999], 1_998);
    /// })?;
    /// d.wait_for(id);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn job<K: DispatchKey>(&self, key: K, count: usize) -> JobSpec<'_, K> {
        self.handle.job(key, count)
    }

    /// Dispatches a *tracked* job: the seed's form of
    /// `job(name, thread_count).tracked(args, callback)` with an optional
    /// batch size. Items `0..thread_count` run `name`'s handler as
    /// `handler(id, &args)` on the actors; `callback` later gets the results
    /// in item order (`buf[id]`), on this thread, inside
    /// [`poll`](Dispatcher::poll), [`wait`](Dispatcher::wait) or at
    /// shutdown. It fires exactly once: `Ok(buf)`, or `Err` when a handler
    /// panicked or the job was cancelled. Returns at once, whatever
    /// `thread_count` is. Any count whose result buffer can be allocated is
    /// accepted, even one no run can finish (`usize::MAX` items of a
    /// zero-sized result): [`destroy_timeout`](Dispatcher::destroy_timeout)
    /// leaves such a job.
    ///
    /// `batch_size: None` balances load with guided self-scheduling (each
    /// claim takes about a quarter of the remaining items divided by the
    /// actor count, at least one); `Some(n)` hands out runs of `n`
    /// contiguous ids.
    ///
    /// # Errors
    ///
    /// As [`JobSpec::tracked`], at once, with nothing queued.
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Kernel};
    ///
    /// let mut d = Dispatcher::new(2, |k: &mut Kernel| k.on("sq", |id: usize, _: &()| id * id))?;
    /// d.dispatch("sq", 4, |buf: Result<Vec<usize>, Error>| {
    ///     assert_eq!(buf.unwrap(), [0, 1, 4, 9]);
    /// }, None, ())?;
    /// d.wait();
    /// # Ok::<(), Error>(())
    /// ```
    pub fn dispatch<A, R, C>(
        &mut self,
        name: &str,
        thread_count: usize,
        callback: C,
        batch_size: Option<usize>,
        args: A,
    ) -> Result<JobId, Error>
    where
        A: Send + Sync + 'static,
        R: Send + 'static,
        C: FnOnce(Result<Vec<R>, Error>) + 'static,
    {
        self.handle
            .dispatch(name, thread_count, callback, batch_size, args)
    }

    /// As [`dispatch`](Dispatcher::dispatch), but the job starts at the next
    /// [`poll`](Dispatcher::poll) or [`wait`](Dispatcher::wait): the seed's
    /// form of `job(..).deferred().tracked(..)`.
    ///
    /// # Errors
    ///
    /// As [`JobSpec::tracked`], at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Kernel};
    ///
    /// let mut d = Dispatcher::new(1, |k: &mut Kernel| k.on("id", |id: usize, _: &()| id))?;
    /// d.dispatch_deferred("id", 2, |buf: Result<Vec<usize>, Error>| {
    ///     assert_eq!(buf.unwrap(), [0, 1]);
    /// }, Some(1), ())?;
    /// assert_eq!(d.in_flight(), 1);
    /// d.wait();
    /// # Ok::<(), Error>(())
    /// ```
    pub fn dispatch_deferred<A, R, C>(
        &mut self,
        name: &str,
        thread_count: usize,
        callback: C,
        batch_size: Option<usize>,
        args: A,
    ) -> Result<JobId, Error>
    where
        A: Send + Sync + 'static,
        R: Send + 'static,
        C: FnOnce(Result<Vec<R>, Error>) + 'static,
    {
        self.handle
            .dispatch_deferred(name, thread_count, callback, batch_size, args)
    }

    /// Dispatches a *detached* job: the seed's form of
    /// `job(name, thread_count).detached(args)`. Fire and forget, no
    /// results, no callback; one allocation. A tracked handler runs with its
    /// results dropped. Panics are collected for
    /// [`take_detached_errors`](Dispatcher::take_detached_errors).
    ///
    /// # Errors
    ///
    /// As [`JobSpec::detached`], at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Kernel};
    ///
    /// let mut d = Dispatcher::new(2, |k: &mut Kernel| k.on_detached("touch", |_: usize, _: &f32| {}))?;
    /// d.dispatch_detached("touch", 100, None, 0.016_f32)?;
    /// d.wait();
    /// # Ok::<(), Error>(())
    /// ```
    pub fn dispatch_detached<A>(
        &mut self,
        name: &str,
        thread_count: usize,
        batch_size: Option<usize>,
        args: A,
    ) -> Result<JobId, Error>
    where
        A: Send + Sync + 'static,
    {
        self.handle
            .dispatch_detached(name, thread_count, batch_size, args)
    }

    /// As [`dispatch_detached`](Dispatcher::dispatch_detached), but the job
    /// starts at the next [`poll`](Dispatcher::poll) or
    /// [`wait`](Dispatcher::wait).
    ///
    /// # Errors
    ///
    /// As [`JobSpec::detached`], at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Kernel};
    ///
    /// let mut d = Dispatcher::new(1, |k: &mut Kernel| k.on_detached("touch", |_: usize, _: &()| {}))?;
    /// let id = d.dispatch_detached_deferred("touch", 10, None, ())?;
    /// assert_eq!(d.progress(id).map(|p| p.done), Some(0), "not started");
    /// d.wait();
    /// # Ok::<(), Error>(())
    /// ```
    pub fn dispatch_detached_deferred<A>(
        &mut self,
        name: &str,
        thread_count: usize,
        batch_size: Option<usize>,
        args: A,
    ) -> Result<JobId, Error>
    where
        A: Send + Sync + 'static,
    {
        self.handle
            .dispatch_detached_deferred(name, thread_count, batch_size, args)
    }

    /// How far the job `id` has got, or `None` once its outcome has been
    /// reported (callback fired, detached panics collected) or for an id
    /// this dispatcher does not know. O(1), never blocks. Ids issued by
    /// this dispatcher's [`Remote`]s count too (until the master reports
    /// their jobs at a `poll`); looking one up takes the remotes' job
    /// directory's lock for a moment.
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Job, Kernel, Progress};
    ///
    /// const ID: Job<(), usize> = Job::new("id");
    /// let mut d = Dispatcher::new(1, |k: &mut Kernel| k.on(ID, |id, _| id))?;
    /// let job = d.job(ID, 8).deferred().tracked((), |_| {})?;
    /// assert_eq!(d.progress(job), Some(Progress { done: 0, total: 8 }));
    /// d.wait();
    /// assert_eq!(d.progress(job), None);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn progress(&self, id: JobId) -> Option<Progress> {
        self.handle.progress(id)
    }

    /// Cancels the job `id`: items no actor has claimed yet are skipped at
    /// once, batches already running finish, and the job's callback gets
    /// `Err(Error::Cancelled { .. })` (a detached job just ends). Returns
    /// whether it cancelled anything: `false` when the job is unknown,
    /// finished, or has every item already claimed (it then finishes as if
    /// never cancelled). O(1), never blocks. A remote's job (its future
    /// then resolves to `Err(Error::Cancelled { .. })`) can be cancelled
    /// too, as for [`progress`](Dispatcher::progress).
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Job, Kernel};
    ///
    /// const ID: Job<(), usize> = Job::new("id");
    /// let mut d = Dispatcher::new(1, |k: &mut Kernel| k.on(ID, |id, _| id))?;
    /// let job = d.job(ID, 100).deferred().tracked((), |buf| {
    ///     assert!(matches!(buf, Err(Error::Cancelled { .. })));
    /// })?;
    /// assert!(d.cancel(job));
    /// assert!(!d.cancel(job), "nothing left to cancel");
    /// d.wait_for(job);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn cancel(&self, id: JobId) -> bool {
        self.handle.cancel(id)
    }

    /// Blocks until the job `id`'s outcome has been reported: its callback
    /// fired (a detached job: its panics collected; a remote's job: it
    /// finished and the master reclaimed it). Other callbacks that become
    /// ready meanwhile fire too, and deferred jobs start. Returns at once
    /// for an unknown or already reported id.
    ///
    /// # Panics
    ///
    /// Only if a callback panics, as with [`poll`](Dispatcher::poll).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// use weavekit::{Dispatcher, Error, Job, Kernel};
    ///
    /// const ID: Job<(), usize> = Job::new("id");
    /// let mut d = Dispatcher::new(2, |k: &mut Kernel| k.on(ID, |id, _| id))?;
    /// let fired = Rc::new(Cell::new(false));
    /// let seen = Rc::clone(&fired);
    /// let job = d.job(ID, 10_000).tracked((), move |_| seen.set(true))?;
    /// d.wait_for(job);
    /// assert!(fired.get());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn wait_for(&mut self, id: JobId) {
        self.handle.master.wait_for(id);
    }

    /// Starts deferred dispatches and fires the callbacks of finished jobs,
    /// in the order the jobs finished. Never blocks. Returns how many
    /// callbacks fired.
    ///
    /// Dispatches deferred by those callbacks start at the next call.
    ///
    /// # Panics
    ///
    /// Only if a callback panics: the panic propagates to the caller, and
    /// the callbacks not yet fired stay queued for the next call. Handler
    /// panics reach the callbacks as errors; a panic in `Drop` of a job's
    /// arguments or results is reported through
    /// [`take_detached_errors`](Dispatcher::take_detached_errors); neither
    /// unwinds out of `poll`.
    pub fn poll(&mut self) -> usize {
        self.handle.master.poll()
    }

    /// Blocks until every dispatched and deferred job (including those
    /// chained by callbacks meanwhile) has finished and its callback fired.
    /// A callback that always dispatches again keeps it waiting, as it
    /// should.
    ///
    /// # Panics
    ///
    /// Only if a callback panics, as with [`poll`](Dispatcher::poll).
    pub fn wait(&mut self) {
        self.handle.master.wait();
    }

    /// Blocks until at least one callback fired, nothing is in flight, or
    /// `timeout` passes; returns how many callbacks fired. Meant for event
    /// loops that also have timers of their own.
    ///
    /// # Panics
    ///
    /// Only if a callback panics, as with [`poll`](Dispatcher::poll).
    #[cfg(not(loom))]
    pub fn wait_timeout(&mut self, timeout: std::time::Duration) -> usize {
        self.handle.master.wait_timeout(timeout)
    }

    /// Jobs not yet done: deferred, running (tracked or detached), or
    /// finished with a callback not yet fired.
    pub fn in_flight(&self) -> usize {
        self.handle.master.in_flight()
    }

    /// The number of actors.
    pub fn actor_count(&self) -> usize {
        self.handle.master.actor_count
    }

    /// A handle for dispatching without owning the dispatcher.
    pub fn handle(&self) -> DispatchHandle {
        self.handle.clone()
    }

    /// A [`Remote`]: `Send + Sync + Clone`, for dispatching detached jobs
    /// and [`JobFuture`](crate::JobFuture)s from any thread (an async server's tasks, say).
    /// Remote jobs count in [`in_flight`](Dispatcher::in_flight), and
    /// `wait`, `destroy` and drop run them to the end; after the dispatcher
    /// is gone, the remote's terminals return [`Error::Closed`].
    ///
    /// The dispatcher reclaims finished remote jobs when it polls: a master
    /// thread that only serves remotes should call
    /// [`wait_timeout`](Dispatcher::wait_timeout) now and then.
    ///
    /// So that [`RemoteSpec::after`](crate::RemoteSpec::after) can name
    /// any job by its [`JobId`], from the first call on the dispatcher also
    /// keeps its jobs in a locked table a remote can read: each dispatch and
    /// each reported job then takes one more (uncontended) lock. A
    /// dispatcher that never made a `Remote` does not.
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Job, Kernel};
    ///
    /// const SQUARE: Job<(), u64> = Job::new("square");
    /// let mut d = Dispatcher::new(2, |k: &mut Kernel| k.on(SQUARE, |id, _| (id * id) as u64))?;
    /// let remote = d.remote();
    /// let worker = std::thread::spawn(move || {
    ///     let future = remote.job(SQUARE, 10).future(()).unwrap();
    ///     # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    ///     #     use std::task::{Context, Poll, Wake, Waker};
    ///     #     struct T(std::thread::Thread);
    ///     #     impl Wake for T { fn wake(self: std::sync::Arc<Self>) { self.0.unpark() } }
    ///     #     let waker = Waker::from(std::sync::Arc::new(T(std::thread::current())));
    ///     #     let mut f = std::pin::pin!(f);
    ///     #     loop {
    ///     #         if let Poll::Ready(v) = f.as_mut().poll(&mut Context::from_waker(&waker)) { return v; }
    ///     #         std::thread::park();
    ///     #     }
    ///     # }
    ///     block_on(future).unwrap()
    /// });
    /// assert_eq!(worker.join().unwrap()[3], 9);
    /// d.wait();
    /// # Ok::<(), Error>(())
    /// ```
    pub fn remote(&self) -> Remote {
        let master = &self.handle.master;
        master.hub.open_directory(master.jobs.borrow().jobs());
        Remote::new(Arc::new(Shared {
            hub: Arc::clone(&master.hub),
            registry: Arc::clone(&master.registry),
            actor_count: master.actor_count,
        }))
    }

    /// Takes the errors no callback can receive, in the order they
    /// happened: panics of finished detached jobs, as
    /// [`Error::HandlerPanicked`] (within a job lowest item first), and
    /// panics in `Drop` of any job's arguments or of results the library
    /// dropped, as [`Error::DropPanicked`] (for a tracked job, its callback
    /// has fired by then). Arguments are dropped by whichever thread
    /// releases the job last, which may be an actor shortly after `wait`
    /// returned; after [`destroy`](Dispatcher::destroy) everything has been
    /// dropped, and errors not taken are printed on stderr.
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Kernel};
    ///
    /// let mut dispatcher = Dispatcher::new(1, |kernel: &mut Kernel| {
    ///     kernel.on_detached("touch", |id: usize, _: &()| assert!(id != 3, "item 3"));
    /// })?;
    /// dispatcher.dispatch_detached("touch", 5, Some(1), ())?;
    /// dispatcher.wait();
    /// let errors = dispatcher.take_detached_errors();
    /// assert!(matches!(&errors[..], [Error::HandlerPanicked { item: 3, .. }]));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn take_detached_errors(&mut self) -> Vec<Error> {
        self.handle.master.hub.take_detached_errors()
    }

    /// Runs all dispatched work to the end, fires its callbacks, then stops
    /// and joins the actors. The same as dropping the dispatcher. It waits
    /// as long as that takes, for ever on a handler that never returns; see
    /// [`destroy_timeout`](Dispatcher::destroy_timeout) for a bound.
    pub fn destroy(self) {
        drop(self);
    }

    /// As [`destroy`](Dispatcher::destroy), but returns by `timeout` from
    /// now (plus the time a callback takes to return): work that finishes
    /// by then finishes and its callbacks fire, as in `destroy`.
    ///
    /// If work is still unfinished at the deadline, no actor claims another
    /// batch, idle actors exit, and the call returns [`Error::Stuck`]
    /// naming the batches still running (job, items, actor) and every
    /// unfinished job. Those actors are *not* joined: each goes on until its
    /// handler returns, then exits on its own, dropping what it holds
    /// (job arguments, its handlers) on its own thread. Callbacks of
    /// finished jobs still fire before the call returns; the callbacks of
    /// unfinished jobs never fire (they are leaked, not dropped, as they
    /// may hold master-thread state), and results already written for them
    /// are leaked. The [`JobFuture`](crate::JobFuture)s of unfinished jobs
    /// (the master's and its remotes') resolve to `Err(Error::Closed)`
    /// before the call returns, so no task awaits them for ever. A callback
    /// that panics meanwhile is reported on stderr, as in `destroy`.
    ///
    /// # Errors
    ///
    /// [`Error::Stuck`] when work was unfinished at the deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Barrier};
    /// use std::time::Duration;
    /// use weavekit::{Dispatcher, Error, Kernel};
    ///
    /// let release = Arc::new(Barrier::new(2));
    /// let mut dispatcher = Dispatcher::new(1, |kernel: &mut Kernel| {
    ///     kernel.on_detached("block", |_: usize, gate: &Arc<Barrier>| {
    ///         gate.wait();
    ///     });
    /// })?;
    /// dispatcher.dispatch_detached("block", 1, None, Arc::clone(&release))?;
    /// let error = dispatcher.destroy_timeout(Duration::from_millis(50)).unwrap_err();
    /// assert!(matches!(&error, Error::Stuck { running, .. } if running[0].job == "block"));
    /// release.wait(); // the handler returns; its actor exits on its own
    /// # Ok::<(), Error>(())
    /// ```
    #[cfg(not(loom))]
    pub fn destroy_timeout(self, timeout: std::time::Duration) -> Result<(), Error> {
        self.handle.master.shutdown_until(timeout)
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        self.handle.master.shutdown();
    }
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("actor_count", &self.handle.master.actor_count)
            .field("in_flight", &self.handle.master.in_flight())
            .finish()
    }
}

impl DispatchHandle {
    /// As [`Dispatcher::job`].
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Job, Kernel};
    ///
    /// const ID: Job<(), usize> = Job::new("id");
    /// let mut d = Dispatcher::new(1, |k: &mut Kernel| k.on(ID, |id, _| id))?;
    /// let handle = d.handle();
    /// d.job(ID, 2).tracked((), move |first| {
    ///     // Chain: start the next job from the callback.
    ///     let n = first.unwrap().len();
    ///     handle.job(ID, n * 2).tracked((), |second| assert_eq!(second.unwrap().len(), 4)).unwrap();
    /// })?;
    /// d.wait();
    /// # Ok::<(), Error>(())
    /// ```
    pub fn job<K: DispatchKey>(&self, key: K, count: usize) -> JobSpec<'_, K> {
        JobSpec::new(&self.master, key, count)
    }

    /// As [`Dispatcher::dispatch`]: the job starts now.
    ///
    /// # Errors
    ///
    /// As [`JobSpec::tracked`].
    pub fn dispatch<A, R, C>(
        &self,
        name: &str,
        thread_count: usize,
        callback: C,
        batch_size: Option<usize>,
        args: A,
    ) -> Result<JobId, Error>
    where
        A: Send + Sync + 'static,
        R: Send + 'static,
        C: FnOnce(Result<Vec<R>, Error>) + 'static,
    {
        self.job(name, thread_count)
            .batch_size(batch_size)
            .tracked(args, callback)
    }

    /// As [`Dispatcher::dispatch_deferred`]: the job starts at the
    /// dispatcher's next poll or wait.
    ///
    /// # Errors
    ///
    /// As [`JobSpec::tracked`].
    pub fn dispatch_deferred<A, R, C>(
        &self,
        name: &str,
        thread_count: usize,
        callback: C,
        batch_size: Option<usize>,
        args: A,
    ) -> Result<JobId, Error>
    where
        A: Send + Sync + 'static,
        R: Send + 'static,
        C: FnOnce(Result<Vec<R>, Error>) + 'static,
    {
        self.job(name, thread_count)
            .batch_size(batch_size)
            .deferred()
            .tracked(args, callback)
    }

    /// As [`Dispatcher::dispatch_detached`]: the job starts now.
    ///
    /// # Errors
    ///
    /// As [`JobSpec::detached`].
    pub fn dispatch_detached<A>(
        &self,
        name: &str,
        thread_count: usize,
        batch_size: Option<usize>,
        args: A,
    ) -> Result<JobId, Error>
    where
        A: Send + Sync + 'static,
    {
        self.job(name, thread_count)
            .batch_size(batch_size)
            .detached(args)
    }

    /// As [`Dispatcher::dispatch_detached_deferred`].
    ///
    /// # Errors
    ///
    /// As [`JobSpec::detached`].
    pub fn dispatch_detached_deferred<A>(
        &self,
        name: &str,
        thread_count: usize,
        batch_size: Option<usize>,
        args: A,
    ) -> Result<JobId, Error>
    where
        A: Send + Sync + 'static,
    {
        self.job(name, thread_count)
            .batch_size(batch_size)
            .deferred()
            .detached(args)
    }

    /// As [`Dispatcher::progress`].
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Kernel, Progress};
    ///
    /// let d = Dispatcher::new(1, |k: &mut Kernel| k.on_detached("t", |_: usize, _: &()| {}))?;
    /// let handle = d.handle();
    /// let id = handle.job("t", 3).deferred().detached(())?;
    /// assert_eq!(handle.progress(id), Some(Progress { done: 0, total: 3 }));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn progress(&self, id: JobId) -> Option<Progress> {
        self.master.with_job(id, |job| {
            let claims = job.claims();
            Progress {
                done: claims.done(),
                total: claims.total(),
            }
        })
    }

    /// As [`Dispatcher::cancel`]; a callback may cancel another job.
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Kernel};
    ///
    /// let mut d = Dispatcher::new(1, |k: &mut Kernel| k.on_detached("t", |_: usize, _: &()| {}))?;
    /// let id = d.handle().job("t", 3).deferred().detached(())?;
    /// assert!(d.handle().cancel(id));
    /// d.wait();
    /// assert_eq!(d.progress(id), None);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn cancel(&self, id: JobId) -> bool {
        self.master.cancel(id)
    }

    /// As [`Dispatcher::in_flight`]: jobs not yet done, callbacks not yet
    /// fired.
    pub fn in_flight(&self) -> usize {
        self.master.in_flight()
    }

    /// Whether the dispatcher has been destroyed.
    pub fn is_closed(&self) -> bool {
        self.master.closed.get()
    }
}

impl std::fmt::Debug for DispatchHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DispatchHandle")
            .field("closed", &self.master.closed.get())
            .finish()
    }
}

/// The master's state, shared by the dispatcher and its handles.
pub(crate) struct Master {
    hub: Arc<crate::pool::Hub>,
    /// `None` once shut down.
    pool: RefCell<Option<Pool>>,
    registry: Arc<Registry>,
    actor_count: usize,
    /// The builder's `quiet_panics`, for panics caught on the master.
    quiet_panics: bool,
    closed: Cell<bool>,
    /// Checked jobs waiting for the next poll.
    deferred: RefCell<VecDeque<Arc<dyn Job>>>,
    /// Finished jobs whose outcome has not been reported yet.
    ready: RefCell<VecDeque<Arc<dyn Job>>>,
    /// Every job from dispatch until its outcome is reported: the one
    /// in-flight count, and what `JobId`s look up.
    jobs: RefCell<JobTable>,
}

impl Master {
    /// Checks a detached dispatch and builds its job.
    pub(crate) fn detached<A>(
        &self,
        name: &str,
        count: usize,
        batch_size: Option<usize>,
        args: A,
    ) -> Result<Arc<dyn Job>, Error>
    where
        A: Send + Sync + 'static,
    {
        self.check_open()?;
        let request = Request::new(name, count, batch_size);
        let base = self.checks().detached(request, args, || self.next_id())?;
        Ok(Arc::new(DetachedJob::new(base)))
    }

    /// Records a job just built by [`Master::tracked`] or
    /// [`Master::detached`] (nothing ran in between, so its id is still the
    /// table's next), makes it wait for the jobs `after` names that are
    /// still in flight, and starts or defers it.
    pub(crate) fn admit(&self, job: Arc<dyn Job>, deferred: bool, after: &[JobId]) -> JobId {
        let id = self.jobs.borrow_mut().insert(Arc::clone(&job));
        debug_assert_eq!(id, job.id());
        if self.hub.directory_on() {
            // Only once a remote exists: without one, no new lock here.
            self.hub.publish(&job);
        }
        {
            let jobs = self.jobs.borrow();
            for &dependency in after {
                match jobs.get(dependency) {
                    Some(dependency) => Links::register(&job, &**dependency),
                    // A remote's job lives in the directory until reported.
                    None if dependency.is_remote() => {
                        self.hub.register_after(&job, &[dependency]);
                    }
                    None => {}
                }
            }
        }
        if deferred {
            self.deferred.borrow_mut().push_back(job);
        } else {
            self.start(job);
        }
        id
    }

    /// Gives a job that is done and has nothing to report (a detached job
    /// without items) an id of its own, already stale.
    pub(crate) fn admit_done(&self, job: Arc<dyn Job>) -> JobId {
        let mut jobs = self.jobs.borrow_mut();
        let id = jobs.insert(Arc::clone(&job));
        let entry = jobs.remove(id);
        drop((jobs, entry));
        self.hub.release(job);
        id
    }

    fn check_open(&self) -> Result<(), Error> {
        if self.closed.get() {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    /// The hub shared with the actors (for the jobs the terminals build).
    pub(crate) fn hub(&self) -> &Arc<crate::pool::Hub> {
        &self.hub
    }

    /// The checks of a dispatch whose results are kept, shared by the
    /// tracked, future and `then` terminals (which then build their own
    /// kind of job): the same as a remote's, after the master's own closed
    /// check.
    pub(crate) fn check_tracked<A, R>(
        &self,
        request: Request<'_>,
        reuse: Option<Vec<R>>,
        args: A,
    ) -> Result<(JobBase<A>, Vec<R>), Error>
    where
        A: Send + Sync + 'static,
        R: Send + 'static,
    {
        self.check_open()?;
        self.checks()
            .tracked(request, reuse, args, || self.next_id())
    }

    fn checks(&self) -> Checks<'_> {
        Checks {
            registry: &self.registry,
            actors: self.actor_count,
        }
    }

    /// The id the next job admitted gets.
    fn next_id(&self) -> JobId {
        self.jobs.borrow().next_id()
    }

    /// Lets a job go: it starts on the actors as soon as its dependencies
    /// (if any) have finished (see [`Links`]).
    fn start(&self, job: Arc<dyn Job>) {
        Links::start(job, &self.hub);
    }

    fn cancel(&self, id: JobId) -> bool {
        self.with_job(id, |job| crate::job::cancel(job, &self.hub))
            .unwrap_or(false)
    }

    /// `f` of the job `id` if it is in flight: the master's own jobs from
    /// its table (no lock), a remote's from the hub's directory.
    fn with_job<T>(&self, id: JobId, f: impl FnOnce(&Arc<dyn Job>) -> T) -> Option<T> {
        let own = self.jobs.borrow().get(id).cloned();
        let job = match own {
            Some(job) => job,
            None if id.is_remote() => self.hub.find_published(id)?,
            None => return None,
        };
        let out = f(&job);
        self.hub.release(job);
        Some(out)
    }

    /// Whether the job `id` is in flight (not reported yet).
    fn knows(&self, id: JobId) -> bool {
        self.jobs.borrow().get(id).is_some()
            || (id.is_remote()
                && self.hub.find_published(id).is_some_and(|job| {
                    self.hub.release(job);
                    true
                }))
    }

    fn poll(&self) -> usize {
        self.start_deferred();
        self.hub.collect_completions(&mut self.ready.borrow_mut());
        let due = self.ready.borrow().len();
        let mut fired = 0;
        for _ in 0..due {
            // The borrow ends with this statement: the callback below may
            // dispatch, which touches `ready`.
            let Some(job) = self.ready.borrow_mut().pop_front() else {
                break;
            };
            // Not the last reference: `job` holds one.
            let entry = self.jobs.borrow_mut().remove(job.id());
            if entry.is_none() && job.id().is_remote() {
                self.hub.remote_end();
            }
            drop(entry);
            if self.hub.directory_on() {
                self.hub.unpublish(job.id());
            }
            // Deliver, then release the job even if the callback panics: a
            // panic in `Drop` of its arguments is reported, never raised.
            let mut errors = Vec::new();
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.finish(&mut errors)));
            self.hub.report(errors);
            self.hub.release(job);
            match outcome {
                Ok(true) => fired += 1,
                Ok(false) => {}
                Err(payload) => std::panic::resume_unwind(payload),
            }
        }
        fired
    }

    fn start_deferred(&self) {
        let mut deferred = self.deferred.borrow_mut();
        while let Some(job) = deferred.pop_front() {
            self.start(job);
        }
    }

    fn in_flight(&self) -> usize {
        self.jobs.borrow().len() + self.hub.remote_in_flight()
    }

    /// Whether `poll` has something to do without waiting for an actor.
    fn has_local_work(&self) -> bool {
        !self.deferred.borrow().is_empty() || !self.ready.borrow().is_empty()
    }

    /// Polls until `done` holds, sleeping while only actors can make
    /// progress.
    fn wait_until(&self, done: impl Fn(&Master) -> bool) {
        loop {
            if done(self) {
                return;
            }
            let seen = self.hub.finish_epoch();
            self.poll();
            if done(self) {
                return;
            }
            if !self.has_local_work() {
                self.hub.await_finished(seen);
            }
        }
    }

    fn wait(&self) {
        self.wait_until(|master| master.in_flight() == 0);
    }

    fn wait_for(&self, id: JobId) {
        self.wait_until(|master| !master.knows(id));
    }

    #[cfg(not(loom))]
    fn wait_timeout(&self, timeout: std::time::Duration) -> usize {
        // A deadline centuries away is as good as none, and representable.
        let timeout = timeout.min(std::time::Duration::from_secs(1 << 32));
        let deadline = std::time::Instant::now() + timeout;
        let mut fired = 0;
        loop {
            let seen = self.hub.finish_epoch();
            fired += self.poll();
            if fired > 0 || self.in_flight() == 0 || std::time::Instant::now() >= deadline {
                return fired;
            }
            if !self.has_local_work() {
                self.hub.await_finished_until(seen, deadline);
            }
        }
    }

    /// Drains all work (reporting, not propagating, callback panics), then
    /// stops the actors. Idempotent.
    fn shutdown(&self) {
        if self.closed.get() {
            return;
        }
        // Drain, then refuse remotes and drain again what slipped in
        // before the flag (see the `remote` module): follow-ups dispatched
        // by `then` closures during the first drain still run.
        let drain = || {
            while let Err(message) = unwind::catch_quiet(self.quiet_panics, || self.wait()) {
                report_callback_panic(&message);
            }
        };
        drain();
        self.hub.close_remote();
        drain();
        self.closed.set(true);
        let pool = self.pool.borrow_mut().take();
        if let Some(mut pool) = pool {
            pool.shutdown();
        }
        self.print_errors();
    }

    /// Errors never taken with `take_detached_errors`, on stderr.
    fn print_errors(&self) {
        for error in self.hub.take_detached_errors() {
            eprintln!("weavekit: detached job failed: {error}");
        }
    }

    /// As [`Master::shutdown`], but gives up on unfinished work at
    /// `timeout` from now (see [`Dispatcher::destroy_timeout`]).
    #[cfg(not(loom))]
    fn shutdown_until(&self, timeout: std::time::Duration) -> Result<(), Error> {
        if self.closed.get() {
            return Ok(());
        }
        // A deadline centuries away is as good as none, and representable.
        let bounded = timeout.min(std::time::Duration::from_secs(1 << 32));
        let deadline = std::time::Instant::now() + bounded;
        let drained = loop {
            match unwind::catch_quiet(self.quiet_panics, || self.drain_until(deadline)) {
                Ok(drained) => break drained,
                Err(message) => report_callback_panic(&message),
            }
        };
        if drained {
            self.shutdown();
            return Ok(());
        }
        self.closed.set(true);
        // The actors are abandoned: a remote job queued now would never
        // run (and its future never resolve), so remotes are refused.
        self.hub.close_remote();
        let pool = self.pool.borrow_mut().take();
        let (running, mut unfinished) = pool.map(|mut pool| pool.abandon()).unwrap_or_default();
        // Jobs deferred by the last callbacks never started.
        let deferred = std::mem::take(&mut *self.deferred.borrow_mut());
        for job in deferred {
            let name = job.name().to_string();
            if !unfinished.contains(&name) {
                unfinished.push(name);
            }
            self.hub.release(job);
        }
        // Jobs that finished meanwhile still get their callbacks.
        while let Err(message) = unwind::catch_quiet(self.quiet_panics, || self.poll()) {
            report_callback_panic(&message);
        }
        self.abandon_unfinished();
        self.print_errors();
        Err(Error::Stuck {
            timeout,
            running,
            unfinished,
        })
    }

    /// After giving up: the futures of every job not reported (the master's
    /// and the remotes') resolve to `Err(Error::Closed)`; callbacks of such
    /// jobs never fire.
    #[cfg(not(loom))]
    fn abandon_unfinished(&self) {
        let own: Vec<Arc<dyn Job>> = self.jobs.borrow().jobs().cloned().collect();
        for job in own.into_iter().chain(self.hub.published()) {
            job.abandon();
            self.hub.release(job);
        }
    }

    /// Waits as `wait` does, until nothing is in flight (true) or
    /// `deadline` passes (false).
    #[cfg(not(loom))]
    fn drain_until(&self, deadline: std::time::Instant) -> bool {
        loop {
            let seen = self.hub.finish_epoch();
            self.poll();
            if self.in_flight() == 0 {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            if !self.has_local_work() {
                self.hub.await_finished_until(seen, deadline);
            }
        }
    }
}

/// A callback panicked during a shutdown drain, which goes on.
fn report_callback_panic(message: &str) {
    eprintln!("weavekit: a callback panicked while the dispatcher shut down: {message}");
}
