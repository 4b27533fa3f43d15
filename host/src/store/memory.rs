//! The in-process store: a map behind a mutex, expired entries dropped lazily and by a sweep.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{KvError, KvStore};

#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<HashMap<String, Entry>>,
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

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, Entry>>, KvError> {
        self.entries
            .lock()
            .map_err(|_| KvError::Unavailable("memory store lock poisoned".into()))
    }

    /// Drops expired entries; returns how many. Called periodically so that keys nobody reads
    /// again do not pile up.
    pub fn sweep(&self) -> usize {
        let now = Instant::now();
        self.lock()
            .map(|mut map| {
                let before = map.len();
                map.retain(|_, e| e.live(now));
                before - map.len()
            })
            .unwrap_or(0)
    }
}

#[async_trait::async_trait]
impl KvStore for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<String>, KvError> {
        let now = Instant::now();
        Ok(self
            .lock()?
            .get(key)
            .filter(|e| e.live(now))
            .map(|e| e.value.clone()))
    }

    async fn set(&self, key: &str, value: String, ttl: Option<Duration>) -> Result<(), KvError> {
        let expires = ttl.map(|t| Instant::now() + t);
        self.lock()?
            .insert(key.to_owned(), Entry { value, expires });
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<bool, KvError> {
        let now = Instant::now();
        Ok(self.lock()?.remove(key).is_some_and(|e| e.live(now)))
    }

    async fn incr(&self, key: &str, delta: i64, ttl: Option<Duration>) -> Result<i64, KvError> {
        let now = Instant::now();
        let mut map = self.lock()?;
        let current = match map.get(key).filter(|e| e.live(now)) {
            Some(e) => Some((
                e.value.parse::<i64>().map_err(|_| KvError::NotANumber)?,
                e.expires,
            )),
            None => None,
        };
        let (value, expires) = match current {
            Some((n, expires)) => (n.saturating_add(delta), expires),
            None => (delta, ttl.map(|t| now + t)),
        };
        map.insert(
            key.to_owned(),
            Entry {
                value: value.to_string(),
                expires,
            },
        );
        Ok(value)
    }

    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&str>,
        value: String,
        ttl: Option<Duration>,
    ) -> Result<bool, KvError> {
        let now = Instant::now();
        let mut map = self.lock()?;
        let current = map
            .get(key)
            .filter(|e| e.live(now))
            .map(|e| e.value.as_str());
        if current != expected {
            return Ok(false);
        }
        let expires = ttl.map(|t| now + t);
        map.insert(key.to_owned(), Entry { value, expires });
        Ok(true)
    }

    async fn keys(&self, prefix: &str) -> Result<Vec<String>, KvError> {
        let now = Instant::now();
        let mut keys: Vec<String> = self
            .lock()?
            .iter()
            .filter(|(k, e)| k.starts_with(prefix) && e.live(now))
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn set_get_delete() {
        let s = MemoryStore::new();
        assert_eq!(s.get("a").await, Ok(None));
        s.set("a", "1".into(), None).await.expect("set");
        assert_eq!(s.get("a").await, Ok(Some("1".into())));
        assert_eq!(s.delete("a").await, Ok(true));
        assert_eq!(s.delete("a").await, Ok(false));
    }

    #[tokio::test]
    async fn incr_is_atomic_and_typed() {
        let s = MemoryStore::new();
        assert_eq!(s.incr("n", 2, None).await, Ok(2));
        assert_eq!(s.incr("n", -5, None).await, Ok(-3));
        s.set("t", "text".into(), None).await.expect("set");
        assert_eq!(s.incr("t", 1, None).await, Err(KvError::NotANumber));
    }

    #[tokio::test]
    async fn compare_and_set_only_on_match() {
        let s = MemoryStore::new();
        assert_eq!(
            s.compare_and_set("k", None, "a".into(), None).await,
            Ok(true)
        );
        assert_eq!(
            s.compare_and_set("k", None, "b".into(), None).await,
            Ok(false)
        );
        assert_eq!(
            s.compare_and_set("k", Some("x"), "b".into(), None).await,
            Ok(false)
        );
        assert_eq!(
            s.compare_and_set("k", Some("a"), "b".into(), None).await,
            Ok(true)
        );
        assert_eq!(s.get("k").await, Ok(Some("b".into())));
    }

    #[tokio::test]
    async fn entries_expire() {
        let s = MemoryStore::new();
        s.set("a", "1".into(), Some(Duration::from_millis(20)))
            .await
            .expect("set");
        assert_eq!(s.incr("n", 1, Some(Duration::from_millis(20))).await, Ok(1));
        // A later increment keeps the first expiry (a fixed window, as rate limits want).
        assert_eq!(s.incr("n", 1, Some(Duration::from_secs(60))).await, Ok(2));
        assert_eq!(s.keys("").await, Ok(vec!["a".into(), "n".into()]));
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(s.get("a").await, Ok(None));
        assert_eq!(s.incr("n", 1, None).await, Ok(1));
        assert_eq!(
            s.sweep(),
            1,
            "`a` was swept; `n` lives again without expiry"
        );
    }
}
