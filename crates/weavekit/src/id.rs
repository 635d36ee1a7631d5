//! Job ids: [`JobId`] names a dispatched job until its outcome has been
//! reported, and [`Progress`] is what [`Dispatcher::progress`] reads from it.
//!
//! The master keeps every job it dispatched in a [`JobTable`]: a slab of job
//! records indexed by slot, each slot with a generation that grows when the
//! slot is freed. A `JobId` is (slot, generation), so looking one up is an
//! index and a compare, with no lock (the table belongs to the master
//! thread), and an id whose job is gone (or that another dispatcher issued
//! for a slot this one never used) simply finds nothing. Freed slots are
//! reused, so a steady stream of dispatches allocates nothing here.
//!
//! The table is also the one in-flight count: a job enters it when it is
//! dispatched (deferred or not) and leaves it when the master reports its
//! outcome (fires the callback, or takes a detached job's panics).
//!
//! [`Dispatcher::progress`]: crate::Dispatcher::progress

use crate::job::Job;
use crate::sync::Arc;

/// The id of a dispatched job, returned by every dispatch call.
///
/// Pass it to [`Dispatcher::progress`](crate::Dispatcher::progress),
/// [`cancel`](crate::Dispatcher::cancel) and
/// [`wait_for`](crate::Dispatcher::wait_for). Once the job's outcome has been
/// reported, the id is stale: those calls return `None`, `false` and at once.
/// Ids are only meaningful to the dispatcher that issued them.
///
/// # Examples
///
/// ```
/// use weavekit::{Dispatcher, Error, Kernel};
///
/// let mut d = Dispatcher::new(1, |k: &mut Kernel| k.on("id", |id: usize, _: &()| id))?;
/// let a = d.job("id", 3).tracked((), |_: Result<Vec<usize>, Error>| {})?;
/// let b = d.job("id", 3).tracked((), |_: Result<Vec<usize>, Error>| {})?;
/// assert_ne!(a, b);
/// d.wait_for(a);
/// assert_eq!(d.progress(a), None, "reported: the id is stale");
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JobId {
    slot: u32,
    generation: u32,
}

/// How far a job has got: `done` of its `total` items have run (or were
/// skipped by a failure or [`cancel`](crate::Dispatcher::cancel)).
///
/// # Examples
///
/// ```
/// use weavekit::{Dispatcher, Error, Kernel, Progress};
///
/// let mut d = Dispatcher::new(1, |k: &mut Kernel| k.on("id", |id: usize, _: &()| id))?;
/// let job = d.job("id", 10).deferred().tracked((), |_: Result<Vec<usize>, Error>| {})?;
/// assert_eq!(d.progress(job), Some(Progress { done: 0, total: 10 }));
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Items finished (run, failed or skipped).
    pub done: usize,
    /// The job's item count.
    pub total: usize,
}

impl JobId {
    /// The slot of every id a [`Remote`](crate::Remote) issues: no table
    /// has it, so the dispatcher does not track those jobs by id.
    const REMOTE: u32 = u32::MAX;

    /// The `n`th id issued by a remote.
    pub(crate) fn remote(n: usize) -> JobId {
        JobId {
            slot: JobId::REMOTE,
            // Uniqueness only matters for telling jobs apart; wrapping after
            // 2^32 remote jobs is harmless, as no table holds these ids.
            generation: n as u32,
        }
    }

    /// Whether a remote issued this id.
    pub(crate) fn is_remote(self) -> bool {
        self.slot == JobId::REMOTE
    }
}

/// The master's jobs, from dispatch until their outcome is reported.
#[derive(Default)]
pub(crate) struct JobTable {
    slots: Vec<Slot>,
    /// Free slot indices, reused last-freed first.
    free: Vec<u32>,
    live: usize,
}

#[derive(Default)]
struct Slot {
    generation: u32,
    job: Option<Arc<dyn Job>>,
}

impl JobTable {
    /// The id the next [`JobTable::insert`] will return.
    pub(crate) fn next_id(&self) -> JobId {
        match self.free.last() {
            Some(&slot) => JobId {
                slot,
                generation: self.slots[slot as usize].generation,
            },
            None => JobId {
                slot: u32::try_from(self.slots.len())
                    .ok()
                    .filter(|&slot| slot != JobId::REMOTE)
                    .expect("fewer than 2^32 - 1 jobs in flight"),
                generation: 0,
            },
        }
    }

    /// Stores `job` under [`JobTable::next_id`].
    pub(crate) fn insert(&mut self, job: Arc<dyn Job>) -> JobId {
        let id = self.next_id();
        if self.free.pop().is_none() {
            self.slots.push(Slot::default());
        }
        self.slots[id.slot as usize].job = Some(job);
        self.live += 1;
        id
    }

    /// The job under `id`, if it is still in flight.
    pub(crate) fn get(&self, id: JobId) -> Option<&Arc<dyn Job>> {
        let slot = self.slots.get(id.slot as usize)?;
        if slot.generation == id.generation {
            slot.job.as_ref()
        } else {
            None
        }
    }

    /// Removes and returns the job under `id`; its id becomes stale.
    pub(crate) fn remove(&mut self, id: JobId) -> Option<Arc<dyn Job>> {
        let slot = self.slots.get_mut(id.slot as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        let job = slot.job.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(id.slot);
        self.live -= 1;
        Some(job)
    }

    /// Jobs in flight.
    /// The jobs in the table.
    pub(crate) fn jobs(&self) -> impl Iterator<Item = &Arc<dyn Job>> {
        self.slots.iter().filter_map(|slot| slot.job.as_ref())
    }

    pub(crate) fn len(&self) -> usize {
        self.live
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::job::{Batching, Claims, DetachedJob, JobBase, Route};

    fn job() -> Arc<dyn Job> {
        let route = Route {
            name: Arc::from("j"),
            handler: 0,
        };
        Arc::new(DetachedJob::new(JobBase::new(
            JobId {
                slot: 0,
                generation: 0,
            },
            route,
            Claims::new(1, Batching::new(None, 1)),
            (),
        )))
    }

    #[test]
    fn ids_go_stale_and_slots_are_reused() {
        let mut table = JobTable::default();
        let a = table.insert(job());
        let b = table.insert(job());
        assert_ne!(a, b);
        assert_eq!(table.len(), 2);
        assert!(table.remove(a).is_some());
        assert!(table.get(a).is_none() && table.remove(a).is_none());
        let c = table.next_id();
        assert_eq!(table.insert(job()), c);
        assert_eq!(c.slot, a.slot, "the freed slot is reused");
        assert_ne!(c, a, "with a new generation");
        assert!(table.get(a).is_none());
        assert!(table.get(c).is_some() && table.get(b).is_some());
        assert_eq!(table.len(), 2);
        let foreign = JobId {
            slot: 99,
            generation: 0,
        };
        assert!(table.get(foreign).is_none() && table.remove(foreign).is_none());
    }
}
