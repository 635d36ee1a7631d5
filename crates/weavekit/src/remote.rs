//! [`Remote`]: dispatching from any thread.
//!
//! The [`Dispatcher`](crate::Dispatcher) and its callbacks belong to the
//! master thread. A `Remote` shares only what needs no master: the handler
//! registry (read-only after start-up) and the actors' queue. It offers the
//! job kinds whose outcome needs no master either: detached jobs and
//! [`JobFuture`]s, resolved by the actor that finishes them. Remote jobs
//! count as in flight for the dispatcher's `wait` and drop, so none is lost
//! at shutdown. A remote dispatch is checked exactly as the master's is
//! (`check.rs`).
//!
//! # Closing without losing a job
//!
//! A remote dispatch first counts itself in flight, then checks the closed
//! flag (both `SeqCst`); the dispatcher's shutdown drains its work (remote
//! dispatches are still accepted then, so follow-ups dispatched from
//! `then` closures run), sets the flag, then waits again until nothing is
//! in flight. Either the dispatch sees the flag and
//! backs out (uncounting itself and waking the master, which may have seen
//! the count), or the shutdown sees the count and waits for the job.
//!
//! # Dependencies without the master's table
//!
//! [`RemoteSpec::after`] names jobs by [`JobId`], but the master's job table
//! belongs to the master thread. So once [`Dispatcher::remote`] made the
//! first `Remote`, the hub keeps a second, locked table (the *directory*)
//! of every job from dispatch until the master reports it: the master
//! copies its in-flight jobs there at that first call and then publishes
//! each job it admits; a remote publishes each job it submits. The master
//! unpublishes a job as it reports it, so the directory answers exactly
//! as the master's table would. A remote `after` looks its ids up there
//! and registers its job as the master does ([`Links::register`]), while
//! it still holds the job's first hold; then it drops that hold. The
//! release protocol is the master's, unchanged. A dispatcher that never
//! made a `Remote` takes no directory lock.
//!
//! [`Dispatcher::remote`]: crate::Dispatcher::remote

use std::fmt;

use crate::after::Links;
use crate::check::{Checks, Request};
use crate::error::Error;
use crate::future::JobFuture;
use crate::id::JobId;
use crate::job::{DetachedJob, Job};
use crate::key::{DispatchKey, Job as Key};
use crate::pool::Hub;
use crate::registry::Registry;
use crate::sync::Arc;

/// A handle for dispatching detached jobs and futures from any thread:
/// `Send + Sync + Clone`. Made by
/// [`Dispatcher::remote`](crate::Dispatcher::remote).
///
/// After the dispatcher is gone (or while it shuts down), every terminal
/// returns [`Error::Closed`].
///
/// # Examples
///
/// ```
/// use std::sync::{atomic::{AtomicUsize, Ordering}, Arc};
/// use weavekit::{Dispatcher, Error, Job, Kernel};
///
/// const TOUCH: Job<Arc<AtomicUsize>> = Job::new("touch");
/// let mut d = Dispatcher::new(2, |k: &mut Kernel| {
///     k.on_detached(TOUCH, |_, n| { n.fetch_add(1, Ordering::Relaxed); });
/// })?;
/// let remote = d.remote();
/// let touched = Arc::new(AtomicUsize::new(0));
/// let n = Arc::clone(&touched);
/// std::thread::spawn(move || remote.job(TOUCH, 100).detached(n)).join().unwrap()?;
/// d.wait(); // remote jobs count as in flight
/// assert_eq!(touched.load(Ordering::Relaxed), 100);
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone)]
pub struct Remote {
    shared: Arc<Shared>,
}

/// What a remote dispatch needs: no master state.
pub(crate) struct Shared {
    pub(crate) hub: Arc<Hub>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) actor_count: usize,
}

impl Shared {
    fn checks(&self) -> Checks<'_> {
        Checks {
            registry: &self.registry,
            actors: self.actor_count,
        }
    }
}

impl Remote {
    pub(crate) fn new(shared: Arc<Shared>) -> Remote {
        Remote { shared }
    }

    /// Describes a job of `count` items of the handler `key` names; a
    /// terminal of the returned [`RemoteSpec`] dispatches it.
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Job, Kernel};
    ///
    /// const ID: Job<(), usize> = Job::new("id");
    /// let d = Dispatcher::new(1, |k: &mut Kernel| k.on(ID, |id, _| id))?;
    /// let remote = d.remote();
    /// let future = std::thread::spawn(move || remote.job(ID, 8).batch(2).future(()))
    ///     .join()
    ///     .unwrap()?;
    /// drop(future); // cancels the job
    /// # Ok::<(), Error>(())
    /// ```
    pub fn job<K: DispatchKey>(&self, key: K, count: usize) -> RemoteSpec<'_, K> {
        RemoteSpec {
            remote: self,
            key,
            count,
            batch: None,
            after: &[],
            reuse: None,
        }
    }

    /// Whether the dispatcher is gone (terminals return [`Error::Closed`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Kernel};
    ///
    /// let d = Dispatcher::new(1, |_: &mut Kernel| {})?;
    /// let remote = d.remote();
    /// assert!(!remote.is_closed());
    /// drop(d);
    /// assert!(remote.is_closed());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.hub.remote_closed()
    }

    /// Counts a dispatch in flight (or refuses it once closed), builds its
    /// job with `build` and queues it.
    fn submit<T>(
        &self,
        after: &[JobId],
        build: impl FnOnce(&Shared) -> Result<(Arc<dyn Job>, T), Error>,
    ) -> Result<T, Error> {
        let hub = &self.shared.hub;
        hub.remote_begin()?;
        let (job, made) = match build(&self.shared) {
            Ok(built) => built,
            Err(error) => {
                hub.remote_abort();
                return Err(error);
            }
        };
        if !after.is_empty() {
            // This thread holds the job's first hold, as the master does
            // for its own jobs (see the `after` module). Registered before
            // it is published, so an id of another dispatcher equal to its
            // own cannot make it wait for itself.
            hub.register_after(&job, after);
            hub.publish(&job);
            Links::start(job, hub);
            return Ok(made);
        }
        // Published before it can finish, so before the master reports it.
        hub.publish(&job);
        if job.claims().total() == 0 {
            hub.job_done(job);
        } else {
            hub.inject(job);
        }
        Ok(made)
    }
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// A job about to be dispatched through a [`Remote`]: as
/// [`JobSpec`](crate::JobSpec), with `batch`, `after` and the terminals
/// `detached` and `future` (callbacks belong to the master).
///
/// # Examples
///
/// ```
/// use weavekit::{Dispatcher, Error, Job, Kernel};
///
/// const TOUCH: Job<u32> = Job::new("touch");
/// let mut d = Dispatcher::new(1, |k: &mut Kernel| k.on_detached(TOUCH, |_, _| {}))?;
/// d.remote().job(TOUCH, 10).batch(5).detached(1)?;
/// d.wait();
/// # Ok::<(), Error>(())
/// ```
#[must_use = "a job spec does nothing until a terminal (`detached`, `future`) is called"]
pub struct RemoteSpec<'a, K: DispatchKey> {
    remote: &'a Remote,
    key: K,
    count: usize,
    batch: Option<usize>,
    after: &'a [JobId],
    reuse: Option<Vec<K::Results>>,
}

impl<'a, K: DispatchKey> RemoteSpec<'a, K> {
    /// As [`JobSpec::batch`](crate::JobSpec::batch).
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
    /// const T: Job<()> = Job::new("t");
    /// let d = Dispatcher::new(1, |k: &mut Kernel| k.on_detached(T, |_, _| {}))?;
    /// let refused = d.remote().job(T, 10).batch(0).detached(());
    /// assert!(matches!(refused, Err(Error::ZeroBatchSize { .. })));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn batch(mut self, size: usize) -> Self {
        self.batch = Some(size);
        self
    }

    /// As [`JobSpec::after`](crate::JobSpec::after), from any thread: the
    /// job starts on the actors as soon as every job in `dependencies` has
    /// finished, with no master step. The ids may come from the master's
    /// jobs or from remote ones (for example [`JobFuture::id`]). If one of
    /// them failed, was cancelled or did not run, this job does not run: its
    /// future resolves to [`Error::DependencyFailed`]. An id whose outcome
    /// the master already reported (or an unknown one) counts as finished
    /// successfully.
    ///
    /// Only this path takes a lock the plain dispatch does not (the table
    /// of jobs a remote can name).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{atomic::{AtomicU64, Ordering}, Arc};
    /// use weavekit::{Dispatcher, Error, Job, Kernel};
    ///
    /// const FILL: Job<Arc<Vec<AtomicU64>>> = Job::new("fill");
    /// const READ: Job<Arc<Vec<AtomicU64>>, u64> = Job::new("read");
    /// let mut d = Dispatcher::new(2, |k: &mut Kernel| {
    ///     k.on_detached(FILL, |id, cells| cells[id].store(id as u64 + 1, Ordering::Relaxed));
    ///     k.on(READ, |id, cells| cells[id].load(Ordering::Relaxed));
    /// })?;
    /// let remote = d.remote();
    /// let cells: Arc<Vec<AtomicU64>> = Arc::new((0..4).map(|_| AtomicU64::new(0)).collect());
    /// let fill = d.job(FILL, 4).deferred().detached(Arc::clone(&cells))?; // a master job
    /// let read = std::thread::spawn(move || remote.job(READ, 4).after(&[fill]).future(cells))
    ///     .join()
    ///     .unwrap()?;
    /// d.wait(); // starts `fill`; `read` follows on the actors
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
    /// assert_eq!(block_on(read)?, [1, 2, 3, 4]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn after(mut self, dependencies: &'a [JobId]) -> Self {
        self.after = dependencies;
        self
    }

    fn request(&self) -> Request<'_> {
        Request::new(self.key.key_name(), self.count, self.batch)
    }

    fn dispatch_detached<A: Send + Sync + 'static>(self, args: A) -> Result<JobId, Error> {
        let request = self.request();
        self.remote.submit(self.after, |shared| {
            let base = shared
                .checks()
                .detached(request, args, || shared.hub.remote_id())?;
            let id = base.id;
            Ok((Arc::new(DetachedJob::new(base)) as Arc<dyn Job>, id))
        })
    }

    fn dispatch_future<A, R>(self, reuse: Option<Vec<R>>, args: A) -> Result<JobFuture<R>, Error>
    where
        A: Send + Sync + 'static,
        R: Send + 'static,
    {
        let request = self.request();
        self.remote.submit(self.after, |shared| {
            let (base, buffer) = shared
                .checks()
                .tracked(request, reuse, args, || shared.hub.remote_id())?;
            Ok(JobFuture::new(base, buffer, &shared.hub))
        })
    }
}

/// Terminals of a typed key.
impl<A, R> RemoteSpec<'_, Key<A, R>> {
    /// As [`JobSpec::reuse`](crate::JobSpec::reuse), for
    /// [`future`](RemoteSpec::future).
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Job, Kernel};
    ///
    /// const ID: Job<(), usize> = Job::new("id");
    /// let d = Dispatcher::new(1, |k: &mut Kernel| k.on(ID, |id, _| id))?;
    /// let _future = d.remote().job(ID, 3).reuse(Vec::with_capacity(3)).future(())?;
    /// # Ok::<(), Error>(())
    /// ```
    pub fn reuse(mut self, buffer: Vec<R>) -> Self {
        self.reuse = Some(buffer);
        self
    }

    /// As [`JobSpec::detached`](crate::JobSpec::detached), from any thread.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once the dispatcher is gone; otherwise as
    /// [`JobSpec::detached`](crate::JobSpec::detached), at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Job, Kernel};
    ///
    /// const T: Job<()> = Job::new("t");
    /// let d = Dispatcher::new(1, |k: &mut Kernel| k.on_detached(T, |_, _| {}))?;
    /// let remote = d.remote();
    /// drop(d);
    /// assert_eq!(remote.job(T, 1).detached(()), Err(Error::Closed));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn detached(self, args: A) -> Result<JobId, Error>
    where
        A: Send + Sync + 'static,
    {
        self.dispatch_detached(args)
    }

    /// As [`JobSpec::future`](crate::JobSpec::future), from any thread.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once the dispatcher is gone; otherwise as
    /// [`JobSpec::tracked`](crate::JobSpec::tracked), at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Job, Kernel};
    ///
    /// const ID: Job<(), usize> = Job::new("id");
    /// let d = Dispatcher::new(1, |k: &mut Kernel| k.on(ID, |id, _| id))?;
    /// let remote = d.remote();
    /// drop(d);
    /// assert!(matches!(remote.job(ID, 1).future(()), Err(Error::Closed)));
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
}

/// Terminals of a `&str` name.
impl RemoteSpec<'_, &str> {
    /// As the typed [`detached`](RemoteSpec::detached), with `A` from `args`.
    ///
    /// # Errors
    ///
    /// As the typed [`detached`](RemoteSpec::detached).
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Kernel};
    ///
    /// let mut d = Dispatcher::new(1, |k: &mut Kernel| k.on_detached("t", |_: usize, _: &u8| {}))?;
    /// d.remote().job("t", 4).detached(1_u8)?;
    /// d.wait();
    /// # Ok::<(), Error>(())
    /// ```
    pub fn detached<A>(self, args: A) -> Result<JobId, Error>
    where
        A: Send + Sync + 'static,
    {
        self.dispatch_detached(args)
    }

    /// As the typed [`future`](RemoteSpec::future), with `A` and `R` from
    /// the call (name `R`, for example with `future::<_, u64>`).
    ///
    /// # Errors
    ///
    /// As the typed [`future`](RemoteSpec::future).
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Kernel};
    ///
    /// let d = Dispatcher::new(1, |k: &mut Kernel| k.on("id", |id: usize, _: &()| id))?;
    /// let wrong = d.remote().job("id", 4).future::<(), u8>(());
    /// assert!(matches!(wrong, Err(Error::ResultType { .. })));
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

impl<K: DispatchKey> fmt::Debug for RemoteSpec<'_, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteSpec")
            .field("name", &self.key.key_name())
            .field("count", &self.count)
            .field("batch", &self.batch)
            .field("after", &self.after)
            .finish()
    }
}
