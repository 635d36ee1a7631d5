//! The master side: [`Dispatcher`] and [`DispatchHandle`].
//!
//! The master never runs items. A dispatch checks the call against the
//! handler registry, allocates the job (one allocation for the job record,
//! one for the result buffer), queues it and wakes the actors; that is all,
//! so its cost does not depend on the item count. Callbacks fire later, on
//! the master, in [`Dispatcher::poll`], [`Dispatcher::wait`] or at shutdown.
//!
//! The master state lives behind an `Rc` shared by the dispatcher and its
//! handles; every method takes `&self`, and no `RefCell` borrow is held
//! while user code (a callback) runs, so callbacks may dispatch freely.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use crate::builder::{DispatcherBuilder, PoolConfig};
use crate::error::Error;
use crate::job::{Batching, DetachedJob, Job, Progress, TrackedJob};
use crate::kernel::Kernel;
use crate::pool::{Pool, Worker};
use crate::registry::Registry;
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
            registry: Registry::new(&table),
            actor_count: config.actor_count,
            quiet_panics: config.quiet_panics,
            closed: Cell::new(false),
            deferred: RefCell::new(VecDeque::new()),
            ready: RefCell::new(VecDeque::new()),
            tracked_running: Cell::new(0),
        };
        Ok(Dispatcher {
            handle: DispatchHandle {
                master: Rc::new(master),
            },
        })
    }

    /// Dispatches a *tracked* job: items `0..thread_count` run `name`'s
    /// handler as `handler(id, &args)` on the actors; `callback` later gets
    /// the results in item order (`buf[id]`), on this thread, inside
    /// [`poll`](Dispatcher::poll), [`wait`](Dispatcher::wait) or at
    /// shutdown. It fires exactly once: `Ok(buf)`, or `Err` when a handler
    /// panicked. Returns at once, whatever `thread_count` is. Any count
    /// whose result buffer can be allocated is accepted, even one no run
    /// can finish (`usize::MAX` items of a zero-sized result):
    /// [`destroy_timeout`](Dispatcher::destroy_timeout) leaves such a job.
    ///
    /// `batch_size: None` balances load with guided self-scheduling (each
    /// claim takes about a quarter of the remaining items divided by the
    /// actor count, at least one); `Some(n)` hands out runs of `n`
    /// contiguous ids.
    ///
    /// # Errors
    ///
    /// At once, with nothing queued: [`Error::UnknownJob`],
    /// [`Error::DetachedHandler`], [`Error::ArgumentType`],
    /// [`Error::ResultType`], [`Error::ZeroBatchSize`],
    /// [`Error::TooManyItems`].
    pub fn dispatch<A, R, C>(
        &mut self,
        name: &str,
        thread_count: usize,
        callback: C,
        batch_size: Option<usize>,
        args: A,
    ) -> Result<(), Error>
    where
        A: Send + Sync + 'static,
        R: Send + 'static,
        C: FnOnce(Result<Vec<R>, Error>) + 'static,
    {
        self.handle
            .dispatch(name, thread_count, callback, batch_size, args)
    }

    /// As [`dispatch`](Dispatcher::dispatch), but the job starts at the next
    /// [`poll`](Dispatcher::poll) or [`wait`](Dispatcher::wait). Errors are
    /// still returned by this call.
    pub fn dispatch_deferred<A, R, C>(
        &mut self,
        name: &str,
        thread_count: usize,
        callback: C,
        batch_size: Option<usize>,
        args: A,
    ) -> Result<(), Error>
    where
        A: Send + Sync + 'static,
        R: Send + 'static,
        C: FnOnce(Result<Vec<R>, Error>) + 'static,
    {
        self.handle
            .dispatch_deferred(name, thread_count, callback, batch_size, args)
    }

    /// Dispatches a *detached* job: fire and forget, no results, no
    /// callback; one allocation. A tracked handler runs with its results
    /// dropped. Panics are collected for
    /// [`take_detached_errors`](Dispatcher::take_detached_errors).
    ///
    /// # Errors
    ///
    /// At once: [`Error::UnknownJob`], [`Error::ArgumentType`],
    /// [`Error::ZeroBatchSize`].
    pub fn dispatch_detached<A>(
        &mut self,
        name: &str,
        thread_count: usize,
        batch_size: Option<usize>,
        args: A,
    ) -> Result<(), Error>
    where
        A: Send + Sync + 'static,
    {
        self.handle
            .dispatch_detached(name, thread_count, batch_size, args)
    }

    /// As [`dispatch_detached`](Dispatcher::dispatch_detached), but the job
    /// starts at the next [`poll`](Dispatcher::poll) or
    /// [`wait`](Dispatcher::wait).
    pub fn dispatch_detached_deferred<A>(
        &mut self,
        name: &str,
        thread_count: usize,
        batch_size: Option<usize>,
        args: A,
    ) -> Result<(), Error>
    where
        A: Send + Sync + 'static,
    {
        self.handle
            .dispatch_detached_deferred(name, thread_count, batch_size, args)
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
    /// are leaked. A callback that panics meanwhile is reported on stderr,
    /// as in `destroy`.
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
    /// As [`Dispatcher::dispatch`]: the job starts now.
    ///
    /// # Errors
    ///
    /// As [`Dispatcher::dispatch`], and [`Error::Closed`].
    pub fn dispatch<A, R, C>(
        &self,
        name: &str,
        thread_count: usize,
        callback: C,
        batch_size: Option<usize>,
        args: A,
    ) -> Result<(), Error>
    where
        A: Send + Sync + 'static,
        R: Send + 'static,
        C: FnOnce(Result<Vec<R>, Error>) + 'static,
    {
        let job = self
            .master
            .tracked(name, thread_count, callback, batch_size, args)?;
        self.master.start(job);
        Ok(())
    }

    /// As [`Dispatcher::dispatch_deferred`]: the job starts at the
    /// dispatcher's next poll or wait.
    ///
    /// # Errors
    ///
    /// As [`Dispatcher::dispatch`], and [`Error::Closed`].
    pub fn dispatch_deferred<A, R, C>(
        &self,
        name: &str,
        thread_count: usize,
        callback: C,
        batch_size: Option<usize>,
        args: A,
    ) -> Result<(), Error>
    where
        A: Send + Sync + 'static,
        R: Send + 'static,
        C: FnOnce(Result<Vec<R>, Error>) + 'static,
    {
        let job = self
            .master
            .tracked(name, thread_count, callback, batch_size, args)?;
        self.master.defer(job);
        Ok(())
    }

    /// As [`Dispatcher::dispatch_detached`]: the job starts now.
    ///
    /// # Errors
    ///
    /// As [`Dispatcher::dispatch_detached`], and [`Error::Closed`].
    pub fn dispatch_detached<A>(
        &self,
        name: &str,
        thread_count: usize,
        batch_size: Option<usize>,
        args: A,
    ) -> Result<(), Error>
    where
        A: Send + Sync + 'static,
    {
        let job = self.master.detached(name, thread_count, batch_size, args)?;
        self.master.start(job);
        Ok(())
    }

    /// As [`Dispatcher::dispatch_detached_deferred`].
    ///
    /// # Errors
    ///
    /// As [`Dispatcher::dispatch_detached`], and [`Error::Closed`].
    pub fn dispatch_detached_deferred<A>(
        &self,
        name: &str,
        thread_count: usize,
        batch_size: Option<usize>,
        args: A,
    ) -> Result<(), Error>
    where
        A: Send + Sync + 'static,
    {
        let job = self.master.detached(name, thread_count, batch_size, args)?;
        self.master.defer(job);
        Ok(())
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
struct Master {
    hub: Arc<crate::pool::Hub>,
    /// `None` once shut down.
    pool: RefCell<Option<Pool>>,
    registry: Registry,
    actor_count: usize,
    /// The builder's `quiet_panics`, for panics caught on the master.
    quiet_panics: bool,
    closed: Cell<bool>,
    /// Checked jobs waiting for the next poll.
    deferred: RefCell<VecDeque<Arc<dyn Job>>>,
    /// Finished tracked jobs whose callbacks have not fired yet.
    ready: RefCell<VecDeque<Arc<dyn Job>>>,
    /// Tracked jobs started whose callbacks have not fired yet.
    tracked_running: Cell<usize>,
}

impl Master {
    /// Checks a tracked dispatch and builds its job.
    fn tracked<A, R, C>(
        &self,
        name: &str,
        thread_count: usize,
        callback: C,
        batch_size: Option<usize>,
        args: A,
    ) -> Result<Arc<dyn Job>, Error>
    where
        A: Send + Sync + 'static,
        R: Send + 'static,
        C: FnOnce(Result<Vec<R>, Error>) + 'static,
    {
        self.check_open()?;
        let route = self.registry.tracked::<A, R>(name)?;
        let batching = self.batching(name, batch_size)?;
        let mut buffer = Vec::new();
        if buffer.try_reserve_exact(thread_count).is_err() {
            return Err(Error::TooManyItems {
                job: name.to_owned(),
                items: thread_count,
            });
        }
        let progress = Progress::new(thread_count, batching);
        Ok(Arc::new(TrackedJob::new(
            route, progress, args, buffer, callback,
        )))
    }

    /// Checks a detached dispatch and builds its job.
    fn detached<A>(
        &self,
        name: &str,
        thread_count: usize,
        batch_size: Option<usize>,
        args: A,
    ) -> Result<Arc<dyn Job>, Error>
    where
        A: Send + Sync + 'static,
    {
        self.check_open()?;
        let route = self.registry.detached::<A>(name)?;
        let batching = self.batching(name, batch_size)?;
        let progress = Progress::new(thread_count, batching);
        Ok(Arc::new(DetachedJob::new(route, progress, args)))
    }

    fn check_open(&self) -> Result<(), Error> {
        if self.closed.get() {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    fn batching(&self, name: &str, batch_size: Option<usize>) -> Result<Batching, Error> {
        if batch_size == Some(0) {
            return Err(Error::ZeroBatchSize {
                job: name.to_owned(),
            });
        }
        Ok(Batching::new(batch_size, self.actor_count))
    }

    /// Hands a checked job to the actors (or, with no items, straight to
    /// the ready queue).
    fn start(&self, job: Arc<dyn Job>) {
        let empty = job.progress().total() == 0;
        if job.is_tracked() {
            self.tracked_running.set(self.tracked_running.get() + 1);
            if empty {
                self.ready.borrow_mut().push_back(job);
                return;
            }
        } else if empty {
            self.hub.release(job);
            return;
        }
        self.hub.inject(job);
    }

    fn defer(&self, job: Arc<dyn Job>) {
        self.deferred.borrow_mut().push_back(job);
    }

    fn poll(&self) -> usize {
        self.start_deferred();
        self.hub.collect_completions(&mut self.ready.borrow_mut());
        let due = self.ready.borrow().len();
        let mut fired = 0;
        while fired < due {
            // The borrow ends with this statement: the callback below may
            // dispatch, which touches `ready`.
            let Some(job) = self.ready.borrow_mut().pop_front() else {
                break;
            };
            self.tracked_running.set(self.tracked_running.get() - 1);
            fired += 1;
            Self::fire(&self.hub, job);
        }
        fired
    }

    /// Fires `job`'s callback, then releases the job: a panic in `Drop` of
    /// its arguments is reported, never raised, even while a callback
    /// panic unwinds.
    fn fire(hub: &crate::pool::Hub, job: Arc<dyn Job>) {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.finish()));
        hub.release(job);
        if let Err(payload) = outcome {
            std::panic::resume_unwind(payload);
        }
    }

    fn start_deferred(&self) {
        let mut deferred = self.deferred.borrow_mut();
        while let Some(job) = deferred.pop_front() {
            self.start(job);
        }
    }

    fn in_flight(&self) -> usize {
        self.deferred.borrow().len() + self.tracked_running.get() + self.hub.detached_running()
    }

    /// Whether `poll` has something to do without waiting for an actor.
    fn has_local_work(&self) -> bool {
        !self.deferred.borrow().is_empty() || !self.ready.borrow().is_empty()
    }

    fn wait(&self) {
        loop {
            let seen = self.hub.finished();
            self.poll();
            if self.in_flight() == 0 {
                return;
            }
            if !self.has_local_work() {
                self.hub.await_finished(seen);
            }
        }
    }

    #[cfg(not(loom))]
    fn wait_timeout(&self, timeout: std::time::Duration) -> usize {
        // A deadline centuries away is as good as none, and representable.
        let timeout = timeout.min(std::time::Duration::from_secs(1 << 32));
        let deadline = std::time::Instant::now() + timeout;
        let mut fired = 0;
        loop {
            let seen = self.hub.finished();
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
        while let Err(message) = unwind::catch_quiet(self.quiet_panics, || self.wait()) {
            report_callback_panic(&message);
        }
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
        self.print_errors();
        Err(Error::Stuck {
            timeout,
            running,
            unfinished,
        })
    }

    /// Waits as `wait` does, until nothing is in flight (true) or
    /// `deadline` passes (false).
    #[cfg(not(loom))]
    fn drain_until(&self, deadline: std::time::Instant) -> bool {
        loop {
            let seen = self.hub.finished();
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
