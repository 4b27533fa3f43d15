//! The handler KV store on Redis, for clusters: every node sees the same keys, under
//! `<cluster.prefix>:kv:`. TTLs are Redis expiries; `incr` and `compare_and_set` are Lua scripts,
//! so each is one atomic step on the server; `keys` walks SCAN (never KEYS, which blocks Redis).
//! While the cluster's Redis is down every operation fails at once with `unavailable` (and each
//! gives up after [`OP_TIMEOUT`]), so a handler never hangs on it.

use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, RedisError, Script};

use super::{KvError, KvStore};
use crate::cluster::RedisBackplane;

/// Longest one KV operation waits for Redis.
pub const OP_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    /// Whether Redis is reachable; shared with the cluster link.
    link: Option<RedisBackplane>,
    prefix: String,
    incr: Script,
    compare_and_set: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// INCRBY; the expiry is set only when the key was created by this call.
const INCR: &str = r"
local existed = redis.call('EXISTS', KEYS[1])
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if existed == 0 and ARGV[2] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return value
";

/// ARGV: has-expected (1/0), expected, new value, ttl ms ('' for none). Returns 1 if set.
const COMPARE_AND_SET: &str = r"
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current ~= ARGV[2] then return 0 end
elseif current then
  return 0
end
if ARGV[4] ~= '' then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[3])
end
return 1
";

fn ttl_ms(ttl: Option<Duration>) -> String {
    // Redis refuses a zero expiry; the shortest it takes is 1 ms.
    ttl.map(|t| t.as_millis().max(1).to_string())
        .unwrap_or_default()
}

/// `prefix` with Redis glob characters escaped, for SCAN MATCH.
fn glob_escape(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('*');
    out
}

impl RedisStore {
    /// The store of a cluster, on its Redis link.
    pub fn new(link: RedisBackplane, cluster_prefix: &str) -> Self {
        let mut store = Self::on(link.connection(), cluster_prefix);
        store.link = Some(link);
        store
    }

    /// A store on a bare connection (no down-detection): for tests.
    pub fn on(conn: ConnectionManager, cluster_prefix: &str) -> Self {
        Self {
            conn,
            link: None,
            prefix: format!("{cluster_prefix}:kv:"),
            incr: Script::new(INCR),
            compare_and_set: Script::new(COMPARE_AND_SET),
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Runs `op` unless Redis is known to be down, within [`OP_TIMEOUT`]; a failure to reach
    /// Redis marks the link down.
    async fn run<T>(
        &self,
        op: impl std::future::Future<Output = Result<T, RedisError>>,
    ) -> Result<T, KvError> {
        if self.link.as_ref().is_some_and(|l| !l.is_up()) {
            return Err(KvError::Unavailable("Redis is unreachable".into()));
        }
        let result = match tokio::time::timeout(OP_TIMEOUT, op).await {
            Ok(result) => result,
            Err(_) => {
                let reason = format!("Redis did not answer within {} ms", OP_TIMEOUT.as_millis());
                if let Some(link) = &self.link {
                    link.went_down(&reason);
                }
                return Err(KvError::Unavailable(reason));
            }
        };
        result.map_err(|e| {
            if e.to_string().contains("not an integer") {
                return KvError::NotANumber;
            }
            if let (Some(link), true) = (&self.link, e.is_io_error() || e.is_timeout()) {
                link.went_down(&e);
            }
            KvError::Unavailable(e.to_string())
        })
    }
}

#[async_trait::async_trait]
impl KvStore for RedisStore {
    async fn get(&self, key: &str) -> Result<Option<String>, KvError> {
        self.run(self.conn.clone().get(self.key(key))).await
    }

    async fn set(&self, key: &str, value: String, ttl: Option<Duration>) -> Result<(), KvError> {
        let mut conn = self.conn.clone();
        match ttl {
            Some(ttl) => {
                self.run(conn.pset_ex(self.key(key), value, ttl.as_millis().max(1) as u64))
                    .await
            }
            None => self.run(conn.set(self.key(key), value)).await,
        }
    }

    async fn delete(&self, key: &str) -> Result<bool, KvError> {
        let removed: u64 = self.run(self.conn.clone().del(self.key(key))).await?;
        Ok(removed > 0)
    }

    async fn incr(&self, key: &str, delta: i64, ttl: Option<Duration>) -> Result<i64, KvError> {
        let mut conn = self.conn.clone();
        let mut call = self.incr.key(self.key(key));
        call.arg(delta).arg(ttl_ms(ttl));
        self.run(call.invoke_async(&mut conn)).await
    }

    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&str>,
        value: String,
        ttl: Option<Duration>,
    ) -> Result<bool, KvError> {
        let mut conn = self.conn.clone();
        let mut call = self.compare_and_set.key(self.key(key));
        call.arg(if expected.is_some() { "1" } else { "0" })
            .arg(expected.unwrap_or_default())
            .arg(value)
            .arg(ttl_ms(ttl));
        let set: i64 = self.run(call.invoke_async(&mut conn)).await?;
        Ok(set == 1)
    }

    async fn keys(&self, prefix: &str) -> Result<Vec<String>, KvError> {
        let mut conn = self.conn.clone();
        let keys = self
            .run(keys_with_prefix(&mut conn, &self.key(prefix)))
            .await?;
        Ok(keys
            .into_iter()
            .filter_map(|k| k.strip_prefix(&self.prefix).map(str::to_owned))
            .collect())
    }
}

/// Every key starting with `prefix` (taken literally), sorted: SCAN, never KEYS, which blocks
/// Redis while it walks the whole keyspace.
pub async fn keys_with_prefix(
    conn: &mut ConnectionManager,
    prefix: &str,
) -> Result<Vec<String>, RedisError> {
    let pattern = glob_escape(prefix);
    let mut cursor: u64 = 0;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await?;
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    keys.sort();
    keys.dedup();
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_patterns_escape_globs() {
        assert_eq!(glob_escape("a:b"), "a:b*");
        assert_eq!(glob_escape("a*[x]?"), "a\\*\\[x\\]\\?*");
    }

    /// Against the real Redis on 127.0.0.1:6379 (scripts/test.sh starts one if needed).
    #[tokio::test]
    async fn behaves_like_the_memory_store_on_real_redis() {
        let client = redis::Client::open("redis://127.0.0.1:6379/?protocol=resp3").expect("url");
        let conn = ConnectionManager::new(client)
            .await
            .expect("Redis on 127.0.0.1:6379");
        let prefix = format!("iohost-test-{}", std::process::id());
        let store = RedisStore::on(conn, &prefix);
        assert_eq!(store.get("a").await, Ok(None));
        store.set("a", "1".into(), None).await.expect("set");
        assert_eq!(store.incr("a", 2, None).await, Ok(3));
        store.set("s", "x".into(), None).await.expect("set");
        assert_eq!(store.incr("s", 1, None).await, Err(KvError::NotANumber));
        assert_eq!(
            store.incr("t", 1, Some(Duration::from_millis(50))).await,
            Ok(1)
        );
        assert_eq!(
            store.compare_and_set("c", None, "1".into(), None).await,
            Ok(true)
        );
        assert_eq!(
            store.compare_and_set("c", None, "2".into(), None).await,
            Ok(false)
        );
        assert_eq!(
            store
                .compare_and_set("c", Some("1"), "2".into(), None)
                .await,
            Ok(true)
        );
        assert_eq!(store.get("c").await, Ok(Some("2".into())));
        assert_eq!(store.keys("").await.map(|k| k.len()), Ok(4), "a, s, t, c");
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(store.get("t").await, Ok(None), "expired");
        assert_eq!(store.keys("c").await, Ok(vec!["c".to_owned()]));
        for key in ["a", "s", "c"] {
            assert_eq!(store.delete(key).await, Ok(true));
        }
        assert_eq!(store.delete("a").await, Ok(false));
    }
}
