//! How idle actors wait for work without burning CPU or missing a wake-up.
//!
//! An actor that finds no work spins briefly (work often arrives within
//! microseconds, as when a callback chains the next job), then sleeps on a
//! condition variable. Publishing work wakes *one* sleeper; an actor that
//! picks up a job with items still unclaimed wakes the next one, and so on.
//! The master thus pays for at most one wake-up system call per dispatch,
//! and each further actor is woken from a core that is already busy, so the
//! scheduler places it on one that is idle.
//!
//! The master waits for finished jobs with a second [`Sleep`], roles
//! swapped: actors publish (a finished job) and notify; the master idles.
//!
//! # The protocol
//!
//! `epoch` counts publications of work (new jobs, and shutdown).
//!
//! - Waiter: read `epoch` as `seen` *before* searching for work. If the
//!   search finds nothing, lock `lock`, increment `sleepers`, fence, re-read
//!   `epoch`; if it still equals `seen`, wait on `wake` (which atomically
//!   releases `lock`), else leave.
//! - Publisher: publish the work (under the queue's mutex), increment
//!   `epoch`, fence, then read `sleepers`; if it is non-zero, take and
//!   release `lock`, then notify one waiter.
//!
//! # Why no wake-up is lost
//!
//! The claim: when work is published, some waiter that did not see it in
//! its search either sees the new epoch or is woken. (One is enough: it runs
//! the job, and wakes the next while items remain.)
//!
//! Suppose a waiter goes to sleep although work was published that it did
//! not see in its search. The publication came after the search's queue
//! lock, so the publisher's `epoch` increment came after the waiter read
//! `seen`. The waiter's `sleepers` increment and second `epoch` read, and
//! the publisher's `epoch` increment and `sleepers` read, are separated by
//! `SeqCst` fences, so they fall in one total order:
//!
//! - if the publisher's increment precedes the waiter's second read, the
//!   waiter sees `epoch != seen` and does not sleep;
//! - otherwise the waiter's `sleepers` increment precedes the publisher's
//!   read, so the publisher sees a sleeper and takes `lock`. Every waiter
//!   counted in `sleepers` holds `lock` from its increment until it waits,
//!   so once the publisher has held `lock`, each counted waiter is either
//!   waiting, and stays so until notified (the notification that follows
//!   wakes one of them), or already leaving (and will look for work again).
//!
//! Shutdown sets `terminating` under `lock`, bumps `epoch` and notifies all;
//! a sleeper checks `terminating` before every wait. Spurious wake-ups only
//! cost another look at the queue. The loom tests (`sleep::loom_tests`, and
//! `tests/loom.rs` through the whole dispatcher) check this under every
//! interleaving.

use crate::sync::{self, fence, lock, AtomicUsize, Condvar, Mutex, Ordering};

/// How a waiter spins before it sleeps.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Spin {
    /// Actors: pause hints, then yields, for tens of microseconds: long
    /// enough to catch a chained job without a wake-up.
    Yielding,
    /// The master: pause hints only, for a few microseconds, enough to catch
    /// a small job's completion. It must leave its core soon: a core kept
    /// busy by a spinning master is one the scheduler will not move a
    /// just-woken actor to, and the actors then share the other core.
    Brief,
}

impl Spin {
    fn rounds(self) -> u32 {
        match (self, cfg!(loom)) {
            (_, true) => 1,
            (Spin::Yielding, false) => 64,
            (Spin::Brief, false) => 7,
        }
    }

    fn step(self, round: u32) {
        match self {
            Spin::Yielding => backoff(round),
            Spin::Brief => {
                for _ in 0..(1 << round.min(10)) {
                    sync::spin();
                }
            }
        }
    }
}

/// The idle/wake state shared by the master and the actors.
pub(crate) struct Sleep {
    spin: Spin,
    epoch: AtomicUsize,
    sleepers: AtomicUsize,
    /// Guards waiting; holds whether the pool is shutting down.
    lock: Mutex<bool>,
    wake: Condvar,
}

impl Sleep {
    pub(crate) fn new(spin: Spin) -> Sleep {
        Sleep {
            spin,
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

    /// Work was just published: wake one sleeper, if any. (For the actors'
    /// `Sleep`, the actor that picks the work up wakes the next one while
    /// items are left; see [`Sleep`'s module docs](self).)
    pub(crate) fn notify(&self) {
        // ORDERING: the increment, a SeqCst fence, then the read of
        // `sleepers`; pairs with the fence between the sleeper's increment
        // and its re-read of `epoch` (see the module docs).
        self.epoch.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            // Taking `lock` once is what orders this notification after any
            // counted sleeper's wait (module docs); notifying after letting
            // go spares the woken actor from blocking on `lock` again.
            drop(lock(&self.lock));
            self.wake.notify_one();
        }
    }

    /// Actor: no work was found since `seen`. Spins, then sleeps, until the
    /// epoch moves. Returns false when the pool is shutting down.
    pub(crate) fn idle(&self, seen: usize) -> bool {
        if self.spin_until_moved(seen) {
            return true;
        }
        self.sleep(seen)
    }

    /// As [`Sleep::idle`], but gives up at `deadline` (master only: it is
    /// never told to terminate).
    #[cfg(not(loom))]
    pub(crate) fn idle_until(&self, seen: usize, deadline: std::time::Instant) {
        if self.spin_until_moved(seen) {
            return;
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

    /// Spins while the epoch is `seen`; true if it moved.
    fn spin_until_moved(&self, seen: usize) -> bool {
        for round in 0..self.spin.rounds() {
            if self.epoch() != seen {
                return true;
            }
            self.spin.step(round);
        }
        false
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
            let sleep = Arc::new(Sleep::new(super::Spin::Yielding));
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
            let sleep = Arc::new(Sleep::new(super::Spin::Yielding));
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
        let sleep = Sleep::new(super::Spin::Yielding);
        let seen = sleep.epoch();
        sleep.notify();
        assert!(sleep.idle(seen));
    }

    #[test]
    fn a_sleeper_is_woken_by_notify_and_by_terminate() {
        let sleep = Arc::new(Sleep::new(super::Spin::Yielding));
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
        let sleep = Sleep::new(super::Spin::Yielding);
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(5);
        sleep.idle_until(sleep.epoch(), deadline);
        assert!(std::time::Instant::now() >= deadline);
    }
}
