//! The key-value store handlers keep their state in (the `kv` WIT interface): in memory for a
//! single node, in Redis for a cluster, behind one [`Kv`] so that no caller tells them apart.
//! Each handler's keys are a [`Space`] of their own with a [`Quota`]: a handler cannot fill the
//! store.

#[cfg(test)]
mod contract;
mod memory;
mod redis_kv;

use std::sync::Arc;
use std::time::Duration;

pub use memory::MemoryStore;
pub use redis_kv::RedisStore;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    #[error("the stored value is not an integer")]
    NotANumber,
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    #[error(
        "over quota: this write would make {keys} keys of {bytes} bytes, at most {} keys of {} bytes are allowed ([handlers.limits] kv_keys, kv_mb)",
        quota.keys,
        quota.bytes
    )]
    OverQuota { keys: u64, bytes: u64, quota: Quota },
}

/// What one space's keys may hold together: keys, and bytes of keys and values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub keys: u64,
    pub bytes: u64,
}

impl Quota {
    /// The error for a write that takes a space from `before` to `after` (keys, bytes), if
    /// it may not: past the quota, only writes that shrink what the space holds are allowed
    /// (so a space over a lowered quota can still be cleaned up).
    fn refuses(&self, before: (u64, u64), after: (u64, u64)) -> Option<KvError> {
        let over = |now: u64, was: u64, max: u64| now > max && now > was;
        (over(after.0, before.0, self.keys) || over(after.1, before.1, self.bytes)).then_some(
            KvError::OverQuota {
                keys: after.0,
                bytes: after.1,
                quota: *self,
            },
        )
    }
}

/// The longest expiry kept (a longer TTL is this one): far enough to mean "never", near enough
/// that every clock and Redis can add it to now.
pub const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// A TTL a handler asked for, in milliseconds, as the stores take it.
pub fn ttl(ms: Option<u64>) -> Option<Duration> {
    ms.map(|ms| Duration::from_millis(ms).min(MAX_TTL))
}

/// Bytes one entry counts against its space's quota.
fn entry_bytes(key: &str, value: &str) -> u64 {
    (key.len() + value.len()) as u64
}

/// One handler's keys: stored under `prefix` (so they never meet another handler's), and
/// bounded by `quota`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Space {
    pub prefix: String,
    pub quota: Quota,
}

impl Space {
    /// The space of handler `name`.
    pub fn of_handler(name: &str, quota: Quota) -> Self {
        Self {
            prefix: format!("h:{name}:"),
            quota,
        }
    }
}

/// Strings under string keys, with optional expiry and atomic increments, in spaces. An enum
/// of the two stores rather than a trait object: the in-memory store's operations are plain
/// functions, and a handler's KV call (several per event) then costs no boxed future.
#[derive(Debug, Clone)]
pub enum Kv {
    Memory(Arc<MemoryStore>),
    Redis(Arc<RedisStore>),
}

// Redis's futures are boxed: they are large, and inline they would make every in-memory
// operation's future (inside each handler call's) as large as theirs.
impl Kv {
    pub async fn get(&self, space: &Space, key: &str) -> Result<Option<String>, KvError> {
        match self {
            Self::Memory(store) => store.get(space, key),
            Self::Redis(store) => Box::pin(store.get(space, key)).await,
        }
    }

    pub async fn set(
        &self,
        space: &Space,
        key: &str,
        value: String,
        ttl: Option<Duration>,
    ) -> Result<(), KvError> {
        match self {
            Self::Memory(store) => store.set(space, key, value, ttl),
            Self::Redis(store) => Box::pin(store.set(space, key, value, ttl)).await,
        }
    }

    /// True if the key was there (and had not expired).
    pub async fn delete(&self, space: &Space, key: &str) -> Result<bool, KvError> {
        match self {
            Self::Memory(store) => store.delete(space, key),
            Self::Redis(store) => Box::pin(store.delete(space, key)).await,
        }
    }

    /// Adds `delta` (a missing key counts as 0); `ttl` applies when the key is created.
    pub async fn incr(
        &self,
        space: &Space,
        key: &str,
        delta: i64,
        ttl: Option<Duration>,
    ) -> Result<i64, KvError> {
        match self {
            Self::Memory(store) => store.incr(space, key, delta, ttl),
            Self::Redis(store) => Box::pin(store.incr(space, key, delta, ttl)).await,
        }
    }

    /// Sets `key` to `value` if its value is `expected` (`None`: if absent); true if set.
    pub async fn compare_and_set(
        &self,
        space: &Space,
        key: &str,
        expected: Option<&str>,
        value: String,
        ttl: Option<Duration>,
    ) -> Result<bool, KvError> {
        match self {
            Self::Memory(store) => store.compare_and_set(space, key, expected, value, ttl),
            Self::Redis(store) => {
                Box::pin(store.compare_and_set(space, key, expected, value, ttl)).await
            }
        }
    }

    /// The space's keys that start with `prefix` (without the space's own prefix), sorted.
    pub async fn keys(&self, space: &Space, prefix: &str) -> Result<Vec<String>, KvError> {
        match self {
            Self::Memory(store) => store.keys(space, prefix),
            Self::Redis(store) => Box::pin(store.keys(space, prefix)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_quota_only_shrinking_writes_pass() {
        let quota = Quota { keys: 2, bytes: 10 };
        assert!(quota.refuses((1, 5), (2, 10)).is_none(), "up to the quota");
        assert!(
            quota.refuses((2, 10), (3, 12)).is_some(),
            "one key too many"
        );
        assert!(
            quota.refuses((1, 5), (1, 11)).is_some(),
            "one byte too many"
        );
        assert!(
            quota.refuses((5, 50), (5, 40)).is_none(),
            "over a lowered quota, shrinking is fine"
        );
        assert!(quota.refuses((5, 50), (5, 51)).is_some());
        assert_eq!(
            quota
                .refuses((2, 10), (3, 12))
                .map(|e| e.to_string())
                .as_deref(),
            Some(
                "over quota: this write would make 3 keys of 12 bytes, at most 2 keys of 10 bytes are allowed ([handlers.limits] kv_keys, kv_mb)"
            )
        );
    }
}
