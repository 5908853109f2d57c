//! Latency samples and the percentile math over them.
//!
//! Samples are kept exactly in a `Vec<Duration>` and sorted once per run instead of using a
//! histogram crate: a run is bounded (at most one hour per phase), so memory is bounded by
//! the op rate times the duration (16 bytes per op, ~16 MB for 100k ops/s over 10 s), and
//! exact percentiles make small runs comparable without bucket-rounding caveats.

use std::time::Duration;

/// Latency distribution of the successful operations of one run.
#[derive(Debug, Clone, Default)]
pub(crate) struct Latencies {
    sorted: Vec<Duration>,
}

impl Latencies {
    /// Takes ownership of unsorted samples and sorts them.
    pub(crate) fn from_samples(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        Self { sorted: samples }
    }

    /// Number of samples.
    pub(crate) fn len(&self) -> usize {
        self.sorted.len()
    }

    /// Nearest-rank percentile: the smallest sample such that at least `p`% of all samples
    /// are less than or equal to it. `p` is clamped to 0..=100; `None` when there are no samples.
    pub(crate) fn percentile(&self, p: f64) -> Option<Duration> {
        let n = self.sorted.len();
        if n == 0 {
            return None;
        }
        let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 100.0) };
        // rank in 1..=n; the float is at most n, so the cast cannot truncate a real value.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "0 <= p/100*n <= n, and n fits comfortably in f64's 53-bit mantissa"
        )]
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        self.sorted.get(rank.clamp(1, n) - 1).copied()
    }

    /// Largest sample.
    pub(crate) fn max(&self) -> Option<Duration> {
        self.sorted.last().copied()
    }
}

/// Formats a latency for people: microseconds below one millisecond, else milliseconds.
pub(crate) fn human(d: Option<Duration>) -> String {
    match d {
        None => "-".to_owned(),
        Some(d) if d < Duration::from_millis(1) => format!("{}µs", d.as_micros()),
        Some(d) => format!("{:.2}ms", d.as_secs_f64() * 1000.0),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Latencies {
        Latencies::from_samples(v.iter().map(|&m| Duration::from_millis(m)).collect())
    }

    #[test]
    fn no_samples_have_no_percentiles() {
        let l = ms(&[]);
        assert_eq!(l.percentile(50.0), None);
        assert_eq!(l.max(), None);
        assert_eq!(human(l.percentile(99.0)), "-");
    }

    #[test]
    fn one_sample_is_every_percentile() {
        let l = ms(&[7]);
        for p in [0.0, 1.0, 50.0, 99.0, 100.0] {
            assert_eq!(l.percentile(p), Some(Duration::from_millis(7)));
        }
    }

    #[test]
    fn percentiles_use_nearest_rank_on_sorted_samples() {
        // 1..=100 shuffled: p50 is the 50th value, p99 the 99th, p100 the max.
        let mut v: Vec<u64> = (1..=100).rev().collect();
        v.swap(3, 70);
        let l = ms(&v);
        assert_eq!(l.percentile(50.0), Some(Duration::from_millis(50)));
        assert_eq!(l.percentile(99.0), Some(Duration::from_millis(99)));
        assert_eq!(l.percentile(100.0), Some(Duration::from_millis(100)));
        assert_eq!(l.percentile(0.0), Some(Duration::from_millis(1)));
        assert_eq!(l.max(), Some(Duration::from_millis(100)));
        assert_eq!(l.len(), 100);
    }

    #[test]
    fn percentile_rounds_rank_up() {
        // n = 10: p99 → rank ceil(9.9) = 10 → the largest; p50 → rank 5; p51 → rank ceil(5.1) = 6.
        let l = ms(&[10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(l.percentile(99.0), Some(Duration::from_millis(10)));
        assert_eq!(l.percentile(50.0), Some(Duration::from_millis(5)));
        assert_eq!(l.percentile(51.0), Some(Duration::from_millis(6)));
    }

    #[test]
    fn out_of_range_percentiles_are_clamped() {
        let l = ms(&[1, 2, 3]);
        assert_eq!(l.percentile(-5.0), Some(Duration::from_millis(1)));
        assert_eq!(l.percentile(250.0), Some(Duration::from_millis(3)));
        assert_eq!(l.percentile(f64::NAN), Some(Duration::from_millis(1)));
    }

    #[test]
    fn human_format_switches_from_micros_to_millis_at_one_millisecond() {
        assert_eq!(human(Some(Duration::from_micros(999))), "999µs");
        assert_eq!(human(Some(Duration::from_micros(1000))), "1.00ms");
        assert_eq!(human(Some(Duration::from_micros(12_345))), "12.35ms");
    }
}
