//! The live event log the admin page shows: recorded only while someone watches (so it costs
//! nothing otherwise), the last entries kept for a new watcher. Arguments are never logged, and
//! every entry is bounded ([`MAX_TEXT`] bytes of event name and of detail), so the log holds at
//! most [`KEEP`] small entries whatever clients and handlers send.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;
use tokio::sync::broadcast;
use utoipa::ToSchema;

/// Entries kept for a watcher that arrives.
const KEEP: usize = 200;
/// Bytes of an event name or a detail kept in an entry.
pub const MAX_TEXT: usize = 512;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LogEntry {
    /// Unix milliseconds.
    pub time: u64,
    pub namespace: String,
    pub socket: String,
    pub event: String,
    /// `handled` (by a handler), `strapi` (by a socket listener in Strapi), `built-in`,
    /// `rejected` (by a handler or Strapi's `socket.use`), `failed` or `no handler`.
    pub outcome: String,
    /// Why, for `rejected` and `failed`.
    pub detail: Option<String>,
}

#[derive(Debug)]
pub struct EventLog {
    sender: broadcast::Sender<LogEntry>,
    recent: Mutex<VecDeque<LogEntry>>,
}

impl Default for EventLog {
    fn default() -> Self {
        Self::new()
    }
}

impl EventLog {
    pub fn new() -> Self {
        Self {
            sender: broadcast::channel(KEEP).0,
            recent: Mutex::new(VecDeque::with_capacity(KEEP)),
        }
    }

    /// Is anyone watching? Callers skip building entries when not.
    pub fn watched(&self) -> bool {
        self.sender.receiver_count() > 0
    }

    pub fn record(&self, mut entry: LogEntry) {
        entry.event = crate::model::shorten(&entry.event, MAX_TEXT);
        entry.detail = entry.detail.map(|d| crate::model::shorten(&d, MAX_TEXT));
        if let Ok(mut recent) = self.recent.lock() {
            if recent.len() == KEEP {
                recent.pop_front();
            }
            recent.push_back(entry.clone());
        }
        let _ = self.sender.send(entry);
    }

    /// The kept entries and a receiver for the next ones.
    pub fn watch(&self) -> (Vec<LogEntry>, broadcast::Receiver<LogEntry>) {
        let receiver = self.sender.subscribe();
        let recent = self
            .recent
            .lock()
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default();
        (recent, receiver)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u64) -> LogEntry {
        LogEntry {
            time: n,
            namespace: "/".into(),
            socket: "s".into(),
            event: "e".into(),
            outcome: "handled".into(),
            detail: None,
        }
    }

    #[tokio::test]
    async fn keeps_the_last_entries_and_streams_new_ones() {
        let log = EventLog::new();
        assert!(!log.watched());
        for n in 0..(KEEP as u64 + 5) {
            log.record(entry(n));
        }
        let (recent, mut rx) = log.watch();
        assert!(log.watched());
        assert_eq!(recent.len(), KEEP);
        assert_eq!(recent[0].time, 5);
        log.record(entry(999));
        assert_eq!(rx.recv().await.expect("entry").time, 999);
    }

    #[tokio::test]
    async fn entries_are_bounded_in_bytes() {
        let log = EventLog::new();
        let (_, mut rx) = log.watch();
        log.record(LogEntry {
            event: "e".repeat(900_000),
            detail: Some("d".repeat(900_000)),
            ..entry(1)
        });
        let kept = rx.recv().await.expect("entry");
        assert_eq!(kept.event.len(), MAX_TEXT + "…".len());
        assert_eq!(kept.detail.map(|d| d.len()), Some(MAX_TEXT + "…".len()));
    }
}
