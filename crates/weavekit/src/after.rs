//! Dependencies between jobs: [`JobSpec::after`](crate::JobSpec::after).
//!
//! Each job record carries [`Links`]: how many holds keep it from starting
//! (`waiting`), whether a dependency failed, and the jobs waiting for it
//! (`dependents`). There is no master step between a job finishing and its
//! dependents starting: whoever finishes a job (an actor, or the master
//! when a cancel finishes it) calls [`Links::release`], which takes the
//! dependent list and drops one hold on each; whoever drops a dependent's
//! last hold [`launch`]es it, onto the actors' queue (or, when a dependency
//! failed, straight to completion with
//! [`Error::DependencyFailed`](crate::Error::DependencyFailed)).
//!
//! # Why no release is lost
//!
//! A job starts with one hold per dependency plus one for the master, which
//! the master drops when the job starts (at once, or at the next poll for a
//! deferred job). Registration and release meet under the dependency's
//! `dependents` mutex: the master either pushes the dependent there before
//! the finisher takes the list (the finisher then drops the hold), or finds
//! the list closed and drops the hold itself, with the dependency's final
//! outcome recorded beside the closed list. Holds only reach zero once, so a
//! job is launched exactly once, and never before the master let it go.
//! The failure flag is stored before the hold is dropped and read by
//! whoever drops the last hold, through the `AcqRel` chain on `waiting`.

use crate::job::Job;
use crate::pool::Hub;
use crate::sync::{lock, Arc, AtomicBool, AtomicUsize, Mutex, Ordering};

/// A job's dependency state.
pub(crate) struct Links {
    /// Holds keeping the job from starting.
    waiting: AtomicUsize,
    /// Set when some dependency failed or was cancelled.
    dependency_failed: AtomicBool,
    /// Jobs waiting for this one, until it finishes.
    dependents: Mutex<Dependents>,
}

enum Dependents {
    /// Still running: these jobs each hold one count on their `waiting`.
    Open(Vec<Arc<dyn Job>>),
    /// Finished; `failed` says whether dependents must not run.
    Closed { failed: bool },
}

impl Links {
    /// Links of a job held only by the master.
    pub(crate) fn new() -> Links {
        Links {
            waiting: AtomicUsize::new(1),
            dependency_failed: AtomicBool::new(false),
            dependents: Mutex::new(Dependents::Open(Vec::new())),
        }
    }

    /// Master, before the job starts: makes `job` wait for `dependency`.
    pub(crate) fn register(job: &Arc<dyn Job>, dependency: &dyn Job) {
        // ORDERING: the master still holds one count, so this increment
        // cannot race a launch; the dependency's mutex publishes it.
        job.links().waiting.fetch_add(1, Ordering::Relaxed);
        let mut dependents = lock(&dependency.links().dependents);
        match &mut *dependents {
            Dependents::Open(list) => list.push(Arc::clone(job)),
            Dependents::Closed { failed } => {
                let failed = *failed;
                drop(dependents);
                job.links().drop_hold(failed);
            }
        }
    }

    /// Drops one hold, recording a failed dependency first. True when this
    /// was the last hold: the caller must [`launch`] the job.
    fn drop_hold(&self, dependency_failed: bool) -> bool {
        if dependency_failed {
            // ORDERING: published by the AcqRel decrement below to whoever
            // drops the last hold.
            self.dependency_failed.store(true, Ordering::Relaxed);
        }
        // ORDERING: AcqRel chains every hold-dropper's stores (the flag) to
        // the one that reaches zero.
        self.waiting.fetch_sub(1, Ordering::AcqRel) == 1
    }

    /// Whether a dependency failed. By the launcher, or after completion.
    pub(crate) fn dependency_failed(&self) -> bool {
        // ORDERING: see `drop_hold`.
        self.dependency_failed.load(Ordering::Relaxed)
    }

    /// Whoever finished `job`: closes its dependent list and drops a hold
    /// on each dependent, launching those that were waiting only for it.
    pub(crate) fn release(job: &dyn Job, hub: &Hub) {
        let failed = job.failed();
        let closed = Dependents::Closed { failed };
        let dependents = std::mem::replace(&mut *lock(&job.links().dependents), closed);
        let Dependents::Open(list) = dependents else {
            return;
        };
        for dependent in list {
            if dependent.links().drop_hold(failed) {
                launch(dependent, hub);
            }
        }
    }

    /// The master's hold, dropped when the job starts.
    pub(crate) fn start(job: Arc<dyn Job>, hub: &Hub) {
        if job.links().drop_hold(false) {
            launch(job, hub);
        }
    }
}

/// A job whose last hold was just dropped: onto the actors' queue, or, when
/// it has nothing to run or a dependency failed, straight to completion.
fn launch(job: Arc<dyn Job>, hub: &Hub) {
    let claims = job.claims();
    if job.links().dependency_failed() {
        // The job never runs: skip every item. A cancel may have skipped
        // them already, and then already routed the job.
        let skipped = claims.stop();
        if (skipped > 0 && claims.complete(skipped)) || claims.total() == 0 {
            hub.job_done(job);
        }
    } else if claims.total() == 0 {
        hub.job_done(job);
    } else if claims.has_unclaimed() {
        hub.inject(job);
    }
    // Otherwise a cancel skipped every item and routed the job already.
}
