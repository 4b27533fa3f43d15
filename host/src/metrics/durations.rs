//! A lock-free histogram of durations for percentiles in the API and the admin page (Prometheus
//! gets its own histogram). Buckets split each power of two of nanoseconds into four, so a
//! percentile is within about 19% of the truth, from 1 ns to about 18 minutes. Each thread
//! counts in its own stripe (every call on every core records one).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::stripes::Striped;

const SUB: usize = 4;
const POWERS: usize = 40;

#[derive(Debug)]
pub struct Durations {
    buckets: Striped<[AtomicU64; POWERS * SUB]>,
}

impl Default for Durations {
    fn default() -> Self {
        Self {
            buckets: Striped::new(|| std::array::from_fn(|_| AtomicU64::new(0))),
        }
    }
}

fn bucket(ns: u64) -> usize {
    let ns = ns.max(1);
    let power = 63 - ns.leading_zeros() as usize;
    // The two bits below the top one choose the quarter of the power of two.
    let quarter = if power >= 2 {
        ((ns >> (power - 2)) & 0b11) as usize
    } else {
        0
    };
    (power * SUB + quarter).min(POWERS * SUB - 1)
}

/// The upper edge of a bucket, in ns.
fn upper(index: usize) -> u64 {
    let (power, quarter) = (index / SUB, index % SUB);
    let base = 1u64 << power;
    if power < 2 {
        // Too small to split in quarters: the bucket is the whole power of two.
        return base * 2;
    }
    base + (base / SUB as u64) * (quarter as u64 + 1)
}

impl Durations {
    pub fn record(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.buckets.mine()[bucket(ns)].fetch_add(1, Ordering::Relaxed);
    }

    /// The `q` quantile (0..=1), or `None` before the first sample.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let mut counts = vec![0u64; POWERS * SUB];
        for stripe in self.buckets.iter() {
            for (count, bucket) in counts.iter_mut().zip(stripe) {
                *count += bucket.load(Ordering::Relaxed);
            }
        }
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(Duration::from_nanos(upper(i)));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_close() {
        let d = Durations::default();
        assert_eq!(d.quantile(0.5), None);
        for us in 1..=100u64 {
            d.record(Duration::from_micros(us));
        }
        let p50 = d.quantile(0.5).expect("p50").as_micros() as f64;
        let p99 = d.quantile(0.99).expect("p99").as_micros() as f64;
        assert!((50.0..=60.0).contains(&p50), "p50 {p50}");
        assert!((99.0..=118.0).contains(&p99), "p99 {p99}");
    }

    #[test]
    fn buckets_cover_the_range() {
        assert_eq!(bucket(0), 0);
        assert!(bucket(u64::MAX) < POWERS * SUB);
        for ns in [1u64, 3, 1_000, 123_456, 10_000_000] {
            assert!(upper(bucket(ns)) >= ns, "{ns}");
        }
    }
}
