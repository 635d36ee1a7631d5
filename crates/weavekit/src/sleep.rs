//! How idle threads wait for work without burning CPU or missing a
//! wake-up, and which of them a publication wakes.
//!
//! An actor that finds no work spins briefly (work often arrives within
//! microseconds, as when a callback chains the next job), then sleeps in
//! its own *slot* (a mutex, a flag and a condition variable). The master
//! waits for finished jobs with a second [`Sleep`] of one slot, roles
//! swapped: actors publish (a finished job) and notify; the master idles.
//!
//! # Which actors a dispatch wakes
//!
//! A dispatch wakes every sleeping actor itself (no chain of actors waking
//! each other: each link would add a wake-up latency), except those pinned
//! ([`crate::placement`]) to the CPU the master is running on. Those are
//! *held*: woken when the master next polls or blocks in `wait` /
//! `wait_timeout`, or when a `JobFuture` is polled unfinished (its caller
//! is about to park in its executor) ([`Sleep::release_held`]), which
//! frees that CPU for them, or by a woken actor that claims a range and sees items left (the old
//! chained wake-up, kept for held actors only: it comes one wake-up latency
//! after the dispatch, when a master that waits is already waiting, and it
//! keeps a handler that waits for another item of its job from stalling).
//! Woken at dispatch, such an actor would preempt the master on its own
//! core (measured: `dispatch` held 2-5 ms in half the frames); never woken,
//! the job would run on one core fewer. An actor is held only when the same
//! publication woke another one, which searches the queue as soon as it
//! runs, so the work makes progress even if the master never polls again.
//! (An actor that is awake is not counted: it may be blocked inside a
//! handler.)
//!
//! Unpinned actors (one actor, one CPU, other targets, or
//! `Placement::Unpinned`) are never held: every sleeper is woken at dispatch.
//!
//! Releasing at a `JobFuture`'s pending poll matters on a virtual machine:
//! the actor on another, idle CPU is woken through that vCPU, which takes
//! tens of microseconds to come back, while the held actor wakes on the
//! caller's own CPU the moment the caller parks. Measured (2 vCPUs, a
//! 64-item job awaited after the pool fell asleep): 75-78 µs without the
//! release, 26-28 µs with it. Releasing wakes more actors, never fewer, so
//! the argument below does not depend on who calls it.
//!
//! # How long an idle actor spins
//!
//! An idle actor spins ([`Spin::Yielding`]: pause hints, then
//! `sched_yield`) before it sleeps, except the ones pinned to the CPU of
//! the last *caller* that made a `JobFuture` (the master, or a thread
//! dispatching through a `Remote`; not an actor): those spin only the
//! pause-hint rounds, about a microsecond, then sleep. That caller parks in
//! its async executor on that CPU until the future resolves, and a
//! spinning actor there takes the CPU from it just when it is woken:
//! `sched_yield` does not hand the CPU to a thread the scheduler considers
//! to have had its share (Linux's EEVDF), so the two split the core.
//! Measured (`perf sched`, 2 vCPUs, a 64-item job awaited back to back):
//! the awakened master waited 26 µs (median) for the CPU on every await
//! while that actor spun, never asleep; with the short spin its await went
//! from 21-28 µs to about 8 µs (rayon's `spawn` + oneshot: 6.5 µs at
//! best). A master that `wait`s spins a little itself before it sleeps and
//! so is rarely woken; there the actor keeps its spin, which spares the
//! next dispatch a wake-up (a back-to-back tracked round trip lost 2-3 µs
//! when it was shortened for every caller). The spin is only a way to
//! catch work without a wake-up; how long it lasts is no part of the
//! protocol below (0 rounds is allowed).
//!
//! # The protocol
//!
//! `epoch` counts publications of work (new jobs, and shutdown);
//! `sleepers` counts threads between deciding to sleep and waking.
//!
//! - Waiter in slot `i`: read `epoch` as `seen` *before* searching for work.
//!   If the search finds nothing, lock slot `i`, increment `sleepers`, fence,
//!   re-read `epoch`; if it still equals `seen`, set the slot's `asleep`
//!   and wait on its condition variable (which atomically releases the
//!   lock) until `asleep` is cleared, else leave.
//! - Publisher: publish the work (under the queue's mutex), increment
//!   `epoch`, fence, then read `sleepers`; if it is non-zero, lock each slot
//!   in turn: an `asleep` slot is woken (flag cleared under the lock, then
//!   notified) or held (flag `held` set, still asleep).
//! - Release (master, before it blocks): lock each slot; a held slot still
//!   asleep is woken.
//!
//! # Why no wake-up is lost
//!
//! The claim: when work is published, every waiter that did not see it in
//! its search either sees the new epoch, or is woken, or is held while some
//! other actor is awake (and that actor searches the queue again before it
//! sleeps, by the same claim, so the work is done).
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
//!   read, so the publisher sees a sleeper and locks every slot, the
//!   waiter's among them. The waiter holds its slot's lock from its
//!   increment until it waits, so when the publisher holds that lock the
//!   waiter is either waiting with `asleep` set (the publisher wakes it or
//!   holds it), or already leaving (and will look for work again).
//!
//! A held waiter is not woken by this publication, so the claim needs
//! another waiter that is: holding is only done when the same publication
//! woke some other slot, and that waiter, once it runs, searches the queue
//! before anything else. (A slot found awake does not count: it is about
//! to search too, or running a handler that may block for as long as it
//! likes.) If no slot was woken, the held ones are woken at once.
//!
//! The flag, not the notification, is what a waiter waits on, so a
//! notification sent after the lock is released (to spare the woken thread
//! from blocking on it) or a spurious wake-up cannot confuse it: a waiter
//! leaves only once its flag is cleared, or the pool is terminating.
//!
//! Shutdown sets `terminating` in every slot under its lock, bumps `epoch`
//! and wakes every slot; a waiter checks `terminating` before it sleeps.
//! The loom tests (`sleep::loom_tests`, and `tests/loom.rs` through the
//! whole dispatcher) check this under every interleaving, holding included.

use crate::sync::{self, fence, lock, AtomicUsize, Condvar, Mutex, Ordering};

/// How a waiter spins before it sleeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spin {
    /// Actors: pause hints, then yields, for this many rounds (tens of
    /// microseconds at the default): long enough to catch a chained job
    /// without a wake-up. An actor pinned to the caller's CPU stops after
    /// the pause hints (module docs).
    Yielding(u32),
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
            (Spin::Yielding(rounds), false) => rounds,
            (Spin::Brief, false) => 7,
        }
    }

    fn step(self, round: u32) {
        match self {
            Spin::Yielding(_) => backoff(round),
            Spin::Brief => {
                for _ in 0..(1 << round.min(10)) {
                    sync::spin();
                }
            }
        }
    }
}

/// No CPU: the slot's thread is not pinned.
const UNPINNED: usize = usize::MAX;

/// One waiter's place to sleep.
struct Slot {
    state: Mutex<SlotState>,
    wake: Condvar,
    /// The CPU the slot's actor is pinned to, or [`UNPINNED`]. Not part of
    /// the protocol (it only chooses between waking and holding), so std's
    /// atomic even under loom.
    cpu: std::sync::atomic::AtomicUsize,
}

#[derive(Default)]
struct SlotState {
    /// Waiting for its flag to be cleared.
    asleep: bool,
    /// Asleep and left so by a publisher: to be woken by `release_held`.
    held: bool,
    /// The pool is shutting down.
    terminating: bool,
}

/// The idle/wake state shared by the master and the actors.
pub(crate) struct Sleep {
    spin: Spin,
    epoch: AtomicUsize,
    sleepers: AtomicUsize,
    slots: Box<[Slot]>,
    /// Whether some slot may be held (a hint that spares `release_held`
    /// from locking every slot when none is).
    any_held: std::sync::atomic::AtomicBool,
    /// The CPU of the last caller (a thread other than an actor) that made
    /// a `JobFuture`, or [`UNPINNED`]: how long a waiter pinned there spins
    /// (module docs). A hint, not part of the protocol.
    caller_cpu: std::sync::atomic::AtomicUsize,
}

impl Sleep {
    /// A `Sleep` with `slots` waiters (waiter `i` uses slot `i`), unpinned.
    #[cfg(test)]
    pub(crate) fn new(spin: Spin, slots: usize) -> Sleep {
        Sleep::try_new(spin, slots).expect("a test's slots fit in memory")
    }

    /// As `new`, or `None` if `slots` slots cannot be allocated.
    pub(crate) fn try_new(spin: Spin, slots: usize) -> Option<Sleep> {
        let mut all = Vec::new();
        all.try_reserve_exact(slots).ok()?;
        all.extend((0..slots).map(|_| Slot {
            state: Mutex::new(SlotState::default()),
            wake: Condvar::new(),
            cpu: std::sync::atomic::AtomicUsize::new(UNPINNED),
        }));
        Some(Sleep {
            spin,
            epoch: AtomicUsize::new(0),
            sleepers: AtomicUsize::new(0),
            slots: all.into_boxed_slice(),
            any_held: std::sync::atomic::AtomicBool::new(false),
            caller_cpu: std::sync::atomic::AtomicUsize::new(UNPINNED),
        })
    }

    /// Records that slot `slot`'s thread is pinned to `cpu` (called by that
    /// thread once pinned, before it reports ready).
    pub(crate) fn set_cpu(&self, slot: usize, cpu: usize) {
        if let Some(slot) = self.slots.get(slot) {
            // ORDERING: Relaxed; the readiness rendezvous (a mutex) orders
            // it before any dispatch reads it, and a stale read would only
            // wake an actor instead of holding it.
            slot.cpu.store(cpu, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Records the CPU of a caller (not an actor) that will await its work
    /// there: a waiter pinned there spins only briefly once idle (module
    /// docs).
    pub(crate) fn set_caller_cpu(&self, cpu: usize) {
        // ORDERING: Relaxed: a hint for the spin length only; a stale read
        // spins a waiter longer or shorter, never loses a wake-up.
        self.caller_cpu
            .store(cpu, std::sync::atomic::Ordering::Relaxed);
    }

    /// The caller CPU last recorded, [`UNPINNED`] if none.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn caller_cpu(&self) -> usize {
        // ORDERING: Relaxed: a test's read of a hint.
        self.caller_cpu.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Threads between deciding to sleep and waking.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn sleepers(&self) -> usize {
        self.sleepers.load(Ordering::SeqCst)
    }

    /// Whether slot `slot` is asleep and held.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn is_held(&self, slot: usize) -> bool {
        let state = lock(&self.slots[slot].state);
        state.asleep && state.held
    }

    /// How this `Sleep`'s waiters spin.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn spin(&self) -> Spin {
        self.spin
    }

    /// The epoch to pass to [`Sleep::idle`], read before searching for work.
    pub(crate) fn epoch(&self) -> usize {
        // ORDERING: SeqCst, one of the four accesses of the protocol (see
        // the module docs).
        self.epoch.load(Ordering::SeqCst)
    }

    /// Work was just published: wake every sleeper (see the module docs).
    pub(crate) fn notify(&self) {
        self.notify_near(None);
    }

    /// Work was just published by a thread running on `near`: wake every
    /// sleeper except those pinned to `near`, which are held while another
    /// actor runs (module docs).
    pub(crate) fn notify_near(&self, near: Option<usize>) {
        // ORDERING: the increment, a SeqCst fence, then the read of
        // `sleepers`; pairs with the fence between a sleeper's increment
        // and its re-read of `epoch` (see the module docs).
        self.epoch.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) == 0 {
            return;
        }
        let near = near.unwrap_or(UNPINNED);
        // First mark the sleepers to hold, so that an actor woken below
        // that passes the wake-up on ([`Sleep::release_held`]) sees them.
        let mut held = false;
        if near != UNPINNED {
            for slot in self.slots.iter() {
                // ORDERING: Relaxed, see `set_cpu`.
                if slot.cpu.load(std::sync::atomic::Ordering::Relaxed) == near {
                    let mut state = lock(&slot.state);
                    if state.asleep {
                        state.held = true;
                        held = true;
                    }
                }
            }
        }
        if held {
            // ORDERING: Relaxed: the slot locks taken below and by the
            // woken actor order it before that actor's `release_held`.
            self.any_held
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let mut woke = false;
        for slot in self.slots.iter() {
            let mut state = lock(&slot.state);
            // Awake (perhaps blocked inside a handler): not counted.
            if state.asleep && !state.held {
                state.asleep = false;
                drop(state);
                // After unlocking, so the woken thread does not block on
                // the lock; the flag is what it waits on (module docs).
                slot.wake.notify_one();
                woke = true;
            }
        }
        if held && !woke {
            // No other actor would run the work: wake the held ones now.
            self.wake_held();
        }
    }

    /// Wakes the actors held by earlier publications: called by the master
    /// as it polls or blocks (it leaves its CPU to them), and by an actor
    /// that claimed work with items left (passing the wake-up on, so a
    /// handler that waits for another item cannot stall on a held actor).
    pub(crate) fn release_held(&self) {
        // ORDERING: Relaxed: a hint (see `notify_near`).
        if self
            .any_held
            .swap(false, std::sync::atomic::Ordering::Relaxed)
        {
            self.wake_held();
        }
    }

    fn wake_held(&self) {
        for slot in self.slots.iter() {
            let mut state = lock(&slot.state);
            if state.held && state.asleep {
                state.asleep = false;
                state.held = false;
                drop(state);
                slot.wake.notify_one();
            }
        }
    }

    /// Waiter `slot`: no work was found since `seen`. Spins, then sleeps,
    /// until woken or the epoch moves. Returns false when the pool is
    /// shutting down.
    pub(crate) fn idle(&self, slot: usize, seen: usize) -> bool {
        if self.spin_until_moved(seen, self.spin_rounds(slot)) {
            return true;
        }
        self.sleep(slot, seen, None)
    }

    /// As [`Sleep::idle`], but gives up at `deadline` (master only: it is
    /// never told to terminate).
    #[cfg(not(loom))]
    pub(crate) fn idle_until(&self, slot: usize, seen: usize, deadline: std::time::Instant) {
        if !self.spin_until_moved(seen, self.spin.rounds()) {
            self.sleep(slot, seen, Some(deadline));
        }
    }

    /// The rounds waiter `slot` spins: only the pause-hint ones when it is
    /// pinned to the CPU of the last caller that made a `JobFuture`, the full
    /// count otherwise (module docs).
    fn spin_rounds(&self, slot: usize) -> u32 {
        let rounds = self.spin.rounds();
        let Some(slot) = self.slots.get(slot) else {
            return rounds;
        };
        // ORDERING: Relaxed: hints (see `set_cpu` and `set_caller_cpu`).
        let cpu = slot.cpu.load(std::sync::atomic::Ordering::Relaxed);
        let caller = self.caller_cpu.load(std::sync::atomic::Ordering::Relaxed);
        if cpu != UNPINNED && cpu == caller {
            rounds.min(PAUSE_ROUNDS)
        } else {
            rounds
        }
    }

    /// Spins while the epoch is `seen`, for at most `rounds` rounds; true
    /// if it moved.
    fn spin_until_moved(&self, seen: usize, rounds: u32) -> bool {
        for round in 0..rounds {
            if self.epoch() != seen {
                return true;
            }
            self.spin.step(round);
        }
        false
    }

    fn sleep(&self, slot: usize, seen: usize, deadline: Option<std::time::Instant>) -> bool {
        let Some(slot) = self.slots.get(slot) else {
            // Not a waiter of this `Sleep`: a crate bug; never sleep.
            return true;
        };
        let mut state = lock(&slot.state);
        if state.terminating {
            return false;
        }
        // ORDERING: the increment, a SeqCst fence, then the re-read of
        // `epoch`; pairs with the fence in `notify_near` (module docs).
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if self.epoch() == seen {
            state.asleep = true;
            while state.asleep && !state.terminating {
                state = match deadline {
                    None => sync::wait(&slot.wake, state),
                    #[cfg(not(loom))]
                    Some(deadline) => {
                        let now = std::time::Instant::now();
                        if now >= deadline {
                            break;
                        }
                        match slot.wake.wait_timeout(state, deadline - now) {
                            Ok((state, _)) => state,
                            Err(poisoned) => poisoned.into_inner().0,
                        }
                    }
                    #[cfg(loom)]
                    Some(_) => sync::wait(&slot.wake, state),
                };
            }
            state.asleep = false;
            state.held = false;
        }
        // ORDERING: SeqCst like the increment (module docs).
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
        !state.terminating
    }

    /// Master: tells every waiter to exit once it is idle.
    pub(crate) fn terminate(&self) {
        for slot in self.slots.iter() {
            let mut state = lock(&slot.state);
            state.terminating = true;
            state.asleep = false;
            drop(state);
            slot.wake.notify_one();
        }
        // ORDERING: SeqCst like `notify_near`; the flag itself is read
        // under each slot's lock, so a spinning actor sees the new epoch
        // and a sleeping one was woken above.
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }
}

/// The first rounds of [`backoff`], which spin with pause hints (about a
/// microsecond in all); the later ones yield the CPU.
const PAUSE_ROUNDS: u32 = 6;

/// Waits a little longer each round: CPU pause hints first, then yields.
pub(crate) fn backoff(round: u32) {
    if round < PAUSE_ROUNDS {
        for _ in 0..(1 << round) {
            sync::spin();
        }
    } else {
        sync::yield_now();
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::{Sleep, Spin};
    use crate::sync::{lock, thread, Arc, AtomicUsize, Mutex, Ordering};

    /// An actor that finds no work while the master publishes some either
    /// sees the new epoch or is woken: it never sleeps through the work.
    #[test]
    fn no_lost_wakeup() {
        loom::model(|| {
            let sleep = Arc::new(Sleep::new(Spin::Yielding(1), 1));
            let work = Arc::new(AtomicUsize::new(0));
            let actor = {
                let (sleep, work) = (Arc::clone(&sleep), Arc::clone(&work));
                thread::spawn(move || loop {
                    let seen = sleep.epoch();
                    if work.load(Ordering::Acquire) == 1 {
                        return;
                    }
                    assert!(sleep.idle(0, seen), "not terminating");
                })
            };
            work.store(1, Ordering::Release);
            sleep.notify();
            actor.join().unwrap();
        });
    }

    /// Two actors, the first pinned to the publisher's CPU and so held; one
    /// item. Whatever each actor was doing when the item came, it is run,
    /// whether or not the master releases the held actor (`release`), and
    /// the master, waiting on its own one-slot `Sleep` as the dispatcher
    /// does, learns of it. (Preemptions bounded: three threads and four
    /// condition variables are too many for an exhaustive search.)
    fn held_actor_model(release: bool) {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(2);
        builder.check(move || {
            let sleep = Arc::new(Sleep::new(Spin::Yielding(1), 2));
            let finished = Arc::new(Sleep::new(Spin::Brief, 1));
            sleep.set_cpu(0, 0);
            sleep.set_cpu(1, 1);
            // Items left to claim (a queue under a mutex, as the pool's),
            // and items run.
            let left = Arc::new(Mutex::new(0));
            let done = Arc::new(AtomicUsize::new(0));
            let actors: Vec<_> = (0..2)
                .map(|slot| {
                    let (sleep, finished) = (Arc::clone(&sleep), Arc::clone(&finished));
                    let (left, done) = (Arc::clone(&left), Arc::clone(&done));
                    thread::spawn(move || loop {
                        let seen = sleep.epoch();
                        let claimed = std::mem::take(&mut *lock(&left));
                        if claimed == 1 {
                            done.store(1, Ordering::Release);
                            finished.notify();
                            continue;
                        }
                        if !sleep.idle(slot, seen) {
                            return;
                        }
                    })
                })
                .collect();
            *lock(&left) = 1;
            sleep.notify_near(Some(0));
            if release {
                sleep.release_held();
            }
            loop {
                let seen = finished.epoch();
                if done.load(Ordering::Acquire) == 1 {
                    break;
                }
                finished.idle(0, seen);
            }
            sleep.terminate();
            for actor in actors {
                actor.join().unwrap();
            }
        });
    }

    #[test]
    fn a_held_actor_never_stalls_the_work() {
        held_actor_model(false);
    }

    #[test]
    fn a_released_actor_never_stalls_the_work() {
        held_actor_model(true);
    }

    /// `terminate` reaches an actor whether it is spinning or asleep.
    #[test]
    fn terminate_reaches_sleepers() {
        loom::model(|| {
            let sleep = Arc::new(Sleep::new(Spin::Yielding(1), 1));
            let actor = {
                let sleep = Arc::clone(&sleep);
                thread::spawn(move || while sleep.idle(0, sleep.epoch()) {})
            };
            sleep.terminate();
            actor.join().unwrap();
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{Sleep, Spin};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    #[test]
    fn idle_returns_at_once_when_the_epoch_moved() {
        let sleep = Sleep::new(Spin::Yielding(64), 1);
        let seen = sleep.epoch();
        sleep.notify();
        assert!(sleep.idle(0, seen));
    }

    #[test]
    fn a_sleeper_is_woken_by_notify_and_by_terminate() {
        let sleep = Arc::new(Sleep::new(Spin::Yielding(64), 1));
        let seen = sleep.epoch();
        let waiter = {
            let sleep = Arc::clone(&sleep);
            std::thread::spawn(move || {
                let woken = sleep.idle(0, seen);
                // Only terminate ends this loop.
                while sleep.idle(0, sleep.epoch()) {}
                woken
            })
        };
        sleep.notify();
        sleep.terminate();
        assert!(waiter.join().unwrap());
    }

    /// Sleeps in `slot` until woken, in a thread; the flag says when it woke.
    fn sleeper(sleep: &Arc<Sleep>, slot: usize) -> (std::thread::JoinHandle<()>, Arc<AtomicBool>) {
        let woke = Arc::new(AtomicBool::new(false));
        let (sleep, flag) = (Arc::clone(sleep), Arc::clone(&woke));
        let seen = sleep.epoch();
        let thread = std::thread::spawn(move || {
            sleep.idle(slot, seen);
            flag.store(true, Ordering::SeqCst);
            while sleep.idle(slot, sleep.epoch()) {}
        });
        (thread, woke)
    }

    /// Waits until `slots` waiters are asleep.
    fn until_asleep(sleep: &Sleep, slots: usize) {
        while sleep.sleepers.load(Ordering::SeqCst) < slots {
            std::thread::yield_now();
        }
    }

    #[test]
    fn the_actor_on_the_publishers_cpu_is_held_until_release() {
        let sleep = Arc::new(Sleep::new(Spin::Yielding(0), 2));
        sleep.set_cpu(0, 5);
        sleep.set_cpu(1, 6);
        let (near, near_woke) = sleeper(&sleep, 0);
        let (far, far_woke) = sleeper(&sleep, 1);
        until_asleep(&sleep, 2);
        sleep.notify_near(Some(5));
        while !far_woke.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        {
            let state = super::lock(&sleep.slots[0].state);
            assert!(state.asleep && state.held, "slot 0 is held");
        }
        assert!(!near_woke.load(Ordering::SeqCst));
        sleep.release_held();
        while !near_woke.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        sleep.terminate();
        near.join().unwrap();
        far.join().unwrap();
    }

    #[test]
    fn an_actor_is_held_only_if_another_was_woken() {
        // Slot 1's actor is awake (it could be blocked in a handler): it
        // does not count, so slot 0 is woken although it is on CPU 3.
        let sleep = Arc::new(Sleep::new(Spin::Yielding(0), 2));
        sleep.set_cpu(0, 3);
        sleep.set_cpu(1, 4);
        let (thread, woke) = sleeper(&sleep, 0);
        until_asleep(&sleep, 1);
        sleep.notify_near(Some(3));
        while !woke.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        sleep.terminate();
        thread.join().unwrap();
    }

    #[test]
    fn a_waiter_on_the_callers_cpu_spins_only_the_pause_rounds() {
        let sleep = Sleep::new(Spin::Yielding(64), 3);
        sleep.set_cpu(0, 5);
        sleep.set_cpu(1, 6);
        // Slot 2 is unpinned. No caller yet: everyone spins in full.
        assert_eq!([0, 1, 2].map(|slot| sleep.spin_rounds(slot)), [64, 64, 64]);
        sleep.set_caller_cpu(5);
        assert_eq!(sleep.caller_cpu(), 5);
        let short = super::PAUSE_ROUNDS;
        assert_eq!(
            [0, 1, 2].map(|slot| sleep.spin_rounds(slot)),
            [short, 64, 64]
        );
        // The caller moved: so does the short spin.
        sleep.set_caller_cpu(6);
        assert_eq!(
            [0, 1, 2].map(|slot| sleep.spin_rounds(slot)),
            [64, short, 64]
        );
        // Never longer than the configured spin.
        let brief = Sleep::new(Spin::Yielding(2), 1);
        brief.set_cpu(0, 6);
        brief.set_caller_cpu(6);
        assert_eq!(brief.spin_rounds(0), 2);
    }

    #[test]
    fn idle_until_gives_up_at_the_deadline() {
        let sleep = Sleep::new(Spin::Yielding(64), 1);
        let deadline = Instant::now() + Duration::from_millis(5);
        sleep.idle_until(0, sleep.epoch(), deadline);
        assert!(Instant::now() >= deadline);
    }
}
