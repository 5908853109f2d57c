//! A latency histogram that many threads record into without a lock: fixed
//! bucket bounds (100 µs to 10 s, Prometheus style), atomic counts, sum,
//! smallest and largest value. [`LatencyHistogram::snapshot`] gives the
//! [`Histogram`] a metric carries.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in seconds; a last, unbounded bucket
/// (`+Inf`) follows. From a fast soft token (~0.1 ms) to a network HSM
/// timing out (seconds).
pub const LATENCY_BOUNDS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Recorded durations.
#[derive(Debug)]
pub struct LatencyHistogram {
    buckets: [AtomicU64; LATENCY_BOUNDS.len() + 1],
    sum_nanos: AtomicU64,
    min_nanos: AtomicU64,
    max_nanos: AtomicU64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
            min_nanos: AtomicU64::new(u64::MAX),
            max_nanos: AtomicU64::new(0),
        }
    }
}

/// A histogram's numbers at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Upper bounds in seconds ([`LATENCY_BOUNDS`]).
    pub bounds: &'static [f64],
    /// Observations per bucket (not cumulative); one more than `bounds`,
    /// the last being `+Inf`.
    pub counts: Vec<u64>,
    /// Observations.
    pub count: u64,
    /// Their sum, in seconds.
    pub sum: f64,
    /// The smallest, in seconds (0 when empty).
    pub min: f64,
    /// The largest, in seconds.
    pub max: f64,
}

impl LatencyHistogram {
    /// Records one duration.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = LATENCY_BOUNDS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BOUNDS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.min_nanos.fetch_min(nanos, Ordering::Relaxed);
        self.max_nanos.fetch_max(nanos, Ordering::Relaxed);
    }

    /// The numbers so far. Taken without a lock, so under load the sum may
    /// lag the buckets by the few observations in flight.
    pub fn snapshot(&self) -> Histogram {
        let secs = |n: u64| n as f64 / 1e9;
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        // The count is the buckets' sum, so `_count` always equals the
        // `+Inf` bucket even while observations are in flight.
        let count = counts.iter().sum();
        let min = self.min_nanos.load(Ordering::Relaxed);
        Histogram {
            bounds: &LATENCY_BOUNDS,
            counts,
            count,
            sum: secs(self.sum_nanos.load(Ordering::Relaxed)),
            min: if min == u64::MAX { 0.0 } else { secs(min) },
            max: secs(self.max_nanos.load(Ordering::Relaxed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_land_in_the_first_bucket_whose_bound_holds_them() {
        let h = LatencyHistogram::default();
        h.observe(Duration::from_micros(50));
        h.observe(Duration::from_micros(100));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(60));
        let s = h.snapshot();
        assert_eq!(s.count, 4);
        assert_eq!(s.counts[0], 2, "50 µs and exactly 100 µs");
        assert_eq!(s.counts[5], 1, "3 ms is in the 5 ms bucket");
        assert_eq!(s.counts[LATENCY_BOUNDS.len()], 1, "60 s is +Inf");
        assert_eq!(s.counts.iter().sum::<u64>(), 4);
        assert!((s.min - 50e-6).abs() < 1e-9 && (s.max - 60.0).abs() < 1e-9);
        assert!((s.sum - (60.0 + 0.003 + 0.00015)).abs() < 1e-6);
    }

    #[test]
    fn an_empty_histogram_reports_zeros() {
        let s = LatencyHistogram::default().snapshot();
        assert_eq!((s.count, s.min, s.max, s.sum), (0, 0.0, 0.0, 0.0));
    }
}
