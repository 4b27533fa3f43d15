//! The key-value store: the place handler state lives. Shared by all instances of the handler
//! (and by every node in a cluster), kept across reloads, private to the handler.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::iohost::handler::kv;

pub use crate::bindings::iohost::handler::kv::Error;

fn ms(ttl: Option<Duration>) -> Option<u64> {
    ttl.map(|t| t.as_millis() as u64)
}

pub fn get(key: &str) -> Result<Option<String>, Error> {
    kv::get(key)
}

/// Stores `value`; with `ttl` it expires after that long.
pub fn set(key: &str, value: &str, ttl: Option<Duration>) -> Result<(), Error> {
    kv::set(key, value, ms(ttl))
}

/// Removes `key`; true if it existed.
pub fn delete(key: &str) -> Result<bool, Error> {
    kv::delete(key)
}

/// Adds `delta` to an integer (a missing key counts as 0), atomically; `ttl` applies when the
/// key is created, which makes fixed windows (rate limits) one call.
pub fn incr(key: &str, delta: i64, ttl: Option<Duration>) -> Result<i64, Error> {
    kv::incr(key, delta, ms(ttl))
}

/// Sets `key` to `value` only if it currently holds `expected` (`None`: only if absent),
/// atomically; true if it was set. Retry on `false` for read-modify-write updates.
pub fn compare_and_set(
    key: &str,
    expected: Option<&str>,
    value: &str,
    ttl: Option<Duration>,
) -> Result<bool, Error> {
    kv::compare_and_set(key, expected, value, ms(ttl))
}

/// Read-modify-write of `key`, atomic against every other instance and node: `change` gets the
/// current value (`None`: absent) and returns the new one (`None`: leave it as it is); it is
/// retried while another writer got there first (at most 16 times, then `Unavailable`).
/// Returns what was stored (or left).
pub fn update(
    key: &str,
    ttl: Option<Duration>,
    mut change: impl FnMut(Option<&str>) -> Option<String>,
) -> Result<Option<String>, Error> {
    for _ in 0..16 {
        let current = get(key)?;
        let Some(next) = change(current.as_deref()) else {
            return Ok(current);
        };
        if compare_and_set(key, current.as_deref(), &next, ttl)? {
            return Ok(Some(next));
        }
    }
    Err(Error::Unavailable(format!(
        "`{key}` kept changing under 16 updates"
    )))
}

/// Keys starting with `prefix`, sorted.
pub fn keys(prefix: &str) -> Result<Vec<String>, Error> {
    kv::keys(prefix)
}

/// The value of `key` parsed as JSON; `None` when missing or not of type `T`.
pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>, Error> {
    Ok(get(key)?.and_then(|text| serde_json::from_str(&text).ok()))
}

/// Stores `value` as JSON.
pub fn set_json<T: Serialize + ?Sized>(
    key: &str,
    value: &T,
    ttl: Option<Duration>,
) -> Result<(), Error> {
    let text = serde_json::to_string(value).map_err(|e| Error::Unavailable(e.to_string()))?;
    set(key, &text, ttl)
}
