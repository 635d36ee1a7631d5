//! Medians and ratios of timing samples.
//!
//! Rounds interleave the contenders, so two samples of the same round ran
//! under the same machine load. A ratio is therefore taken per round and the
//! median of those per-round ratios is reported: noise from other processes
//! on the machine hits both sides of a round and cancels out.

/// The median of `samples` (the mean of the middle two for an even count),
/// or `None` if there are none. NaNs sort last.
pub fn median(samples: &[f64]) -> Option<f64> {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// The `q`-quantile (`0.0..=1.0`, nearest rank) of `samples`.
pub fn quantile(samples: &[f64], q: f64) -> Option<f64> {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let last = sorted.len().checked_sub(1)?;
    let rank = (q.clamp(0.0, 1.0) * last as f64).round() as usize;
    Some(sorted[rank])
}

/// `numerator / denominator`, or `None` unless both are finite and the
/// denominator is positive.
pub fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    let valid = numerator.is_finite() && denominator.is_finite() && denominator > 0.0;
    valid.then(|| numerator / denominator)
}

/// The median over rounds of `numerators[i] / denominators[i]` (samples
/// paired by round; unpaired tails are ignored).
pub fn median_ratio(numerators: &[f64], denominators: &[f64]) -> Option<f64> {
    let per_round: Vec<f64> = numerators
        .iter()
        .zip(denominators)
        .filter_map(|(&n, &d)| ratio(n, d))
        .collect();
    median(&per_round)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[7.0]), Some(7.0));
    }

    #[test]
    fn median_ignores_one_outlier() {
        assert_eq!(median(&[10.0, 11.0, 1e9, 12.0, 9.0]), Some(11.0));
    }

    #[test]
    fn quantile_nearest_rank() {
        let samples = [5.0, 1.0, 4.0, 2.0, 3.0];
        assert_eq!(quantile(&samples, 0.0), Some(1.0));
        assert_eq!(quantile(&samples, 0.5), Some(3.0));
        assert_eq!(quantile(&samples, 1.0), Some(5.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn ratio_rejects_zero_and_non_finite() {
        assert_eq!(ratio(3.0, 2.0), Some(1.5));
        assert_eq!(ratio(1.0, 0.0), None);
        assert_eq!(ratio(f64::NAN, 1.0), None);
        assert_eq!(ratio(1.0, f64::INFINITY), None);
    }

    #[test]
    fn median_ratio_pairs_rounds() {
        // Round 2 ran under load (both sides slow): its ratio is still 1.0.
        let weavekit = [10.0, 100.0, 12.0];
        let rayon = [10.0, 100.0, 6.0];
        assert_eq!(median_ratio(&weavekit, &rayon), Some(1.0));
        assert_eq!(median_ratio(&[1.0, 2.0, 3.0], &[1.0]), Some(1.0));
        assert_eq!(median_ratio(&[], &[]), None);
    }
}
