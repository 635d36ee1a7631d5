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

/// The best possible `static/weavekit` time ratio on the uneven workload:
/// the static split's slowest range (one contiguous range per actor) over a
/// perfect balance of the same work (`total / actors`), assuming one core
/// per actor and zero overhead. For a cost linear in the id it is about
/// `(2 * actors - 1) / actors`: 1.5 with two actors.
pub fn static_split_bound(items: usize, actors: usize) -> f64 {
    let actors = actors.max(1);
    let batch = items.div_ceil(actors).max(1);
    let cost = |range: std::ops::Range<usize>| range.map(uneven_steps).sum::<usize>() as f64;
    let slowest = (0..items)
        .step_by(batch)
        .map(|start| cost(start..(start + batch).min(items)))
        .fold(0.0, f64::max);
    let balanced = cost(0..items) / actors as f64;
    slowest / balanced
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_split_bound_is_about_2a_minus_1_over_a() {
        assert!((static_split_bound(10_000, 2) - 1.5).abs() < 0.01);
        assert!((static_split_bound(10_000, 4) - 1.75).abs() < 0.01);
        assert!((static_split_bound(10_000, 1) - 1.0).abs() < 1e-9);
    }

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
