//! The in-process store. Entries live in shards chosen by a hash of their space and key, each
//! behind its own lock, so that calls on several cores touching different keys of one space
//! (every socket's rate-limit bucket is in the rate-limit handler's space) do not wait for
//! each other; each space's usage (keys, bytes) is a pair of counters all its shards share,
//! written only when a write changes it. Expired entries are dropped lazily, by a periodic
//! sweep, and before a write is refused for its quota.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crossbeam_utils::CachePadded;

// quanta's clock, not std's: every operation reads it (a handler's event makes several), and
// quanta reads the CPU's counter (~8 ns) where std goes through the vDSO (~25 ns here).
use quanta::Instant;

use super::{KvError, Quota, Space, entry_bytes};

/// Maps keyed by space names and handler keys. foldhash, not std's SipHash: a rate limiter's
/// event hashes a key four to six times, and SipHash was ~3% of its handler path. It is seeded
/// per process, and a handler's key count is bounded by its quota (`kv_keys`), so colliding
/// keys could only slow that handler's own space.
type Map<V> = HashMap<String, V, foldhash::fast::RandomState>;

#[derive(Debug)]
pub struct MemoryStore {
    /// Each shard: the entries of the keys that hash to it, by space.
    shards: Box<[Shard]>,
    /// Every space's usage, by space name: looked up when a shard first holds the space.
    /// Padded: every shard of the space writes it.
    usage: Mutex<Map<Arc<CachePadded<Usage>>>>,
    hasher: foldhash::fast::RandomState,
}

/// Alone on its cache line: a shard's lock and map pointer are written by the core using it,
/// and no other shard's by the same write.
type Shard = CachePadded<Mutex<Map<Entries>>>;

/// Nothing panics while holding a shard's lock; if something ever did, the map is still whole.
fn lock(shard: &Shard) -> MutexGuard<'_, Map<Entries>> {
    shard.lock().unwrap_or_else(|e| e.into_inner())
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

/// One space's entries in one shard, and the space's usage.
#[derive(Debug)]
struct Entries {
    map: Map<Entry>,
    usage: Arc<CachePadded<Usage>>,
}

/// Keys and bytes of keys and values one space holds, in all shards (expired entries counted
/// until they are dropped).
#[derive(Debug, Default)]
struct Usage {
    keys: AtomicU64,
    bytes: AtomicU64,
}

impl Usage {
    /// Counts a write that adds `added_key` keys and changes one entry from `old` bytes to
    /// `new`, unless that takes the space past `quota` (then nothing is counted). A write that
    /// grows nothing is never refused and, if it changes nothing, writes nothing here.
    fn count(&self, quota: &Quota, added_key: bool, old: u64, new: u64) -> Result<(), KvError> {
        if !added_key && new <= old {
            if new < old {
                self.bytes.fetch_sub(old - new, Ordering::AcqRel);
            }
            return Ok(());
        }
        let keys = if added_key {
            self.keys.fetch_add(1, Ordering::AcqRel)
        } else {
            self.keys.load(Ordering::Acquire)
        };
        // A new key (`old` is 0) or a longer value: the bytes grow or stay.
        let grown = new.saturating_sub(old);
        let bytes = self.bytes.fetch_add(grown, Ordering::AcqRel);
        let after = (keys + u64::from(added_key), bytes + grown);
        if let Some(refusal) = quota.refuses((keys, bytes), after) {
            self.bytes.fetch_sub(grown, Ordering::AcqRel);
            if added_key {
                self.keys.fetch_sub(1, Ordering::AcqRel);
            }
            return Err(refusal);
        }
        Ok(())
    }

    /// An entry of `bytes` is gone.
    fn remove(&self, bytes: u64) {
        self.keys.fetch_sub(1, Ordering::AcqRel);
        self.bytes.fetch_sub(bytes, Ordering::AcqRel);
    }
}

impl Entries {
    fn live(&self, key: &str, now: Instant) -> Option<&Entry> {
        self.map.get(key).filter(|e| e.live(now))
    }

    fn sweep(&mut self, now: Instant) -> usize {
        let before = self.map.len();
        let usage = &self.usage;
        self.map.retain(|k, e| {
            let keep = e.live(now);
            if !keep {
                usage.remove(entry_bytes(k, &e.value));
            }
            keep
        });
        before - self.map.len()
    }

    /// Stores `key` (taking `value`) unless that takes the space past its quota (then `value`
    /// is left as it was, for a second try).
    fn put(
        &mut self,
        space: &Space,
        key: &str,
        value: &mut String,
        expires: Option<Instant>,
    ) -> Result<(), KvError> {
        let old = self.map.get(key).map(|e| entry_bytes(key, &e.value));
        self.usage.count(
            &space.quota,
            old.is_none(),
            old.unwrap_or(0),
            entry_bytes(key, value),
        )?;
        let entry = Entry {
            value: std::mem::take(value),
            expires,
        };
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
        self.usage.remove(entry_bytes(key, &entry.value));
        Some(entry)
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            // Several per core: two busy keys rarely share one.
            shards: (0..(cores * 4).next_power_of_two())
                .map(|_| Shard::default())
                .collect(),
            usage: Mutex::default(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        // quanta calibrates its clock on first use (up to 200 ms): now, not in a handler's call.
        Instant::now();
        Self::default()
    }

    fn shard(&self, space: &Space, key: &str) -> &Shard {
        let hash = self.hasher.hash_one((&space.prefix, key));
        // The shard count is a power of two.
        &self.shards[hash as usize & (self.shards.len() - 1)]
    }

    /// Runs `f` on the entries of `key`'s shard in `space` (made there if missing).
    fn with<T>(
        &self,
        space: &Space,
        key: &str,
        f: impl FnOnce(&mut Entries) -> Result<T, KvError>,
    ) -> Result<T, KvError> {
        let mut shard = lock(self.shard(space, key));
        // Looked up by reference: the space's name is copied only when the shard first holds it.
        match shard.get_mut(&space.prefix) {
            Some(entries) => f(entries),
            None => {
                let entries = shard
                    .entry(space.prefix.clone())
                    .or_insert_with(|| Entries {
                        map: Map::default(),
                        usage: self.usage_of(space),
                    });
                f(entries)
            }
        }
    }

    /// Runs `f` on the entries of `key`'s shard in `space`, if there are any.
    fn read<T>(&self, space: &Space, key: &str, f: impl FnOnce(&mut Entries) -> T) -> Option<T> {
        let mut shard = lock(self.shard(space, key));
        shard.get_mut(&space.prefix).map(f)
    }

    /// A write: `f` again after the space's expired entries are dropped, if it was refused for
    /// the quota (it changed nothing then).
    fn write<T>(
        &self,
        space: &Space,
        key: &str,
        mut f: impl FnMut(&mut Entries) -> Result<T, KvError>,
    ) -> Result<T, KvError> {
        match self.with(space, key, &mut f) {
            Err(KvError::OverQuota { .. }) => {
                self.sweep_where(|name| name == space.prefix);
                self.with(space, key, f)
            }
            done => done,
        }
    }

    fn usage_of(&self, space: &Space) -> Arc<CachePadded<Usage>> {
        let mut usage = self.usage.lock().unwrap_or_else(|e| e.into_inner());
        usage.entry(space.prefix.clone()).or_default().clone()
    }

    /// Drops expired entries; returns how many. Called periodically so that keys nobody reads
    /// again do not pile up.
    pub fn sweep(&self) -> usize {
        self.sweep_where(|_| true)
    }

    /// Drops the expired entries of the spaces `which` names, and shards' empty spaces.
    fn sweep_where(&self, which: impl Fn(&str) -> bool) -> usize {
        let now = Instant::now();
        let mut swept = 0;
        for shard in self.shards.iter() {
            let mut shard = lock(shard);
            for (name, entries) in shard.iter_mut() {
                if which(name) {
                    swept += entries.sweep(now);
                }
            }
            shard.retain(|_, e| !e.map.is_empty());
        }
        swept
    }
}

/// The operations, answered at once: nothing here waits, so they are plain functions and
/// [`super::Kv`] calls them without a future of their own.
impl MemoryStore {
    pub fn get(&self, space: &Space, key: &str) -> Result<Option<String>, KvError> {
        let now = Instant::now();
        Ok(self
            .read(space, key, |e| e.live(key, now).map(|e| e.value.clone()))
            .flatten())
    }

    pub fn set(
        &self,
        space: &Space,
        key: &str,
        value: String,
        ttl: Option<Duration>,
    ) -> Result<(), KvError> {
        let now = Instant::now();
        let expires = ttl.and_then(|t| now.checked_add(t));
        let mut value = value;
        self.write(space, key, |e| e.put(space, key, &mut value, expires))
    }

    pub fn delete(&self, space: &Space, key: &str) -> Result<bool, KvError> {
        let now = Instant::now();
        Ok(self
            .read(space, key, |e| e.remove(key).is_some_and(|e| e.live(now)))
            .unwrap_or(false))
    }

    pub fn incr(
        &self,
        space: &Space,
        key: &str,
        delta: i64,
        ttl: Option<Duration>,
    ) -> Result<i64, KvError> {
        let now = Instant::now();
        self.write(space, key, |entries| {
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
            entries.put(space, key, &mut value.to_string(), expires)?;
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
        let expires = ttl.and_then(|t| now.checked_add(t));
        let mut value = value;
        self.write(space, key, |entries| {
            if entries.live(key, now).map(|e| e.value.as_str()) != expected {
                return Ok(false);
            }
            entries.put(space, key, &mut value, expires)?;
            Ok(true)
        })
    }

    pub fn keys(&self, space: &Space, prefix: &str) -> Result<Vec<String>, KvError> {
        let now = Instant::now();
        let mut keys = Vec::new();
        for shard in self.shards.iter() {
            let shard = lock(shard);
            if let Some(entries) = shard.get(&space.prefix) {
                keys.extend(
                    entries
                        .map
                        .iter()
                        .filter(|(k, e)| k.starts_with(prefix) && e.live(now))
                        .map(|(k, _)| k.clone()),
                );
            }
        }
        keys.sort();
        Ok(keys)
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
        assert_eq!(store.held(), (0, 0), "nothing left");
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
        assert_eq!(store.held(), (1, 5));
        assert_eq!(store.usage_of(&a).counts(), (1, 5));
    }

    /// Several threads writing, growing, deleting and expiring keys of one space with a small
    /// quota, in a generated order: the quota refuses some writes, the space ends within it,
    /// and its shared counters end equal to what its shards hold.
    #[test]
    fn under_contention_the_quota_holds_and_the_counts_stay_true() {
        let store = MemoryStore::new();
        let space = contract::space("busy", 40, 400);
        let refused = AtomicU64::new(0);
        std::thread::scope(|scope| {
            for thread in 0..4u64 {
                let (store, space, refused) = (&store, &space, &refused);
                scope.spawn(move || {
                    let mut seed = thread.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                    for _ in 0..5_000 {
                        // xorshift: a fixed, generated sequence per thread.
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        let key = format!("k{}", seed % 64);
                        let value = "v".repeat((seed >> 8) as usize % 12);
                        let ttl = (seed % 5 == 0).then(|| Duration::from_micros(seed % 300));
                        let done = match seed % 4 {
                            0 => store.set(space, &key, value, ttl).map(|_| ()),
                            1 => store.incr(space, &key, 1, ttl).map(|_| ()),
                            2 => {
                                let current = store.get(space, &key).ok().flatten();
                                store
                                    .compare_and_set(space, &key, current.as_deref(), value, ttl)
                                    .map(|_| ())
                            }
                            _ => store.delete(space, &key).map(|_| ()),
                        };
                        if let Err(KvError::OverQuota { .. }) = done {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert!(refused.load(Ordering::Relaxed) > 0, "the quota was reached");
        let (keys, bytes) = store.held();
        assert_eq!(store.usage_of(&space).counts(), (keys as u64, bytes));
        assert!(keys <= 40 && bytes <= 400, "{keys} keys, {bytes} bytes");
        std::thread::sleep(Duration::from_millis(1));
        store.sweep();
        let (keys, bytes) = store.held();
        assert_eq!(store.usage_of(&space).counts(), (keys as u64, bytes));
    }

    impl Usage {
        fn counts(&self) -> (u64, u64) {
            (
                self.keys.load(Ordering::SeqCst),
                self.bytes.load(Ordering::SeqCst),
            )
        }
    }

    impl MemoryStore {
        /// Entries in every shard and space, expired or not, and their bytes.
        fn held(&self) -> (usize, u64) {
            self.shards
                .iter()
                .flat_map(|shard| {
                    let shard = lock(shard);
                    shard
                        .values()
                        .flat_map(|e| e.map.iter().map(|(k, e)| entry_bytes(k, &e.value)))
                        .collect::<Vec<_>>()
                })
                .fold((0, 0), |(n, bytes), b| (n + 1, bytes + b))
        }
    }
}
