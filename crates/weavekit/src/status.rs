//! What each actor is running, for
//! [`Dispatcher::destroy_timeout`](crate::Dispatcher::destroy_timeout)'s
//! report, and its stop flag.
//!
//! Each actor owns one slot, on its own cache line: the job it took (set
//! when it switches jobs) and the batch it runs (three plain stores per
//! batch, no read-modify-write), so the bookkeeping costs next to nothing on
//! the hot path. The master reads the slots only when a deadline has passed.
//!
//! The report is a snapshot: an actor that has claimed a batch but not yet
//! marked it as begun is not in it. Nothing waits on the snapshot (no actor
//! is joined after a deadline), so a late batch only goes unnamed.
//!
//! `destroy_timeout` is not part of the loom models, so under loom the board
//! is empty and every method does nothing.

#[cfg(not(loom))]
pub(crate) use board::Board;
#[cfg(loom)]
pub(crate) use none::Board;

#[cfg(not(loom))]
mod board {
    use std::ops::Range;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use crate::error::RunningBatch;
    use crate::sync::lock;

    /// Every actor's slot, and the stop flag.
    pub(crate) struct Board {
        slots: Box<[Slot]>,
        stopping: AtomicBool,
    }

    /// One actor's current job and batch.
    #[derive(Default)]
    #[repr(align(128))]
    struct Slot {
        /// The name of the job the actor took last.
        job: Mutex<Option<Arc<str>>>,
        start: AtomicUsize,
        end: AtomicUsize,
        /// Whether a batch is running; published after `start`/`end`.
        busy: AtomicBool,
    }

    impl Board {
        pub(crate) fn new(actors: usize) -> Board {
            Board {
                slots: (0..actors).map(|_| Slot::default()).collect(),
                stopping: AtomicBool::new(false),
            }
        }

        /// Actor: it took `job`.
        pub(crate) fn switch(&self, actor: usize, job: &Arc<str>) {
            *lock(&self.slots[actor].job) = Some(Arc::clone(job));
        }

        /// Actor: it starts running `range` of its job.
        pub(crate) fn begin(&self, actor: usize, range: &Range<usize>) {
            let slot = &self.slots[actor];
            // ORDERING: the bounds are published by the Release store of
            // `busy` below, which the master's Acquire load pairs with.
            slot.start.store(range.start, Ordering::Relaxed);
            slot.end.store(range.end, Ordering::Relaxed);
            // ORDERING: Release publishes the bounds above.
            slot.busy.store(true, Ordering::Release);
        }

        /// Actor: its batch returned.
        pub(crate) fn end(&self, actor: usize) {
            // ORDERING: only a flag for the snapshot; nothing is published.
            self.slots[actor].busy.store(false, Ordering::Relaxed);
        }

        /// Master: no actor may claim another batch.
        pub(crate) fn stop(&self) {
            // ORDERING: a flag polled by actors between batches; they see it
            // soon enough, and nothing else is published through it.
            self.stopping.store(true, Ordering::Relaxed);
        }

        /// Actor: whether to stop claiming.
        pub(crate) fn stopping(&self) -> bool {
            // ORDERING: see `stop`.
            self.stopping.load(Ordering::Relaxed)
        }

        /// Master: the batches running now, lowest actor first.
        pub(crate) fn running(&self) -> Vec<RunningBatch> {
            let mut running = Vec::new();
            for (actor, slot) in self.slots.iter().enumerate() {
                // ORDERING: Acquire pairs with `begin`'s Release, so the
                // bounds read next are those of the batch marked busy (a
                // stuck actor stores nothing more).
                if !slot.busy.load(Ordering::Acquire) {
                    continue;
                }
                // ORDERING: made visible by the Acquire above.
                let items = slot.start.load(Ordering::Relaxed)..slot.end.load(Ordering::Relaxed);
                let job = lock(&slot.job)
                    .as_deref()
                    .map_or_else(String::new, str::to_owned);
                running.push(RunningBatch { actor, job, items });
            }
            running
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_snapshot_names_busy_actors_only() {
            let board = Board::new(3);
            let spin: Arc<str> = Arc::from("spin");
            board.switch(0, &spin);
            board.switch(2, &spin);
            board.begin(0, &(4..8));
            board.begin(2, &(9..10));
            board.end(0);
            assert_eq!(
                board.running(),
                vec![RunningBatch {
                    actor: 2,
                    job: "spin".to_owned(),
                    items: 9..10
                }]
            );
            assert!(!board.stopping());
            board.stop();
            assert!(board.stopping());
        }
    }
}

#[cfg(loom)]
mod none {
    use std::ops::Range;

    use crate::sync::Arc;

    /// Nothing is recorded under loom.
    pub(crate) struct Board;

    impl Board {
        pub(crate) fn new(_actors: usize) -> Board {
            Board
        }

        pub(crate) fn switch(&self, _actor: usize, _job: &Arc<str>) {}

        pub(crate) fn begin(&self, _actor: usize, _range: &Range<usize>) {}

        pub(crate) fn end(&self, _actor: usize) {}

        pub(crate) fn stopping(&self) -> bool {
            false
        }
    }
}
