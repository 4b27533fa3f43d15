//! Events per second over a sliding window (not a lifetime average): one counter per second
//! for the last minute, in a ring.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

const SLOTS: usize = 60;

#[derive(Debug)]
pub struct EventRate {
    start: Instant,
    /// For each slot: the second it counts (`u64::MAX` never used) and its count.
    seconds: [AtomicU64; SLOTS],
    counts: [AtomicU64; SLOTS],
    total: AtomicU64,
}

impl Default for EventRate {
    fn default() -> Self {
        Self::new()
    }
}

impl EventRate {
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            seconds: std::array::from_fn(|_| AtomicU64::new(u64::MAX)),
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            total: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_secs()
    }

    pub fn record(&self) {
        self.record_at(self.now());
    }

    fn record_at(&self, second: u64) {
        let slot = (second % SLOTS as u64) as usize;
        let seen = self.seconds[slot].load(Ordering::Acquire);
        if seen != second
            && self.seconds[slot]
                .compare_exchange(seen, second, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            // This call moved the slot to a new second: restart its count. (A racing increment
            // for the new second may be lost; a rate display can afford that.)
            self.counts[slot].store(0, Ordering::Release);
        }
        self.counts[slot].fetch_add(1, Ordering::AcqRel);
        self.total.fetch_add(1, Ordering::Relaxed);
    }

    /// Average per second over the last `window` complete seconds (at most 59).
    pub fn per_second(&self, window: u64) -> f64 {
        self.per_second_at(self.now(), window)
    }

    fn per_second_at(&self, now: u64, window: u64) -> f64 {
        let window = window.clamp(1, SLOTS as u64 - 1);
        let sum: u64 = (1..=window)
            .filter_map(|back| now.checked_sub(back))
            .map(|second| {
                let slot = (second % SLOTS as u64) as usize;
                if self.seconds[slot].load(Ordering::Acquire) == second {
                    self.counts[slot].load(Ordering::Acquire)
                } else {
                    0
                }
            })
            .sum();
        sum as f64 / window as f64
    }

    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_only_the_window() {
        let rate = EventRate::new();
        for _ in 0..50 {
            rate.record_at(100);
        }
        for _ in 0..10 {
            rate.record_at(105);
        }
        assert_eq!(rate.per_second_at(106, 10), 6.0);
        assert_eq!(rate.per_second_at(106, 1), 10.0);
        assert_eq!(rate.per_second_at(120, 10), 0.0, "old seconds fall out");
        // Slot 40 is reused a minute later: the old count is not added.
        rate.record_at(160);
        assert_eq!(rate.per_second_at(161, 1), 1.0);
        assert_eq!(rate.total(), 61);
    }
}
