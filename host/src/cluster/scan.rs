//! Walking Redis keys: SCAN, never KEYS (which blocks Redis while it walks the whole keyspace).

use redis::RedisError;
use redis::aio::ConnectionManager;

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
}
