//! A counting global allocator, for the "allocations per dispatch" figure.
//!
//! The `weave` binary installs [`CountingAllocator`] as its
//! `#[global_allocator]`. It counts nothing until [`count`] switches it on,
//! so `weave run` and the timed parts of `weave bench` pay one relaxed load
//! per allocation and nothing else. While switched on it counts every
//! allocation of every thread (actors allocate on their own threads), so
//! measure with no other work running.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// How many [`count`] calls are running (counting is on while non-zero).
static SESSIONS: AtomicUsize = AtomicUsize::new(0);
/// Allocations seen while counting was on.
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

/// The system allocator, counting allocations and reallocations while a
/// [`count`] call is running.
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingAllocator;

impl CountingAllocator {
    /// Notes one allocation if counting is on.
    #[inline]
    fn note(&self) {
        // ORDERING: both are plain statistics; `count` reads them after the
        // measured closure returned, and every thread that allocated inside
        // it has synchronised with the caller (joined, or completed a job the
        // caller waited on), which orders these relaxed updates before.
        if SESSIONS.load(Ordering::Relaxed) != 0 {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees hold; counting touches only atomics.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.note();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.note();
        // SAFETY: the caller upholds `GlobalAlloc::alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` (every allocation goes through
        // it) with this `layout`, as the caller guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.note();
        // SAFETY: as for `dealloc`; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Runs `f` with counting on and returns its result and the number of
/// allocations (and reallocations) made meanwhile by all threads.
///
/// Returns 0 allocations if [`CountingAllocator`] is not the global
/// allocator: check [`is_installed`] first.
pub fn count<T>(f: impl FnOnce() -> T) -> (T, u64) {
    SESSIONS.fetch_add(1, Ordering::Relaxed);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let result = f();
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    SESSIONS.fetch_sub(1, Ordering::Relaxed);
    (result, after - before)
}

/// Whether [`CountingAllocator`] is this program's global allocator.
pub fn is_installed() -> bool {
    let ((), allocations) = count(|| drop(black_box(Box::new(black_box(1u64)))));
    allocations > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[global_allocator]
    static ALLOCATOR: CountingAllocator = CountingAllocator;

    #[test]
    fn counts_allocations_while_on() {
        assert!(is_installed());
        let (v, allocations) = count(|| black_box(vec![1u8; 16]));
        assert_eq!(v.len(), 16);
        // Other tests may allocate concurrently: at least ours is counted.
        assert!(allocations >= 1);
    }
}
