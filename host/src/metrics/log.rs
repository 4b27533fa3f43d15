//! The live event log the admin page shows: recorded only while someone watches (so it costs
//! nothing otherwise), the last entries kept for a new watcher. Arguments are never logged.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;
use tokio::sync::broadcast;
use utoipa::ToSchema;

/// Entries kept for a watcher that arrives.
const KEEP: usize = 200;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LogEntry {
    /// Unix milliseconds.
    pub time: u64,
    pub namespace: String,
    pub socket: String,
    pub event: String,
    /// `handled`, `built-in`, `rejected`, `failed` or `no handler`.
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

    pub fn record(&self, entry: LogEntry) {
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
}
