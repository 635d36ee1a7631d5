//! The synchronisation primitives the crate is built on: std's, or loom's
//! when compiled with `--cfg loom` so the model checker can explore every
//! interleaving of the completion and shutdown protocols.
//!
//! Nothing else in the crate names `std::sync` or `std::thread` for shared
//! state; everything goes through this module.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};
#[cfg(loom)]
pub(crate) use loom::thread;

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
/// Always std's: loom's `Arc` cannot hold trait objects, and reference
/// counting is not part of the protocols the models check.
pub(crate) use std::sync::Arc;
#[cfg(not(loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::thread;

/// Locks `mutex`, ignoring poisoning.
///
/// The crate never runs user code while holding one of its own locks, so a
/// poisoned lock can only come from a bug in this crate, and the data it
/// guards is still consistent: every critical section is a single push, pop
/// or flag store.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Waits on `condvar`, ignoring poisoning (see [`lock`]).
pub(crate) fn wait<'a, T>(condvar: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    condvar
        .wait(guard)
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One step of a busy-wait. Under loom a spin is a yield, so the model
/// checker can schedule the thread being waited for.
pub(crate) fn spin() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}

/// Gives the rest of this time slice to another thread.
pub(crate) fn yield_now() {
    thread::yield_now();
}
