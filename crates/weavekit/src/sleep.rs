//! How idle actors wait for work without burning CPU or missing a wake-up.
//!
//! An actor that finds no work spins briefly (work often arrives within
//! microseconds, as when a callback chains the next job), then sleeps on a
//! condition variable. The master wakes sleepers after publishing work.
//!
//! # The protocol
//!
//! `epoch` counts publications of work (new jobs, and shutdown).
//!
//! - Actor: read `epoch` as `seen` *before* searching the queue. If the
//!   search finds nothing, lock `lock`, increment `sleepers`, re-read
//!   `epoch`; if it still equals `seen`, wait on `wake` (which atomically
//!   releases `lock`), else leave.
//! - Master: push the job (under the queue's mutex), increment `epoch`, then
//!   read `sleepers`; if it is non-zero, lock `lock` and notify.
//!
//! # Why no wake-up is lost
//!
//! Suppose an actor goes to sleep although a job was published that it did
//! not see in its search. The push came after the search's queue lock, so
//! the master's `epoch` increment came after the actor read `seen`. The
//! actor's `sleepers` increment and second `epoch` read, and the master's
//! `epoch` increment and `sleepers` read, are all `SeqCst`, so they fall in
//! one total order:
//!
//! - if the master's increment precedes the actor's second read, the actor
//!   sees `epoch != seen` and does not sleep;
//! - otherwise the actor's `sleepers` increment precedes the master's read,
//!   so the master sees a sleeper, and takes `lock` to notify. The actor has
//!   held `lock` since before its increment and releases it only by starting
//!   to wait, so the notification comes after the actor waits, and wakes it.
//!
//! Either way the actor sees the job. Shutdown bumps `epoch` the same way,
//! and also sets `terminating` under `lock`, which a sleeper checks before
//! every wait. Spurious wake-ups only cost another look at the queue.
//! `tests/loom.rs` checks the protocol under every interleaving.

use crate::sync::{self, lock, AtomicUsize, Condvar, Mutex, Ordering};

/// Idle spins before an actor sleeps: long enough to catch a chained job,
/// short enough not to steal a core from the master for long.
#[cfg(not(loom))]
const SPIN_ROUNDS: u32 = 64;
#[cfg(loom)]
const SPIN_ROUNDS: u32 = 1;

/// The idle/wake state shared by the master and the actors.
pub(crate) struct Sleep {
    epoch: AtomicUsize,
    sleepers: AtomicUsize,
    /// Guards waiting; holds whether the pool is shutting down.
    lock: Mutex<bool>,
    wake: Condvar,
}

impl Sleep {
    pub(crate) fn new() -> Sleep {
        Sleep {
            epoch: AtomicUsize::new(0),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(false),
            wake: Condvar::new(),
        }
    }

    /// Actor: the epoch to pass to [`Sleep::idle`], read before searching
    /// for work.
    pub(crate) fn epoch(&self) -> usize {
        // ORDERING: SeqCst, one of the four accesses of the protocol (see
        // the module docs).
        self.epoch.load(Ordering::SeqCst)
    }

    /// Master: work was just published; wake sleeping actors.
    pub(crate) fn notify(&self) {
        // ORDERING: SeqCst pairs with the actor's increment of `sleepers`
        // and re-read of `epoch` (see the module docs).
        self.epoch.fetch_add(1, Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = lock(&self.lock);
            self.wake.notify_all();
        }
    }

    /// Actor: no work was found since `seen`. Spins, then sleeps, until the
    /// epoch moves. Returns false when the pool is shutting down.
    pub(crate) fn idle(&self, seen: usize) -> bool {
        for round in 0..SPIN_ROUNDS {
            if self.epoch() != seen {
                return true;
            }
            backoff(round);
        }
        self.sleep(seen)
    }

    fn sleep(&self, seen: usize) -> bool {
        let mut terminating = lock(&self.lock);
        loop {
            if *terminating {
                return false;
            }
            // ORDERING: SeqCst, see the module docs.
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            if self.epoch() != seen {
                self.sleepers.fetch_sub(1, Ordering::SeqCst);
                return true;
            }
            terminating = sync::wait(&self.wake, terminating);
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
            if !*terminating && self.epoch() != seen {
                return true;
            }
        }
    }

    /// Master: tells every actor to exit once it is idle.
    pub(crate) fn terminate(&self) {
        let mut terminating = lock(&self.lock);
        *terminating = true;
        // ORDERING: SeqCst like `notify`; the flag itself is read under
        // `lock`, so a spinning actor sees the new epoch and a sleeping one
        // is notified after it waits.
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.wake.notify_all();
    }
}

/// Waits a little longer each round: CPU pause hints first, then yields.
pub(crate) fn backoff(round: u32) {
    if round < 6 {
        for _ in 0..(1 << round) {
            sync::spin();
        }
    } else {
        sync::yield_now();
    }
}
