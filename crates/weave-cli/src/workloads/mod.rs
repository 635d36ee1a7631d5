//! The benchmark workloads, shared by `weave bench`, the criterion benches
//! and the examples.
//!
//! Every workload is a pure function of the item id (plus read-only
//! parameters). That is what makes the comparison fair and checkable: serial
//! code, rayon and weavekit compute exactly the same results, and a
//! [`checksum`] over the result buffer proves that a contender did all of the
//! work, in the right slots, before its time counts.

pub mod kernels;
pub mod sweep;
pub mod worker;

/// Items of the sweep workload (the original Weave benchmark).
pub const SWEEP_ITEMS: usize = 10_000;
/// Items of the fine-grained workload.
pub const FINE_ITEMS: usize = 1_000_000;
/// Items of the uneven workload (cost grows with the id).
pub const UNEVEN_ITEMS: usize = 10_000;
/// Items of one round-trip job.
pub const ROUND_TRIP_ITEMS: usize = 64;
/// Items of the job whose `dispatch` call is timed on the master.
pub const BLOCKED_ITEMS: usize = 1_000_000;

/// Items per job of each workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Sizes {
    /// Sweep items.
    pub sweep: usize,
    /// Fine items.
    pub fine: usize,
    /// Uneven items.
    pub uneven: usize,
    /// Items of a round-trip job.
    pub round_trip: usize,
    /// Items of the job whose `dispatch` is timed.
    pub blocked: usize,
}

impl Sizes {
    /// The benchmark's sizes (the constants above).
    pub const BENCH: Sizes = Sizes {
        sweep: SWEEP_ITEMS,
        fine: FINE_ITEMS,
        uneven: UNEVEN_ITEMS,
        round_trip: ROUND_TRIP_ITEMS,
        blocked: BLOCKED_ITEMS,
    };

    /// Small sizes for tests (debug builds, every contender in well under
    /// a second).
    pub const TINY: Sizes = Sizes {
        sweep: 300,
        fine: 10_000,
        uneven: 600,
        round_trip: ROUND_TRIP_ITEMS,
        blocked: 10_000,
    };
}

/// An order-sensitive checksum of a result buffer.
///
/// Each value is mixed with its index, so a result in the wrong slot, a
/// missing item or a duplicated one changes the sum.
pub fn checksum<R: Copy + Into<u64>>(buf: &[R]) -> u64 {
    buf.iter().enumerate().fold(0u64, |acc, (i, &value)| {
        let mixed = kernels::splitmix64(value.into() ^ (i as u64).rotate_left(32));
        acc.wrapping_add(mixed)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_depends_on_order_and_length() {
        let a = checksum(&[1u64, 2, 3]);
        assert_eq!(a, checksum(&[1u64, 2, 3]));
        assert_ne!(a, checksum(&[2u64, 1, 3]));
        assert_ne!(a, checksum(&[1u64, 2]));
        assert_ne!(a, checksum(&[1u64, 2, 3, 0]));
    }

    #[test]
    fn checksum_of_u32_matches_widened_u64() {
        assert_eq!(checksum(&[7u32, 9]), checksum(&[7u64, 9]));
    }
}
