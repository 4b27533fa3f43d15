//! `server.max_connections`: a counter of connected sockets, released when a socket is dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug)]
pub struct ConnectionLimit {
    max: usize,
    current: Arc<AtomicUsize>,
}

/// Holds one connection slot; kept in the socket's extensions so the slot frees itself whenever
/// the socket goes away, whatever the path (disconnect, rejected by a later middleware, timeout).
#[derive(Debug)]
pub struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Debug, thiserror::Error)]
#[error("Server is full: at most {max} connections")]
pub struct Full {
    max: usize,
}

impl ConnectionLimit {
    pub fn new(max: usize) -> Self {
        Self {
            max,
            current: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn try_acquire(&self) -> Result<Slot, Full> {
        self.current
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .map(|_| Slot(self.current.clone()))
            .map_err(|_| Full { max: self.max })
    }

    pub fn current(&self) -> usize {
        self.current.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_and_freed_on_drop() {
        let limit = ConnectionLimit::new(2);
        let a = limit.try_acquire().expect("first");
        let _b = limit.try_acquire().expect("second");
        assert!(limit.try_acquire().is_err());
        drop(a);
        assert_eq!(limit.current(), 1);
        assert!(limit.try_acquire().is_ok());
    }
}
