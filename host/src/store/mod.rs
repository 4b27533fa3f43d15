//! The key-value store handlers keep their state in (the `kv` WIT interface). Behind a trait so
//! a Redis backend for clusters changes no caller; in memory for a single node.

mod memory;
mod redis_kv;

use std::time::Duration;

pub use memory::MemoryStore;
pub use redis_kv::{RedisStore, keys_with_prefix};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    #[error("the stored value is not an integer")]
    NotANumber,
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
}

/// Strings under string keys, with optional expiry and atomic increments.
#[async_trait::async_trait]
pub trait KvStore: Send + Sync + std::fmt::Debug {
    async fn get(&self, key: &str) -> Result<Option<String>, KvError>;
    async fn set(&self, key: &str, value: String, ttl: Option<Duration>) -> Result<(), KvError>;
    async fn delete(&self, key: &str) -> Result<bool, KvError>;
    /// Adds `delta` (a missing key counts as 0); `ttl` applies when the key is created.
    async fn incr(&self, key: &str, delta: i64, ttl: Option<Duration>) -> Result<i64, KvError>;
    /// Sets `key` to `value` if its value is `expected` (`None`: if absent); true if set.
    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&str>,
        value: String,
        ttl: Option<Duration>,
    ) -> Result<bool, KvError>;
    async fn keys(&self, prefix: &str) -> Result<Vec<String>, KvError>;
}
