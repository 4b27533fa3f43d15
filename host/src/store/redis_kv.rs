//! The handler KV store on Redis, for clusters: every node sees the same keys, under
//! `<cluster.prefix>:kv:`. TTLs are Redis expiries; every write is a Lua script, so each is one
//! atomic step on the server, quota check included; `keys` walks SCAN (never KEYS, which blocks
//! Redis while it walks). While the cluster's Redis is down every operation fails at once with
//! `unavailable` (and each gives up after [`OP_TIMEOUT`]), so a handler never hangs on it.
//!
//! Each space's usage lives beside its keys, under `<cluster.prefix>:kvq:<space>`: a sorted set
//! of its keys by expiry time (`keys`), their sizes (`sizes`) and their total (`bytes`). Every
//! write first drops the entries that have expired, then checks the quota with the others.

use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, RedisError, Script};

use super::{KvError, Quota, Space};
use crate::cluster::{Connection, RedisBackplane, keys_with_prefix};

/// Longest one KV operation waits for Redis.
pub const OP_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct RedisStore {
    /// Taken anew for each operation: behind Sentinel it follows the master.
    conn: Connection,
    /// Whether Redis is reachable; shared with the cluster link.
    link: Option<RedisBackplane>,
    /// `<cluster.prefix>:`
    cluster: String,
    scripts: Scripts,
}

#[derive(Clone)]
struct Scripts {
    set: Script,
    incr: Script,
    compare_and_set: Script,
    delete: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("cluster", &self.cluster)
            .finish()
    }
}

/// What every script starts with. KEYS: 1 the entry, 2 the space's keys by expiry, 3 their
/// sizes, 4 their total. ARGV[1] is the key within the space (its member in 2 and 3).
/// `sweep` drops the entries that expired and returns the time in ms; `admit` returns the
/// usage a new size for ARGV[1] would bring, if the quota (ARGV `k`, `b`) refuses it (past the
/// quota only shrinking writes pass); `record` writes down the entry's size and expiry; `put`
/// stores a value (with an expiry in ms, or none for '') and records it.
const PRELUDE: &str = r"
local function sweep()
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)
  local freed = 0
  for _, m in ipairs(gone) do
    freed = freed + tonumber(redis.call('HGET', KEYS[3], m) or '0')
    redis.call('HDEL', KEYS[3], m)
    redis.call('ZREM', KEYS[2], m)
  end
  if freed > 0 then redis.call('DECRBY', KEYS[4], freed) end
  return now
end
local function admit(size, max_keys, max_bytes)
  local old = redis.call('HGET', KEYS[3], ARGV[1])
  local keys = redis.call('ZCARD', KEYS[2])
  local bytes = tonumber(redis.call('GET', KEYS[4]) or '0')
  local keys_after = keys
  if not old then keys_after = keys + 1 end
  local bytes_after = bytes - tonumber(old or '0') + size
  if (keys_after > tonumber(max_keys) and keys_after > keys)
    or (bytes_after > tonumber(max_bytes) and bytes_after > bytes) then
    return {'over', tostring(keys_after), tostring(bytes_after)}
  end
  return nil
end
local function record(now, size)
  local old = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
  local pttl = redis.call('PTTL', KEYS[1])
  local score = '+inf'
  if pttl >= 0 then score = now + pttl end
  redis.call('ZADD', KEYS[2], score, ARGV[1])
  redis.call('HSET', KEYS[3], ARGV[1], size)
  redis.call('INCRBY', KEYS[4], size - old)
end
local function put(now, value, ttl, size)
  if ttl ~= '' then
    redis.call('SET', KEYS[1], value, 'PX', ttl)
  else
    redis.call('SET', KEYS[1], value)
  end
  record(now, size)
end
";

/// ARGV: key, value, ttl ms ('' for none), max keys, max bytes.
const SET: &str = r"
local now = sweep()
local size = #ARGV[1] + #ARGV[2]
local over = admit(size, ARGV[4], ARGV[5])
if over then return over end
put(now, ARGV[2], ARGV[3], size)
return {'ok'}
";

/// ARGV: key, delta, ttl ms ('' for none; set only when the key is created), max keys, max
/// bytes. INCRBY fails on a value that is not an integer before anything else changes.
const INCR: &str = r"
local now = sweep()
local existed = redis.call('EXISTS', KEYS[1])
redis.call('INCRBY', KEYS[1], ARGV[2])
local value = redis.call('GET', KEYS[1])
local size = #ARGV[1] + #value
local over = admit(size, ARGV[4], ARGV[5])
if over then
  if existed == 0 then redis.call('DEL', KEYS[1]) else redis.call('DECRBY', KEYS[1], ARGV[2]) end
  return over
end
if existed == 0 and ARGV[3] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
record(now, size)
return {'ok', value}
";

/// ARGV: key, has-expected (1/0), expected, new value, ttl ms ('' for none), max keys, max
/// bytes.
const COMPARE_AND_SET: &str = r"
local now = sweep()
local current = redis.call('GET', KEYS[1])
if ARGV[2] == '1' then
  if current ~= ARGV[3] then return {'no'} end
elseif current then
  return {'no'}
end
local size = #ARGV[1] + #ARGV[4]
local over = admit(size, ARGV[6], ARGV[7])
if over then return over end
put(now, ARGV[4], ARGV[5], size)
return {'ok'}
";

/// ARGV: key. Returns how many entries were removed (0 or 1).
const DELETE: &str = r"
sweep()
local removed = redis.call('DEL', KEYS[1])
local old = redis.call('HGET', KEYS[3], ARGV[1])
if old then
  redis.call('HDEL', KEYS[3], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('DECRBY', KEYS[4], old)
end
return {'ok', tostring(removed)}
";

fn ttl_ms(ttl: Option<Duration>) -> String {
    // Redis refuses a zero expiry; the shortest it takes is 1 ms.
    ttl.map(|t| t.as_millis().max(1).to_string())
        .unwrap_or_default()
}

/// A script's answer: `ok` with an optional value, `no` (compare-and-set did not match), or
/// `over` with the usage the write would have brought.
fn verdict(quota: Quota, reply: Vec<String>) -> Result<Option<Option<String>>, KvError> {
    let number = |i: usize| {
        reply
            .get(i)
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    match reply.first().map(String::as_str) {
        Some("ok") => Ok(Some(reply.get(1).cloned())),
        Some("no") => Ok(None),
        Some("over") => Err(KvError::OverQuota {
            keys: number(1),
            bytes: number(2),
            quota,
        }),
        _ => Err(KvError::Unavailable(format!(
            "unexpected answer from Redis: {reply:?}"
        ))),
    }
}

impl RedisStore {
    /// The store of a cluster, on its Redis link.
    pub fn new(link: RedisBackplane, cluster_prefix: &str) -> Self {
        let mut store = Self::with(link.shared_connection(), cluster_prefix);
        store.link = Some(link);
        store
    }

    /// A store on a bare connection (no down-detection): for tests.
    pub fn on(conn: ConnectionManager, cluster_prefix: &str) -> Self {
        Self::with(Connection::fixed(conn), cluster_prefix)
    }

    fn with(conn: Connection, cluster_prefix: &str) -> Self {
        let script = |body: &str| Script::new(&format!("{PRELUDE}{body}"));
        Self {
            conn,
            link: None,
            cluster: format!("{cluster_prefix}:"),
            scripts: Scripts {
                set: script(SET),
                incr: script(INCR),
                compare_and_set: script(COMPARE_AND_SET),
                delete: script(DELETE),
            },
        }
    }

    fn key(&self, space: &Space, key: &str) -> String {
        format!("{}kv:{}{key}", self.cluster, space.prefix)
    }

    /// `script` on `key` of `space` with its accounting keys, and `args` after the key.
    fn invocation<'a>(
        &self,
        script: &'a Script,
        space: &Space,
        key: &str,
    ) -> redis::ScriptInvocation<'a> {
        let usage = format!("{}kvq:{}", self.cluster, space.prefix);
        let mut call = script.key(self.key(space, key));
        call.key(format!("{usage}keys"))
            .key(format!("{usage}sizes"))
            .key(format!("{usage}bytes"))
            .arg(key);
        call
    }

    /// Runs a write script and reads its verdict.
    async fn write(
        &self,
        space: &Space,
        call: redis::ScriptInvocation<'_>,
    ) -> Result<Option<Option<String>>, KvError> {
        let mut conn = self.conn.current();
        let reply: Vec<String> = self.run(call.invoke_async(&mut conn)).await?;
        verdict(space.quota, reply)
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

/// The operations: each one round trip to Redis (writes run a script that checks the quota).
impl RedisStore {
    pub async fn get(&self, space: &Space, key: &str) -> Result<Option<String>, KvError> {
        self.run(self.conn.current().get(self.key(space, key)))
            .await
    }

    pub async fn set(
        &self,
        space: &Space,
        key: &str,
        value: String,
        ttl: Option<Duration>,
    ) -> Result<(), KvError> {
        let mut call = self.invocation(&self.scripts.set, space, key);
        call.arg(value)
            .arg(ttl_ms(ttl))
            .arg(space.quota.keys)
            .arg(space.quota.bytes);
        self.write(space, call).await.map(|_| ())
    }

    pub async fn delete(&self, space: &Space, key: &str) -> Result<bool, KvError> {
        let call = self.invocation(&self.scripts.delete, space, key);
        let removed = self.write(space, call).await?.flatten();
        Ok(removed.as_deref() == Some("1"))
    }

    pub async fn incr(
        &self,
        space: &Space,
        key: &str,
        delta: i64,
        ttl: Option<Duration>,
    ) -> Result<i64, KvError> {
        let mut call = self.invocation(&self.scripts.incr, space, key);
        call.arg(delta)
            .arg(ttl_ms(ttl))
            .arg(space.quota.keys)
            .arg(space.quota.bytes);
        let value = self.write(space, call).await?.flatten();
        value
            .and_then(|v| v.parse().ok())
            .ok_or(KvError::NotANumber)
    }

    pub async fn compare_and_set(
        &self,
        space: &Space,
        key: &str,
        expected: Option<&str>,
        value: String,
        ttl: Option<Duration>,
    ) -> Result<bool, KvError> {
        let mut call = self.invocation(&self.scripts.compare_and_set, space, key);
        call.arg(if expected.is_some() { "1" } else { "0" })
            .arg(expected.unwrap_or_default())
            .arg(value)
            .arg(ttl_ms(ttl))
            .arg(space.quota.keys)
            .arg(space.quota.bytes);
        Ok(self.write(space, call).await?.is_some())
    }

    pub async fn keys(&self, space: &Space, prefix: &str) -> Result<Vec<String>, KvError> {
        let mut conn = self.conn.current();
        let full = self.key(space, "");
        let keys = self
            .run(keys_with_prefix(&mut conn, &format!("{full}{prefix}")))
            .await?;
        Ok(keys
            .into_iter()
            .filter_map(|k| k.strip_prefix(&full).map(str::to_owned))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store on the real Redis at 127.0.0.1:6379 (scripts/test.sh starts one if needed),
    /// under a prefix of its own.
    async fn store() -> RedisStore {
        let client = redis::Client::open("redis://127.0.0.1:6379/?protocol=resp3").expect("url");
        let conn = ConnectionManager::new(client)
            .await
            .expect("Redis on 127.0.0.1:6379");
        let prefix = format!(
            "iohost-test-{}-{}",
            std::process::id(),
            crate::random::hex(4).expect("random")
        );
        RedisStore::on(conn, &prefix)
    }

    #[tokio::test]
    async fn keeps_the_store_contract_on_real_redis() {
        let store = super::super::Kv::Redis(std::sync::Arc::new(store().await));
        super::super::contract::operations(&store).await;
        super::super::contract::quotas(&store).await;
    }
}
