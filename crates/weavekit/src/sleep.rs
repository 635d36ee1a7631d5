//! How idle actors wait for work without burning CPU or missing a wake-up.
//!
//! An actor that finds no work spins briefly (work often arrives within
//! microseconds, as when a callback chains the next job), then sleeps on a
//! condition variable. The master wakes sleepers after publishing work.
//!
//! The master waits for finished jobs with a second [`Sleep`], roles
//! swapped: actors publish (a finished job) and notify; the master idles.
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
//! `epoch` increment and `sleepers` read, are all `SeqCst` and separated by `SeqCst` fences, so they
//! fall in one total order:
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

use crate::sync::{self, fence, lock, AtomicUsize, Condvar, Mutex, Ordering};

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
        // ORDERING: the increment, a SeqCst fence, then the read of
        // `sleepers`; pairs with the fence between the sleeper's increment
        // and its re-read of `epoch` (see the module docs).
        self.epoch.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
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

    /// As [`Sleep::idle`], but gives up at `deadline` (master only: it is
    /// never told to terminate).
    #[cfg(not(loom))]
    pub(crate) fn idle_until(&self, seen: usize, deadline: std::time::Instant) {
        for round in 0..SPIN_ROUNDS {
            if self.epoch() != seen {
                return;
            }
            backoff(round);
        }
        let mut guard = lock(&self.lock);
        // ORDERING: as in `sleep`.
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        while self.epoch() == seen {
            let now = std::time::Instant::now();
            if now >= deadline {
                break;
            }
            guard = match self.wake.wait_timeout(guard, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
    }

    fn sleep(&self, seen: usize) -> bool {
        let mut terminating = lock(&self.lock);
        loop {
            if *terminating {
                return false;
            }
            // ORDERING: the increment, a SeqCst fence, then the re-read of
            // `epoch`; pairs with the fence in `notify` (module docs).
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            fence(Ordering::SeqCst);
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

#[cfg(all(test, loom))]
mod loom_tests {
    use super::Sleep;
    use crate::sync::{thread, Arc, AtomicUsize, Ordering};

    /// An actor that finds no work while the master publishes some either
    /// sees the new epoch or is woken: it never sleeps through the work.
    #[test]
    fn no_lost_wakeup() {
        loom::model(|| {
            let sleep = Arc::new(Sleep::new());
            let work = Arc::new(AtomicUsize::new(0));
            let actor = {
                let (sleep, work) = (Arc::clone(&sleep), Arc::clone(&work));
                thread::spawn(move || loop {
                    let seen = sleep.epoch();
                    if work.load(Ordering::Acquire) == 1 {
                        return;
                    }
                    assert!(sleep.idle(seen), "not terminating");
                })
            };
            work.store(1, Ordering::Release);
            sleep.notify();
            actor.join().unwrap();
        });
    }

    /// `terminate` reaches an actor whether it is spinning or asleep.
    #[test]
    fn terminate_reaches_sleepers() {
        loom::model(|| {
            let sleep = Arc::new(Sleep::new());
            let actor = {
                let sleep = Arc::clone(&sleep);
                thread::spawn(move || while sleep.idle(sleep.epoch()) {})
            };
            sleep.terminate();
            actor.join().unwrap();
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::Sleep;
    use std::sync::Arc;

    #[test]
    fn idle_returns_at_once_when_the_epoch_moved() {
        let sleep = Sleep::new();
        let seen = sleep.epoch();
        sleep.notify();
        assert!(sleep.idle(seen));
    }

    #[test]
    fn a_sleeper_is_woken_by_notify_and_by_terminate() {
        let sleep = Arc::new(Sleep::new());
        let seen = sleep.epoch();
        let waiter = {
            let sleep = Arc::clone(&sleep);
            std::thread::spawn(move || {
                let woken = sleep.idle(seen);
                // Only terminate ends this loop.
                while sleep.idle(sleep.epoch()) {}
                woken
            })
        };
        sleep.notify();
        sleep.terminate();
        assert!(waiter.join().unwrap());
    }

    #[test]
    fn idle_until_gives_up_at_the_deadline() {
        let sleep = Sleep::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(5);
        sleep.idle_until(sleep.epoch(), deadline);
        assert!(std::time::Instant::now() >= deadline);
    }
}
