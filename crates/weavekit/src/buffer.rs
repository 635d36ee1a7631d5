//! A job's result buffer, shared by every kind that keeps results (tracked,
//! [`JobFuture`](crate::JobFuture), [`then`](crate::JobSpec::then)).
//!
//! The buffer is a `Vec<R>` of length 0 and capacity ≥ the item count,
//! split at dispatch into two parts that live apart:
//!
//! - [`Slots`], the start pointer, read by every actor: each writes the
//!   results of the ranges it claimed through it, and nobody reads a slot
//!   until the job is done.
//! - [`Buffer`], the `Vec` itself, kept wherever the kind delivers from
//!   (the master, or the mutex of a future's or `then`'s state) and taken
//!   once, after completion, by [`JobBase::outcome`](crate::job::JobBase::outcome),
//!   which sets its length or drops the slots a failed job wrote.
//!
//! Until then the length stays 0, so a job dropped unfinished (only when
//! its dispatcher was leaked) frees the storage by dropping its `Buffer`,
//! without reading a slot of unknown state.

use crate::kernel::Output;

/// Where the actors write a job's results: the start of its [`Buffer`].
pub(crate) struct Slots<R> {
    start: *mut R,
}

// SAFETY: a `Slots` is only a pointer; moving it to another thread moves no
// `R`. Writing through it is `unsafe` and done only by an actor on a range
// it claimed (the `JobKind` contract), and the values written (`R: Send`)
// are read by whoever takes the `Buffer` after completion.
unsafe impl<R: Send> Send for Slots<R> {}
// SAFETY: `&Slots` only hands out the pointer (`output`); see `Send` for
// the writes made through it: claims are disjoint, so no slot is written by
// two threads, and completion orders every write before the read.
unsafe impl<R: Send> Sync for Slots<R> {}

impl<R> Slots<R> {
    /// Where a handler returning `R` writes item `i`'s result: slot `i`.
    pub(crate) fn output(&self) -> Output {
        Output::Slots(self.start.cast())
    }
}

/// The owner of a job's result buffer until the job is done: a `Vec` of
/// length 0 whose slots the actors fill through [`Slots`].
pub(crate) struct Buffer<R> {
    vec: Vec<R>,
}

impl<R> Buffer<R> {
    /// Splits `vec` (length 0, capacity ≥ `total`) into the owner and the
    /// actors' pointer.
    pub(crate) fn new(mut vec: Vec<R>, total: usize) -> (Buffer<R>, Slots<R>) {
        debug_assert!(vec.capacity() >= total && vec.is_empty());
        // `as_mut_ptr` makes no reference to the storage, so the pointer
        // stays valid while the `Vec` moves.
        let start = vec.as_mut_ptr();
        (Buffer { vec }, Slots { start })
    }

    /// The `Vec`, still of length 0: the caller decides which slots hold a
    /// result.
    pub(crate) fn into_vec(self) -> Vec<R> {
        self.vec
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Counts its drops in the static it names.
    struct Counted(&'static AtomicUsize);

    impl Drop for Counted {
        fn drop(&mut self) {
            // ORDERING: a counter read by this thread only.
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Writes `value` to slot `index` the way a handler does.
    ///
    /// # Safety
    ///
    /// `index` is below the buffer's capacity and its slot uninitialised.
    unsafe fn write<R>(slots: &Slots<R>, index: usize, value: R) {
        let Output::Slots(start) = slots.output() else {
            panic!("a result buffer always has slots");
        };
        // SAFETY: forwarded from the caller.
        unsafe { start.cast::<R>().add(index).write(value) };
    }

    #[test]
    fn an_unfinished_buffer_frees_its_storage_without_dropping_a_slot() {
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        let (buffer, slots) = Buffer::new(Vec::with_capacity(2), 2);
        // SAFETY: slot 1 is within the capacity and not yet written.
        unsafe { write(&slots, 1, Counted(&DROPS)) };
        drop(buffer);
        assert_eq!(DROPS.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn the_slots_stay_valid_while_the_buffer_moves() {
        let (buffer, slots) = Buffer::new(Vec::with_capacity(3), 3);
        let moved = Some(Box::new(buffer));
        for index in 0..3 {
            // SAFETY: each slot is within the capacity and written once.
            unsafe { write(&slots, index, index as u64 * 10) };
        }
        let mut vec = moved.map(|buffer| buffer.into_vec()).unwrap();
        assert!(vec.is_empty(), "the length stays 0 until the outcome");
        // SAFETY: slots 0..3 were written above.
        unsafe { vec.set_len(3) };
        assert_eq!(vec, [0, 10, 20]);
    }
}
