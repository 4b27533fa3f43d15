//! The in-process store: one map per space behind a mutex, each with the bytes it holds;
//! expired entries dropped lazily, by a periodic sweep, and before a write is refused for its
//! quota.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

// quanta's clock, not std's: every operation reads it (a handler's event makes several), and
// quanta reads the CPU's counter (~8 ns) where std goes through the vDSO (~25 ns here).
use quanta::Instant;

use super::{KvError, Space, entry_bytes};

/// Maps keyed by space names and handler keys. foldhash, not std's SipHash: a rate limiter's
/// event hashes a key four to six times, and SipHash was ~3% of its handler path. It is seeded
/// per process, and a handler's key count is bounded by its quota (`kv_keys`), so colliding
/// keys could only slow that handler's own space.
type Map<V> = HashMap<String, V, foldhash::fast::RandomState>;

#[derive(Debug, Default)]
pub struct MemoryStore {
    spaces: Mutex<Map<Entries>>,
}

#[derive(Debug)]
struct Entry {
    value: String,
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|t| t > now)
    }
}

/// One space's entries, and the bytes they count against its quota (expired ones included
/// until they are dropped).
#[derive(Debug, Default)]
struct Entries {
    map: Map<Entry>,
    bytes: u64,
}

impl Entries {
    fn live(&self, key: &str, now: Instant) -> Option<&Entry> {
        self.map.get(key).filter(|e| e.live(now))
    }

    fn sweep(&mut self, now: Instant) -> usize {
        let before = self.map.len();
        let mut freed = 0;
        self.map.retain(|k, e| {
            let keep = e.live(now);
            if !keep {
                freed += entry_bytes(k, &e.value);
            }
            keep
        });
        self.bytes -= freed;
        before - self.map.len()
    }

    /// Stores `key` unless that takes the space past its quota (expired entries are dropped
    /// first, then it is checked again).
    fn put(
        &mut self,
        space: &Space,
        key: &str,
        value: String,
        expires: Option<Instant>,
        now: Instant,
    ) -> Result<(), KvError> {
        let usage = |entries: &Self| {
            let old = entries.map.get(key).map(|e| entry_bytes(key, &e.value));
            let before = (entries.map.len() as u64, entries.bytes);
            let after = (
                before.0 + u64::from(old.is_none()),
                before.1 - old.unwrap_or(0) + entry_bytes(key, &value),
            );
            (before, after)
        };
        let (mut before, mut after) = usage(self);
        if space.quota.refuses(before, after).is_some() {
            self.sweep(now);
            (before, after) = usage(self);
            if let Some(refusal) = space.quota.refuses(before, after) {
                return Err(refusal);
            }
        }
        self.bytes = after.1;
        let entry = Entry { value, expires };
        // An existing key keeps its map slot (no copy of the key).
        match self.map.get_mut(key) {
            Some(slot) => *slot = entry,
            None => {
                self.map.insert(key.to_owned(), entry);
            }
        }
        Ok(())
    }

    fn remove(&mut self, key: &str) -> Option<Entry> {
        let entry = self.map.remove(key)?;
        self.bytes -= entry_bytes(key, &entry.value);
        Some(entry)
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        // quanta calibrates its clock on first use (up to 200 ms): now, not in a handler's call.
        Instant::now();
        Self::default()
    }

    /// Runs `f` on `space`'s entries (made if missing; dropped again if left empty).
    fn with<T>(
        &self,
        space: &Space,
        f: impl FnOnce(&mut Entries) -> Result<T, KvError>,
    ) -> Result<T, KvError> {
        // Nothing panics while holding the lock; if something ever did, the map is still whole.
        let mut spaces = self.spaces.lock().unwrap_or_else(|e| e.into_inner());
        // Looked up by reference: the space's name is copied only when the space is new.
        let (result, emptied) = match spaces.get_mut(&space.prefix) {
            Some(entries) => {
                let result = f(entries);
                (result, entries.map.is_empty())
            }
            None => {
                let mut entries = Entries::default();
                let result = f(&mut entries);
                if !entries.map.is_empty() {
                    spaces.insert(space.prefix.clone(), entries);
                }
                (result, false)
            }
        };
        if emptied {
            spaces.remove(&space.prefix);
        }
        result
    }

    /// Drops expired entries; returns how many. Called periodically so that keys nobody reads
    /// again do not pile up.
    pub fn sweep(&self) -> usize {
        let now = Instant::now();
        let mut spaces = self.spaces.lock().unwrap_or_else(|e| e.into_inner());
        let swept = spaces.values_mut().map(|e| e.sweep(now)).sum();
        spaces.retain(|_, e| !e.map.is_empty());
        swept
    }
}

/// The operations, answered at once: nothing here waits, so they are plain functions and
/// [`super::Kv`] calls them without a future of their own.
impl MemoryStore {
    pub fn get(&self, space: &Space, key: &str) -> Result<Option<String>, KvError> {
        let now = Instant::now();
        self.with(space, |e| Ok(e.live(key, now).map(|e| e.value.clone())))
    }

    pub fn set(
        &self,
        space: &Space,
        key: &str,
        value: String,
        ttl: Option<Duration>,
    ) -> Result<(), KvError> {
        let now = Instant::now();
        self.with(space, |e| {
            e.put(space, key, value, ttl.and_then(|t| now.checked_add(t)), now)
        })
    }

    pub fn delete(&self, space: &Space, key: &str) -> Result<bool, KvError> {
        let now = Instant::now();
        self.with(space, |e| Ok(e.remove(key).is_some_and(|e| e.live(now))))
    }

    pub fn incr(
        &self,
        space: &Space,
        key: &str,
        delta: i64,
        ttl: Option<Duration>,
    ) -> Result<i64, KvError> {
        let now = Instant::now();
        self.with(space, |entries| {
            let (value, expires) = match entries.live(key, now) {
                Some(e) => (
                    e.value
                        .parse::<i64>()
                        .map_err(|_| KvError::NotANumber)?
                        .saturating_add(delta),
                    e.expires,
                ),
                None => (delta, ttl.and_then(|t| now.checked_add(t))),
            };
            entries.put(space, key, value.to_string(), expires, now)?;
            Ok(value)
        })
    }

    pub fn compare_and_set(
        &self,
        space: &Space,
        key: &str,
        expected: Option<&str>,
        value: String,
        ttl: Option<Duration>,
    ) -> Result<bool, KvError> {
        let now = Instant::now();
        self.with(space, |entries| {
            if entries.live(key, now).map(|e| e.value.as_str()) != expected {
                return Ok(false);
            }
            entries.put(space, key, value, ttl.and_then(|t| now.checked_add(t)), now)?;
            Ok(true)
        })
    }

    pub fn keys(&self, space: &Space, prefix: &str) -> Result<Vec<String>, KvError> {
        let now = Instant::now();
        self.with(space, |entries| {
            let mut keys: Vec<String> = entries
                .map
                .iter()
                .filter(|(k, e)| k.starts_with(prefix) && e.live(now))
                .map(|(k, _)| k.clone())
                .collect();
            keys.sort();
            Ok(keys)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::{Kv, contract};
    use super::*;

    #[tokio::test]
    async fn keeps_the_store_contract() {
        let store = Arc::new(MemoryStore::new());
        let kv = Kv::Memory(store.clone());
        contract::operations(&kv).await;
        contract::quotas(&kv).await;
        assert!(
            store.spaces.lock().expect("lock").is_empty(),
            "nothing left"
        );
    }

    #[tokio::test]
    async fn the_sweep_drops_expired_entries_and_their_bytes() {
        let store = MemoryStore::new();
        let a = contract::space("a", 10, 100);
        let ttl = Some(Duration::from_millis(10));
        store.set(&a, "gone", "1".into(), ttl).expect("set");
        store.set(&a, "kept", "1".into(), None).expect("set");
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(store.sweep(), 1);
        let spaces = store.spaces.lock().expect("lock");
        assert_eq!(
            spaces.get("h:a:").map(|e| (e.map.len(), e.bytes)),
            Some((1, 5))
        );
    }
}
