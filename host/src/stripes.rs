//! Per-thread stripes for what every call on every core writes (a handler's idle instances,
//! call counts, duration histograms). Each thread writes the stripe of its own number, on a
//! cache line of its own, so cores calling one handler do not take a line from each other at
//! every event; readers (the API, `/metrics`, the admin page) add the stripes up.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;

/// This thread's number, given on first use: which stripe it writes.
pub fn thread_slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SLOT: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    SLOT.with(|slot| *slot)
}

/// One `T` per core, rounded up to a power of two (threads past that share one, by number).
pub struct Striped<T> {
    stripes: Box<[CachePadded<T>]>,
    /// `stripes.len() - 1`: a mask picks a thread's stripe (a division per pick cost ~10 ns,
    /// and a call picks several).
    mask: usize,
}

impl<T> Striped<T> {
    pub fn new(make: impl FnMut() -> T) -> Self {
        let count = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .next_power_of_two();
        Self {
            stripes: std::iter::repeat_with(make)
                .take(count)
                .map(CachePadded::new)
                .collect(),
            mask: count - 1,
        }
    }

    /// This thread's stripe.
    pub fn mine(&self) -> &T {
        &self.stripes[thread_slot() & self.mask]
    }

    /// The stripes, this thread's first: where a taker looks after its own.
    pub fn from_mine(&self) -> impl Iterator<Item = &T> {
        let start = thread_slot() & self.mask;
        let (before, after) = self.stripes.split_at(start);
        after.iter().chain(before).map(|s| &**s)
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.stripes.iter().map(|s| &**s)
    }
}

impl<T: Default> Default for Striped<T> {
    fn default() -> Self {
        Self::new(T::default)
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Striped<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A count that many threads add to: [`Counter::get`] is the sum of the stripes.
#[derive(Debug, Default)]
pub struct Counter(Striped<AtomicU64>);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.mine().fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0
            .iter()
            .fold(0, |sum, n| sum.wrapping_add(n.load(Ordering::Relaxed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_from_many_threads_loses_nothing() {
        let count = Counter::default();
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| (0..10_000).for_each(|_| count.add(1)));
            }
        });
        assert_eq!(count.get(), 80_000);
    }

    #[test]
    fn from_mine_visits_every_stripe_once_starting_with_mine() {
        let stripes = Striped::new(|| AtomicU64::new(0));
        let mut seen: Vec<*const AtomicU64> = stripes.from_mine().map(|s| s as *const _).collect();
        assert_eq!(seen[0], stripes.mine() as *const _);
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), stripes.iter().count());
    }
}
