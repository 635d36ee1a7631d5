//! The actor threads: starting them, waiting until every worker entry has
//! run, feeding them jobs, handing finished jobs back, and joining them.
//!
//! [`Hub`] is the state shared by the master and the actors: the job queue,
//! the idle/wake protocol ([`Sleep`]), and the completion side: finished
//! jobs, of either kind, for the master to report.
//!
//! # The wake path (issue 7)
//!
//! Each actor pins itself to its CPU from the plan of
//! [`placement`](crate::placement) before it runs the worker entry. A
//! dispatch ([`Hub::inject`]) asks which CPU the master is on right now
//! (`sched_getcpu`, a vDSO read) and wakes every sleeping actor except the
//! ones pinned there; those are woken as the master blocks in `wait` or
//! `wait_timeout` ([`Hub::await_finished`], [`Hub::await_finished_until`]),
//! when that CPU becomes free, at its next `poll`
//! ([`Hub::collect_completions`]), or when a `JobFuture` is polled
//! unfinished ([`Hub::caller_waits`]). So each actor starts on a core of its own,
//! and none preempts the master inside `dispatch`. The CPU is asked at
//! every dispatch, so a master that migrates is followed. Measured on a
//! 2-vCPU guest (README, Performance): master busy 4 or 17 ms, then a
//! 10,000-item sweep, went from 1.0-1.4x to about 1.9x over serial code.
//!
//! A thread that makes a `JobFuture` (the master, or one dispatching
//! through a `Remote`) will park on its CPU until the future resolves, so
//! an actor pinned there spins only briefly once idle
//! ([`Hub::note_awaiting_caller`]; `sleep` module, "How long an idle actor
//! spins"): an awaited 64-item job went from 21-26 µs to about 8 µs.

use std::collections::{HashMap, VecDeque};
use std::ops::Range;

use crate::after::Links;
use crate::builder::PoolConfig;
use crate::error::Error;
use crate::id::JobId;
use crate::job::Job;
use crate::kernel::{Kernel, Signature};
use crate::placement::{self, Tuning};
use crate::sleep::{Sleep, Spin};
use crate::sync::{self, lock, thread, Arc, AtomicBool, AtomicUsize, Condvar, Mutex, Ordering};
use crate::unwind;

std::thread_local! {
    /// Whether this thread is an actor (of any pool), for
    /// [`Hub::note_awaiting_caller`].
    static ON_ACTOR: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The worker entry, shared by every actor.
pub(crate) type Worker = Arc<dyn Fn(&mut Kernel) + Send + Sync>;

/// Master/actor shared state.
pub(crate) struct Hub {
    /// Jobs with items left to claim, oldest first.
    queue: Mutex<VecDeque<Arc<dyn Job>>>,
    sleep: Sleep,
    /// Finished jobs the master has not collected yet.
    completions: Mutex<Vec<Arc<dyn Job>>>,
    /// Panics in detached jobs, and in `Drop` of any job's arguments or
    /// results, for `take_detached_errors`.
    detached_errors: Mutex<Vec<Error>>,
    /// What each actor runs, and the stop flag of `destroy_timeout`.
    status: crate::status::Board,
    /// The builder's `quiet_panics`, for drops on the master.
    quiet: bool,
    /// Remote dispatches counted in flight and not yet collected.
    remote_in_flight: AtomicUsize,
    /// Set when the dispatcher starts shutting down: remotes are refused.
    remote_closed: AtomicBool,
    /// Ids issued to remote jobs.
    remote_ids: AtomicUsize,
    /// Jobs a remote `after` may name, from dispatch until reported, once
    /// the dispatcher made a [`Remote`](crate::Remote) (see the `remote`
    /// module: the master publishes here only from then on).
    directory: Mutex<HashMap<JobId, Arc<dyn Job>>>,
    /// Whether the master publishes its jobs in `directory`.
    directory_on: AtomicBool,
    /// The master's wait for finished jobs: the same protocol as the
    /// actors' wait for work, with the roles swapped.
    finished: Sleep,
    /// The master thread, also unparked when a job finishes, for event
    /// loops that sleep in `park_timeout` over several dispatchers.
    #[cfg(not(loom))]
    master: thread::Thread,
    /// The CPU of each actor, `None` if unpinned.
    cpus: Vec<Option<usize>>,
    /// Whether any actor is pinned (else the master's CPU is not asked).
    pinned: bool,
}

impl Hub {
    /// The hub of `count` actors; `None` if their state does not fit in
    /// memory.
    fn new(count: usize, quiet: bool, tuning: Tuning) -> Option<Hub> {
        let cpus = placement::plan(tuning.placement, count)?;
        Some(Hub {
            status: crate::status::Board::new(count),
            quiet,
            queue: Mutex::new(VecDeque::new()),
            sleep: Sleep::try_new(Spin::Yielding(tuning.spin_rounds), count)?,
            completions: Mutex::new(Vec::new()),
            detached_errors: Mutex::new(Vec::new()),
            remote_in_flight: AtomicUsize::new(0),
            remote_closed: AtomicBool::new(false),
            remote_ids: AtomicUsize::new(0),
            directory: Mutex::new(HashMap::new()),
            directory_on: AtomicBool::new(false),
            finished: Sleep::try_new(Spin::Brief, 1)?,
            #[cfg(not(loom))]
            master: thread::current(),
            pinned: cpus.iter().any(Option::is_some),
            cpus,
        })
    }

    /// Master: queues a job with at least one item and wakes the actors.
    pub(crate) fn inject(&self, job: Arc<dyn Job>) {
        lock(&self.queue).push_back(job);
        let near = if self.pinned {
            placement::current_cpu()
        } else {
            None
        };
        self.sleep.notify_near(near);
    }

    /// A `JobFuture` is being made on this thread, which will await it on
    /// the CPU it runs on: unless this is an actor, an actor pinned there
    /// spins only briefly once idle (module docs).
    pub(crate) fn note_awaiting_caller(&self) {
        if !self.pinned {
            return;
        }
        if let Some(cpu) = placement::current_cpu() {
            self.note_caller(cpu);
        }
    }

    /// A caller that will await its job runs on `cpu`; ignored on an actor
    /// (a handler making a future waits inside a handler, not on a CPU of
    /// its own).
    fn note_caller(&self, cpu: usize) {
        if !ON_ACTOR.with(std::cell::Cell::get) {
            self.sleep.set_caller_cpu(cpu);
        }
    }

    /// Master: moves finished jobs into `ready`, in the order they
    /// finished. The mutex orders every write of the finishing actors
    /// before the master's reads. Wakes the actors
    /// held at dispatch first: a master that polls may be waiting for them
    /// (module docs).
    pub(crate) fn collect_completions(&self, ready: &mut VecDeque<Arc<dyn Job>>) {
        self.sleep.release_held();
        ready.extend(lock(&self.completions).drain(..));
    }

    /// A caller leaves its CPU to wait for a job (a `JobFuture` polled
    /// before it is done): wakes the actors held at dispatch.
    pub(crate) fn caller_waits(&self) {
        self.sleep.release_held();
    }

    /// Remote: counts a dispatch in flight, or refuses it once closed (see
    /// the `remote` module for why no job is lost).
    pub(crate) fn remote_begin(&self) -> Result<(), Error> {
        // ORDERING: SeqCst on the count and the flag, here and in
        // `close_remote`/`remote_in_flight`: either this sees the flag, or
        // the master's later read of the count sees this increment.
        self.remote_in_flight.fetch_add(1, Ordering::SeqCst);
        if self.remote_closed.load(Ordering::SeqCst) {
            self.remote_abort();
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// Panics of finished detached jobs, in the order the jobs finished,
    /// and of `Drop` of jobs' arguments and results.
    pub(crate) fn take_detached_errors(&self) -> Vec<Error> {
        std::mem::take(&mut *lock(&self.detached_errors))
    }

    /// Remote: uncounts a dispatch that was not queued, and wakes the
    /// master, which may be waiting for it.
    pub(crate) fn remote_abort(&self) {
        // ORDERING: see `remote_begin`.
        self.remote_in_flight.fetch_sub(1, Ordering::SeqCst);
        self.finished.notify();
    }

    /// Master: a remote job was collected.
    pub(crate) fn remote_end(&self) {
        // ORDERING: see `remote_begin`.
        self.remote_in_flight.fetch_sub(1, Ordering::SeqCst);
    }

    /// Remote dispatches not yet collected by the master.
    pub(crate) fn remote_in_flight(&self) -> usize {
        // ORDERING: see `remote_begin`.
        self.remote_in_flight.load(Ordering::SeqCst)
    }

    /// Master, at shutdown: refuses further remote dispatches.
    pub(crate) fn close_remote(&self) {
        // ORDERING: see `remote_begin`.
        self.remote_closed.store(true, Ordering::SeqCst);
    }

    /// Whether remote dispatches are refused.
    pub(crate) fn remote_closed(&self) -> bool {
        // ORDERING: see `remote_begin`.
        self.remote_closed.load(Ordering::SeqCst)
    }

    /// A fresh id for a remote job.
    pub(crate) fn remote_id(&self) -> JobId {
        // ORDERING: only uniqueness matters.
        JobId::remote(self.remote_ids.fetch_add(1, Ordering::Relaxed))
    }

    /// Master: from now on, publishes every job for remote `after`, starting
    /// with `jobs`, the ones in flight. Returns false if it already did.
    pub(crate) fn open_directory<'j>(&self, jobs: impl Iterator<Item = &'j Arc<dyn Job>>) -> bool {
        // ORDERING: written and read by the master thread only.
        if self.directory_on.swap(true, Ordering::Relaxed) {
            return false;
        }
        let mut directory = lock(&self.directory);
        for job in jobs {
            directory.insert(job.id(), Arc::clone(job));
        }
        true
    }

    /// Whether the master publishes its jobs (a remote exists).
    pub(crate) fn directory_on(&self) -> bool {
        // ORDERING: see `open_directory`.
        self.directory_on.load(Ordering::Relaxed)
    }

    /// Makes `job` findable by a remote `after` until it is reported.
    pub(crate) fn publish(&self, job: &Arc<dyn Job>) {
        lock(&self.directory).insert(job.id(), Arc::clone(job));
    }

    /// Master: `id` was reported; a remote `after` no longer finds it.
    pub(crate) fn unpublish(&self, id: JobId) {
        let entry = lock(&self.directory).remove(&id);
        if let Some(job) = entry {
            self.release(job);
        }
    }

    /// Master: the published job `id` (a remote's, until the master
    /// reports it), for `progress`, `cancel` and `wait_for` on remote ids.
    pub(crate) fn find_published(&self, id: JobId) -> Option<Arc<dyn Job>> {
        if !self.directory_on() {
            return None;
        }
        lock(&self.directory).get(&id).cloned()
    }

    /// Master, giving up at shutdown: every published job not reported yet.
    pub(crate) fn published(&self) -> Vec<Arc<dyn Job>> {
        if !self.directory_on() {
            return Vec::new();
        }
        lock(&self.directory).values().cloned().collect()
    }

    /// Remote, before dropping the hold of a job it dispatches: makes `job`
    /// wait for the jobs `after` names that have not been reported yet
    /// (the others count as finished successfully, as for the master).
    pub(crate) fn register_after(&self, job: &Arc<dyn Job>, after: &[JobId]) {
        let dependencies: Vec<Arc<dyn Job>> = {
            let directory = lock(&self.directory);
            after
                .iter()
                .filter_map(|id| directory.get(id).cloned())
                .collect()
        };
        for dependency in dependencies {
            Links::register(job, &*dependency);
            self.release(dependency);
        }
    }

    /// Master: records the panics of a reported detached job.
    pub(crate) fn report(&self, errors: Vec<Error>) {
        if !errors.is_empty() {
            lock(&self.detached_errors).extend(errors);
        }
    }

    /// Drops a reference to `job` (master or actor); a panic in `Drop` of
    /// its arguments, when this was the last reference, is reported for
    /// `take_detached_errors` instead of unwinding.
    pub(crate) fn release(&self, job: Arc<dyn Job>) {
        let name = Arc::clone(job.name());
        if let Some(message) = unwind::quietly(self.quiet, || unwind::release(job)) {
            lock(&self.detached_errors).push(Error::DropPanicked {
                job: name.to_string(),
                message,
            });
        }
    }

    /// Master: the finish epoch to pass to [`Hub::await_finished`], read
    /// before looking for finished jobs.
    pub(crate) fn finish_epoch(&self) -> usize {
        self.finished.epoch()
    }

    /// Master: blocks until a job finishes after `seen` was read from
    /// [`Hub::finish_epoch`]. Spins briefly first: a small job's callback is
    /// often microseconds away.
    /// Wakes the actors held at dispatch first: this thread's CPU is
    /// theirs now (module docs).
    pub(crate) fn await_finished(&self, seen: usize) {
        self.sleep.release_held();
        self.finished.idle(0, seen);
    }

    /// Master: as [`Hub::await_finished`], but gives up at `deadline`.
    #[cfg(not(loom))]
    pub(crate) fn await_finished_until(&self, seen: usize, deadline: std::time::Instant) {
        self.sleep.release_held();
        self.finished.idle_until(0, seen, deadline);
    }

    /// Actor: the next range to run, from the oldest job with items left.
    fn find_work(&self) -> Option<(Arc<dyn Job>, Range<usize>)> {
        loop {
            // Pop at most one exhausted job per lock, and drop it after
            // unlocking: its last reference may be ours, and dropping it
            // runs the user's `Drop` for the arguments.
            let exhausted = {
                let mut queue = lock(&self.queue);
                let job = queue.front()?;
                if let Some(range) = job.claims().claim() {
                    return Some((Arc::clone(job), range));
                }
                queue.pop_front()
            };
            if let Some(job) = exhausted {
                self.release(job);
            }
        }
    }

    /// `job` has just finished (on the actor that ran its last batch, or
    /// on the master when a cancel or a failed dependency finished it):
    /// start the jobs waiting for it, and hand it to the master, whatever
    /// its kind (the job itself knows what its outcome is).
    pub(crate) fn job_done(&self, job: Arc<dyn Job>) {
        job.resolve();
        Links::release(&*job, self);
        lock(&self.completions).push(job);
        self.finished.notify();
        #[cfg(not(loom))]
        self.master.unpark();
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        // Only jobs left behind by `destroy_timeout` (finished late, or
        // never) are still here; their arguments' `Drop` must not unwind
        // out of the last handle or actor. Nobody is left to report to.
        let queued = std::mem::take(&mut *lock(&self.queue));
        let finished = std::mem::take(&mut *lock(&self.completions));
        let published = std::mem::take(&mut *lock(&self.directory));
        for job in queued
            .into_iter()
            .chain(finished)
            .chain(published.into_values())
        {
            let _ = unwind::quietly(self.quiet, || unwind::release(job));
        }
    }
}

/// The actor threads.
pub(crate) struct Pool {
    hub: Arc<Hub>,
    actors: Vec<thread::JoinHandle<()>>,
}

impl Pool {
    /// Starts the actors `config` describes running `worker`, and waits
    /// until every entry has returned. On success, returns the pool and the
    /// handler table all actors agree on. On failure every actor already
    /// started has been stopped and joined.
    pub(crate) fn start(
        config: &PoolConfig,
        worker: Worker,
    ) -> Result<(Pool, Vec<Signature>), Error> {
        unwind::install_hook();
        let count = config.actor_count;
        let cannot_track = || Error::Spawn {
            actor: 0,
            message: format!("cannot track {count} actors"),
        };
        let mut pool = Pool {
            hub: Arc::new(
                Hub::new(count, config.quiet_panics, config.tuning).ok_or_else(cannot_track)?,
            ),
            actors: Vec::new(),
        };
        let readiness = Arc::new(Readiness::new(count).ok_or_else(cannot_track)?);
        for index in 0..count {
            let actor = Actor {
                index,
                count,
                worker: Arc::clone(&worker),
                hub: Arc::clone(&pool.hub),
                readiness: Arc::clone(&readiness),
                quiet: config.quiet_panics,
            };
            match spawn(config, index, actor) {
                Ok(handle) => pool.actors.push(handle),
                Err(error) => {
                    // The actors started so far run their entries, then
                    // find the pool terminating; join them all.
                    pool.shutdown();
                    return Err(Error::Spawn {
                        actor: index,
                        message: error.to_string(),
                    });
                }
            }
        }
        let tables = readiness.wait_all()?;
        crate::registry::Registry::check_agreement(&tables)?;
        let table = tables.into_iter().next().unwrap_or_default();
        Ok((pool, table))
    }

    pub(crate) fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Stops and joins every actor. Queued work must be finished first (the
    /// dispatcher waits for it); a second call does nothing.
    pub(crate) fn shutdown(&mut self) {
        if self.actors.is_empty() {
            return;
        }
        self.hub.sleep.terminate();
        for actor in self.actors.drain(..) {
            // An actor catches every panic of user code, so a join error
            // would be a crate bug; there is nothing left to clean up.
            let _ = actor.join();
        }
        // Every job is done; release any exhausted one still queued now,
        // rather than when the last `DispatchHandle` goes.
        let leftovers = std::mem::take(&mut *lock(&self.hub.queue));
        for job in leftovers {
            self.hub.release(job);
        }
    }

    /// Gives up on the actors (the deadline of `destroy_timeout` passed):
    /// no actor claims another batch, idle ones exit, and none is joined.
    /// Returns the batches still running and the names of the jobs that
    /// had not finished, each once, queued ones first.
    #[cfg(not(loom))]
    pub(crate) fn abandon(&mut self) -> (Vec<crate::error::RunningBatch>, Vec<String>) {
        self.hub.status.stop();
        self.hub.sleep.terminate();
        let running = self.hub.status.running();
        let queued = std::mem::take(&mut *lock(&self.hub.queue));
        let mut unfinished: Vec<String> = Vec::new();
        let names = queued
            .iter()
            .filter(|job| !job.claims().is_done())
            .map(|job| job.name().to_string())
            .chain(running.iter().map(|batch| batch.job.clone()));
        for name in names {
            if !unfinished.contains(&name) {
                unfinished.push(name);
            }
        }
        for job in queued {
            self.hub.release(job);
        }
        // Detach: dropping a join handle leaves its thread running.
        self.actors.clear();
        (running, unfinished)
    }
}

/// Spawns actor `index`'s thread as `config` says.
fn spawn(
    config: &PoolConfig,
    index: usize,
    actor: Actor,
) -> std::io::Result<thread::JoinHandle<()>> {
    #[cfg(test)]
    if config.fail_spawn_at == Some(index) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::WouldBlock,
            "Resource temporarily unavailable (test seam)",
        ));
    }
    let name = (config.thread_name)(index);
    if name.contains('\0') {
        // std's `spawn` would panic on it.
        let message = format!("thread name {name:?} contains a NUL byte");
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            message,
        ));
    }
    let mut builder = thread::Builder::new().name(name);
    if let Some(bytes) = config.stack_size {
        builder = builder.stack_size(bytes);
    }
    builder.spawn(move || actor.main())
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// One actor thread's start-up data.
struct Actor {
    index: usize,
    count: usize,
    worker: Worker,
    hub: Arc<Hub>,
    readiness: Arc<Readiness>,
    /// The builder's `quiet_panics`.
    quiet: bool,
}

impl Actor {
    /// The actor thread: run the worker entry, report, then serve jobs.
    fn main(self) {
        unwind::set_quiet(self.quiet);
        ON_ACTOR.with(|on| on.set(true));
        self.place();
        let mut kernel = Kernel::new(self.index, self.count);
        let entry = unwind::catch(|| (self.worker)(&mut kernel));
        kernel.seal();
        let ready = entry.is_ok();
        self.readiness
            .report(self.index, entry.map(|()| kernel.signatures().to_vec()));
        drop(self.readiness);
        if ready {
            serve(&self.hub, &mut kernel);
        }
    }

    /// Pins this thread to its planned CPU, and tells the wake protocol
    /// where it runs (nothing, if it is unpinned or pinning failed).
    fn place(&self) {
        if let Some(&Some(cpu)) = self.hub.cpus.get(self.index) {
            if placement::pin_current(cpu) {
                self.hub.sleep.set_cpu(self.index, cpu);
            }
        }
    }
}

/// The actor loop: run ranges while there are any, idle when there are
/// none, return when the pool shuts down.
fn serve(hub: &Hub, kernel: &mut Kernel) {
    let actor = kernel.actor_index();
    let mut current: Option<Arc<dyn Job>> = None;
    loop {
        let seen = hub.sleep.epoch();
        while let Some(range) = claim_next(hub, actor, &mut current) {
            let Some(job) = current.as_ref() else { break };
            hub.status.begin(actor, &range);
            let done = job.run(kernel, range);
            hub.status.end(actor);
            if done {
                hub.job_done(Arc::clone(job));
            }
        }
        if !hub.sleep.idle(actor, seen) {
            return;
        }
    }
}

/// The next range: from the current job while it has items left, else from
/// the queue (which then becomes the current job).
fn claim_next(hub: &Hub, actor: usize, current: &mut Option<Arc<dyn Job>>) -> Option<Range<usize>> {
    if hub.status.stopping() {
        if let Some(job) = current.take() {
            hub.release(job);
        }
        return None;
    }
    if let Some(range) = current.as_ref().and_then(|job| job.claims().claim()) {
        return Some(range);
    }
    if let Some(job) = current.take() {
        hub.release(job);
    }
    let (job, range) = hub.find_work()?;
    if job.claims().has_unclaimed() {
        // Pass the wake-up on to actors held at dispatch (sleep.rs).
        hub.sleep.release_held();
    }
    hub.status.switch(actor, job.name());
    *current = Some(job);
    Some(range)
}

/// What each actor's worker entry produced: its handler table, or the
/// panic message.
type Report = Result<Vec<Signature>, String>;

/// Start-up rendezvous: each actor reports once, the master waits for all.
struct Readiness {
    reports: Mutex<Vec<Option<Report>>>,
    arrived: Condvar,
}

impl Readiness {
    fn new(count: usize) -> Option<Readiness> {
        let mut reports = Vec::new();
        reports.try_reserve_exact(count).ok()?;
        reports.resize_with(count, || None);
        Some(Readiness {
            reports: Mutex::new(reports),
            arrived: Condvar::new(),
        })
    }

    fn report(&self, actor: usize, report: Report) {
        lock(&self.reports)[actor] = Some(report);
        self.arrived.notify_all();
    }

    /// Waits for every report; the first failed entry (lowest actor index)
    /// is the error.
    fn wait_all(&self) -> Result<Vec<Vec<Signature>>, Error> {
        let mut reports = lock(&self.reports);
        while reports.iter().any(Option::is_none) {
            reports = sync::wait(&self.arrived, reports);
        }
        reports
            .drain(..)
            .enumerate()
            .map(|(actor, report)| match report {
                Some(Ok(table)) => Ok(table),
                Some(Err(message)) => Err(Error::WorkerPanicked { actor, message }),
                None => Err(Error::WorkerPanicked {
                    actor,
                    message: "the actor never reported readiness".to_owned(),
                }),
            })
            .collect()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::placement;
    use crate::Dispatcher;

    #[test]
    fn a_failed_spawn_joins_every_actor_already_started() {
        let entries = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = Arc::clone(&entries);
        let worker: Worker = Arc::new(move |_: &mut Kernel| {
            seen.fetch_add(1, Ordering::SeqCst);
        });
        let mut config = Dispatcher::builder().actor_count(4).config().unwrap();
        config.fail_spawn_at = Some(2);
        let error = Pool::start(&config, Arc::clone(&worker)).err();
        match error {
            Some(Error::Spawn { actor: 2, message }) => {
                assert!(message.contains("test seam"), "{message}");
            }
            other => panic!("expected a spawn error, got {other:?}"),
        }
        // Actors 0 and 1 ran their entries and were joined: their clones
        // of the worker are gone.
        assert_eq!(entries.load(Ordering::SeqCst), 2);
        assert_eq!(Arc::strong_count(&worker), 1);
    }

    /// Each actor reports the CPU it runs on, from inside a job.
    fn cpus_seen(actors: usize) -> Vec<Option<usize>> {
        let mut dispatcher = Dispatcher::new(actors, |kernel: &mut Kernel| {
            kernel.on("cpu", |_: usize, _: &()| placement::current_cpu());
        })
        .unwrap();
        let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        for _ in 0..20 {
            let seen = std::rc::Rc::clone(&seen);
            let callback = move |buf: Result<Vec<Option<usize>>, crate::Error>| {
                seen.borrow_mut().extend(buf.unwrap());
            };
            dispatcher
                .dispatch("cpu", 64, callback, Some(1), ())
                .unwrap();
            dispatcher.wait();
        }
        let seen = seen.borrow().clone();
        seen
    }

    #[test]
    fn actors_run_only_on_their_planned_cpus() {
        let planned = placement::plan(placement::Placement::Pinned, 2).unwrap();
        let seen = cpus_seen(2);
        assert_eq!(seen.len(), 20 * 64);
        if planned.iter().any(Option::is_none) {
            // Unpinned here (one CPU, not Linux, or Miri): nothing to check.
            return;
        }
        // Every item ran on one of the two planned CPUs (which differ).
        assert_ne!(planned[0], planned[1]);
        assert!(seen.iter().all(|cpu| planned.contains(cpu)), "{seen:?}");
    }

    #[test]
    fn more_actors_than_cpus_still_run_every_item() {
        let actors = placement::allowed_cpus().len().max(1) * 2 + 1;
        let seen = cpus_seen(actors);
        assert_eq!(seen.len(), 20 * 64);
    }

    #[test]
    fn idle_spin_reaches_the_actors_and_not_the_master() {
        use crate::sleep::Spin;
        for rounds in [0, 7, u32::MAX] {
            let config = Dispatcher::builder()
                .actor_count(2)
                .idle_spin(rounds)
                .config()
                .unwrap();
            let worker: Worker = Arc::new(|kernel: &mut Kernel| {
                kernel.on("id", |id: usize, _: &()| id);
            });
            let (pool, _) = Pool::start(&config, worker).unwrap();
            let kept = rounds.min(crate::DispatcherBuilder::MAX_IDLE_SPIN);
            assert_eq!(pool.hub().sleep.spin(), Spin::Yielding(kept));
            assert_eq!(pool.hub().finished.spin(), Spin::Brief);
        }
    }

    #[test]
    fn jobs_run_at_either_end_of_the_idle_spin_range() {
        for rounds in [0, u32::MAX] {
            let mut dispatcher = Dispatcher::builder()
                .actor_count(2)
                .idle_spin(rounds)
                .build(|kernel: &mut Kernel| {
                    kernel.on("id", |id: usize, _: &()| id);
                })
                .unwrap();
            for _ in 0..5 {
                let total = std::rc::Rc::new(std::cell::Cell::new(0));
                let sum = std::rc::Rc::clone(&total);
                let callback = move |buf: Result<Vec<usize>, crate::Error>| {
                    sum.set(buf.unwrap().iter().sum::<usize>());
                };
                dispatcher
                    .dispatch("id", 100, callback, Some(3), ())
                    .unwrap();
                dispatcher.wait();
                assert_eq!(total.get(), 4950, "idle_spin({rounds})");
            }
        }
    }

    #[test]
    fn only_a_caller_not_an_actor_records_its_cpu() {
        let tuning = placement::Tuning {
            placement: placement::Placement::Unpinned,
            spin_rounds: 0,
        };
        let hub = Hub::new(2, false, tuning).unwrap();
        hub.note_caller(7);
        assert_eq!(hub.sleep.caller_cpu(), 7);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                ON_ACTOR.with(|on| on.set(true));
                hub.note_caller(3);
            });
        });
        assert_eq!(hub.sleep.caller_cpu(), 7, "an actor is not a caller");
        std::thread::scope(|scope| {
            scope.spawn(|| hub.note_caller(4));
        });
        assert_eq!(hub.sleep.caller_cpu(), 4, "any other thread is");
    }

    #[test]
    fn a_pending_future_poll_wakes_the_actors_held_at_dispatch() {
        use std::future::Future;
        use std::task::{Context, Waker};
        let config = Dispatcher::builder()
            .actor_count(2)
            .idle_spin(0)
            .config()
            .unwrap();
        let worker: Worker = Arc::new(|kernel: &mut Kernel| {
            kernel.on("id", |id: usize, _: &()| id);
        });
        let (pool, table) = Pool::start(&config, worker).unwrap();
        let hub = pool.hub();
        let Some(&Some(near)) = hub.cpus.first() else {
            return; // Unpinned here: nothing is ever held.
        };
        // Both actors asleep, a publication from actor 0's CPU holds it.
        while hub.sleep.sleepers() < 2 {
            std::thread::yield_now();
        }
        hub.sleep.notify_near(Some(near));
        if !hub.sleep.is_held(0) {
            return; // Its pinning call failed: it is woken like any other.
        }
        let registry = crate::registry::Registry::new(&table);
        let route = registry.tracked::<(), usize>("id").unwrap();
        let claims = crate::job::Claims::new(4, crate::job::Batching::new(None, 2));
        let base = crate::job::JobBase::new(hub.remote_id(), route, claims, ());
        assert_eq!(hub.sleep.caller_cpu(), usize::MAX, "no future made yet");
        let (_job, future) =
            crate::future::JobFuture::<usize>::new(base, Vec::with_capacity(4), hub);
        if placement::current_cpu().is_some() {
            let recorded = hub.sleep.caller_cpu();
            assert!(placement::allowed_cpus().contains(&recorded), "{recorded}");
        }
        // Never queued, so it stays pending: the caller goes off to wait.
        let mut future = std::pin::pin!(future);
        let polled = future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()));
        assert!(polled.is_pending());
        assert!(!hub.sleep.is_held(0), "the pending poll released it");
    }

    #[test]
    fn an_unpinned_pool_pins_nothing() {
        let mut config = Dispatcher::builder().actor_count(3).config().unwrap();
        config.tuning = placement::Tuning {
            placement: placement::Placement::Unpinned,
            spin_rounds: 0,
        };
        let worker: Worker = Arc::new(|kernel: &mut Kernel| {
            kernel.on("id", |id: usize, _: &()| id);
        });
        let (pool, _) = Pool::start(&config, worker).unwrap();
        assert!(!pool.hub().pinned);
        assert!(pool.hub().cpus.iter().all(Option::is_none));
    }
}
