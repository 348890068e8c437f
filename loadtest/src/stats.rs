//! The report's arithmetic: nearest-rank percentiles, summaries, percentiles per time window and log-spaced
//! histogram buckets, over timed samples (seconds since the run started, value in milliseconds).

/// One measurement at a moment of the run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Seconds since the run started.
    pub at: f64,
    /// Milliseconds.
    pub value: f64,
}

/// The `p`th percentile (0 < p ≤ 100) of ascending `sorted` by nearest rank: the smallest value with at least
/// `p`% of the samples at or below it. `None` for no samples.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (sorted.len() as f64 * p / 100.0).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn sorted_values(samples: &[Sample]) -> Vec<f64> {
    let mut values: Vec<f64> = samples.iter().map(|s| s.value).collect();
    values.sort_by(f64::total_cmp);
    values
}

/// Count, percentiles, mean and maximum of a measure.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Summary {
    pub count: usize,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Summary {
    pub fn of(samples: &[Sample]) -> Self {
        let sorted = sorted_values(samples);
        let at = |p| percentile(&sorted, p).unwrap_or(0.0);
        Self {
            count: sorted.len(),
            p50: at(50.0),
            p90: at(90.0),
            p95: at(95.0),
            p99: at(99.0),
            max: sorted.last().copied().unwrap_or(0.0),
            mean: if sorted.is_empty() { 0.0 } else { sorted.iter().sum::<f64>() / sorted.len() as f64 },
        }
    }
}

/// Percentiles of the samples that fall in one window of the run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    /// The window's start, seconds since the run started.
    pub start: f64,
    pub count: usize,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
}

/// Percentiles per window of `width` seconds, for the windows that hold samples, in time order.
pub fn windows(samples: &[Sample], width: f64) -> Vec<Window> {
    let mut buckets: std::collections::BTreeMap<i64, Vec<Sample>> = std::collections::BTreeMap::new();
    for sample in samples {
        buckets.entry((sample.at / width).floor() as i64).or_default().push(*sample);
    }
    buckets
        .into_iter()
        .map(|(index, samples)| {
            let summary = Summary::of(&samples);
            Window {
                start: index as f64 * width,
                count: summary.count,
                p50: summary.p50,
                p95: summary.p95,
                p99: summary.p99,
            }
        })
        .collect()
}

/// One histogram bar: samples with `low <= value < high`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    pub low: f64,
    pub high: f64,
    pub count: usize,
}

/// Buckets `per_decade` to a decade (edges at powers of ten split evenly in log space), from the decade of the
/// smallest positive value to that of the largest. Values at or below zero go to the first bucket.
pub fn log_buckets(samples: &[Sample], per_decade: u32) -> Vec<Bucket> {
    let positive = samples.iter().map(|s| s.value).filter(|v| *v > 0.0);
    let (Some(min), Some(max)) = (positive.clone().reduce(f64::min), positive.reduce(f64::max)) else {
        return Vec::new();
    };
    let step = 1.0 / f64::from(per_decade);
    let first = (min.log10() / step).floor() as i64;
    let last = (max.log10() / step).floor() as i64;
    let mut buckets: Vec<Bucket> = (first..=last)
        .map(|i| Bucket { low: 10f64.powf(i as f64 * step), high: 10f64.powf((i + 1) as f64 * step), count: 0 })
        .collect();
    let last_index = buckets.len() - 1;
    for value in samples.iter().map(|s| s.value) {
        let index = if value > 0.0 { ((value.log10() / step).floor() as i64 - first).max(0) as usize } else { 0 };
        buckets[index.min(last_index)].count += 1;
    }
    buckets
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn samples(values: &[f64]) -> Vec<Sample> {
        values.iter().enumerate().map(|(i, &value)| Sample { at: i as f64, value }).collect()
    }

    #[rstest]
    #[case(&[], 50.0, None)]
    #[case(&[7.0], 1.0, Some(7.0))]
    #[case(&[7.0], 100.0, Some(7.0))]
    #[case(&[1.0, 2.0, 3.0, 4.0], 50.0, Some(2.0))]
    #[case(&[1.0, 2.0, 3.0, 4.0], 51.0, Some(3.0))]
    #[case(&[1.0, 2.0, 3.0, 4.0], 75.0, Some(3.0))]
    #[case(&[1.0, 2.0, 3.0, 4.0], 100.0, Some(4.0))]
    fn percentiles_take_the_nearest_rank(#[case] sorted: &[f64], #[case] p: f64, #[case] expected: Option<f64>) {
        assert_eq!(percentile(sorted, p), expected);
    }

    #[test]
    fn a_summary_of_one_to_a_hundred() {
        let values: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let summary = Summary::of(&samples(&values));
        assert_eq!(summary, Summary { count: 100, p50: 50.0, p90: 90.0, p95: 95.0, p99: 99.0, max: 100.0, mean: 50.5 });
        assert_eq!(Summary::of(&[]), Summary::default());
    }

    #[test]
    fn windows_hold_their_own_samples_in_time_order() {
        let timed = [(12.5, 4.0), (0.5, 1.0), (3.0, 3.0), (14.9, 2.0)].map(|(at, value)| Sample { at, value });
        let windows = windows(&timed, 5.0);
        assert_eq!(windows.len(), 2, "the empty window 5..10 is left out");
        assert_eq!((windows[0].start, windows[0].count, windows[0].p50, windows[0].p99), (0.0, 2, 1.0, 3.0));
        assert_eq!((windows[1].start, windows[1].count, windows[1].p50, windows[1].p99), (10.0, 2, 2.0, 4.0));
    }

    #[test]
    fn log_buckets_split_decades_and_count_every_sample() {
        let buckets = log_buckets(&samples(&[1.0, 1.5, 9.9, 10.0, 99.0, 0.0]), 2);
        let edges: Vec<(f64, f64)> = buckets.iter().map(|b| (b.low, b.high)).collect();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert_eq!(edges.len(), 4);
        assert!(close(edges[0].0, 1.0) && close(edges[1].0, 10f64.sqrt()) && close(edges[3].1, 100.0), "{edges:?}");
        assert_eq!(buckets.iter().map(|b| b.count).collect::<Vec<_>>(), vec![3, 1, 1, 1]);
        assert!(log_buckets(&samples(&[0.0]), 2).is_empty());
    }
}
