//! The two synthetic item kernels: `fine` (a few nanoseconds, a hash of the
//! id) and `uneven` (cost proportional to the id).
//!
//! `fine` measures scheduling overhead per item: with a million of them, any
//! per-item cost in the dispatcher dominates. `uneven` measures load
//! balancing: a static split hands the last actor most of the work.

/// One step of the SplitMix64 generator: a fast, well-mixed 64-bit hash.
#[inline]
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The fine-grained item: a hash of its id (a few nanoseconds).
#[inline]
pub fn fine(id: usize) -> u64 {
    splitmix64(id as u64)
}

/// Hash steps of the uneven item `id`: proportional to the id.
#[inline]
pub fn uneven_steps(id: usize) -> usize {
    id / 4 + 1
}

/// The uneven item: a chain of `uneven_steps(id)` dependent hash steps, so
/// its cost grows linearly with its id and cannot be optimised away.
#[inline]
pub fn uneven(id: usize) -> u64 {
    let mut x = id as u64;
    for _ in 0..uneven_steps(id) {
        x = splitmix64(x);
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_reference_values() {
        // First outputs of SplitMix64 seeded with 0 (state advanced by the
        // golden gamma before mixing), as published with the algorithm.
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn uneven_cost_grows_with_id() {
        assert!(uneven_steps(4000) > 100 * uneven_steps(10));
        assert_eq!(uneven(0), splitmix64(0));
    }

    #[test]
    fn fine_is_deterministic_and_spreads() {
        assert_eq!(fine(42), fine(42));
        assert_ne!(fine(1), fine(2));
    }
}
