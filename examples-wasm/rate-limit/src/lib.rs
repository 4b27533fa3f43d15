//! Rate limiting (the usage guide's pattern 2, as a token bucket): each socket, and each user
//! across all their sockets, may send `events_per_minute` events on average, in bursts of up to
//! `burst`. Over the limit an event is rejected with a clear error and counted in KV
//! (`rejected`). Runs first (priority 100) so that it also guards the built-in events.
//!
//! Sidecar `rate-limit.toml`:
//! ```toml
//! [config]
//! events_per_minute = 60   # refill rate
//! burst = 60               # bucket size (default: events_per_minute)
//! per_user = true          # also limit each user across their sockets
//! events = ["*"]           # which events count
//! ```

use std::time::Duration;

use iohost_guest::{Config, Error, Event, Handler, Outcome, Registration, Settings, Socket, kv};
use serde::{Deserialize, Serialize};

pub struct RateLimit;

/// A bucket, stored in KV as the JSON array `[tokens, at_ms]`: reading and writing field names
/// was ~4% of an event. (A bucket stored in another shape reads as a full one.)
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(from = "(f64, u64)", into = "(f64, u64)")]
pub struct Bucket {
    pub tokens: f64,
    pub at_ms: u64,
}

impl From<(f64, u64)> for Bucket {
    fn from((tokens, at_ms): (f64, u64)) -> Self {
        Self { tokens, at_ms }
    }
}

impl From<Bucket> for (f64, u64) {
    fn from(b: Bucket) -> Self {
        (b.tokens, b.at_ms)
    }
}

/// Refills `bucket` for the time since it was last touched, then takes one token if there is
/// one. Returns the new bucket and whether the event may go through.
pub fn take(bucket: Option<Bucket>, now_ms: u64, per_minute: f64, burst: f64) -> (Bucket, bool) {
    let mut b = bucket.unwrap_or(Bucket {
        tokens: burst,
        at_ms: now_ms,
    });
    let elapsed = now_ms.saturating_sub(b.at_ms) as f64;
    b.tokens = (b.tokens + elapsed * per_minute / 60_000.0).min(burst);
    b.at_ms = now_ms;
    let allowed = b.tokens >= 1.0;
    if allowed {
        b.tokens -= 1.0;
    }
    (b, allowed)
}

/// The sidecar's `[config]`.
#[derive(Debug, Deserialize)]
#[serde(default)]
struct Limits {
    events_per_minute: f64,
    /// Bucket size; unset: `events_per_minute`.
    burst: Option<f64>,
    per_user: bool,
    events: Vec<String>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            events_per_minute: 60.0,
            burst: None,
            per_user: true,
            events: vec!["*".to_owned()],
        }
    }
}

impl Limits {
    fn per_minute(&self) -> f64 {
        self.events_per_minute.max(0.001)
    }

    fn burst(&self) -> f64 {
        self.burst.unwrap_or(self.per_minute()).max(1.0)
    }
}

static LIMITS: Settings<Limits> = Settings::new();

/// Takes a token from the bucket at `key`; an atomic update makes concurrent instances agree.
fn admit(key: &str, limits: &Limits, now_ms: u64) -> Result<bool, Error> {
    let (per_minute, burst) = (limits.per_minute(), limits.burst());
    // A bucket untouched for this long is full again: it may expire.
    let ttl = Duration::from_millis((burst / per_minute * 60_000.0).ceil() as u64 + 1_000);
    let mut allowed = false;
    kv::update(key, Some(ttl), |current| {
        let bucket = current.and_then(|t| serde_json::from_str(t).ok());
        let (next, ok) = take(bucket, now_ms, per_minute, burst);
        allowed = ok;
        serde_json::to_string(&next).ok()
    })?;
    Ok(allowed)
}

impl Handler for RateLimit {
    fn init(config: &Config) -> Result<Registration, String> {
        LIMITS.init(config)?;
        Ok(Registration::events(LIMITS.get().events.clone()).priority(100))
    }

    fn handle_event(socket: &Socket, _event: &Event) -> Result<Outcome, Error> {
        let limits = LIMITS.get();
        // A socket's id is unique across namespaces (socketioxide draws a random one for each).
        let socket_key = ["socket:", socket.id()].concat();
        let user_key = match (limits.per_user, socket.user()) {
            (true, Some(user)) => Some(format!("user:{}", user.id)),
            _ => None,
        };
        // One clock read for both buckets: each read is a call into iohost.
        let now_ms = iohost_guest::now_ms();
        for key in std::iter::once(socket_key).chain(user_key) {
            if !admit(&key, limits, now_ms)? {
                let _ = kv::incr("rejected", 1, None);
                return Ok(Outcome::reject(format!(
                    "Rate limit exceeded: at most {} events per minute",
                    limits.per_minute()
                )));
            }
        }
        Ok(Outcome::Pass)
    }
}

iohost_guest::export_handler!(RateLimit);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_allows_a_burst_then_refills_at_the_rate() {
        let (mut b, mut ok) = take(None, 0, 60.0, 3.0);
        let mut allowed = 0;
        for _ in 0..5 {
            if ok {
                allowed += 1;
            }
            (b, ok) = take(Some(b), 0, 60.0, 3.0);
        }
        assert_eq!(allowed, 3, "a burst of 3, then nothing at the same instant");
        let (b, ok) = take(Some(b), 1_000, 60.0, 3.0);
        assert!(ok, "60 per minute refills one token per second");
        let (_, ok) = take(Some(b), 1_500, 60.0, 3.0);
        assert!(!ok);
    }

    #[test]
    fn a_bucket_is_stored_as_an_array() {
        let b = Bucket {
            tokens: 2.5,
            at_ms: 7,
        };
        let text = serde_json::to_string(&b).expect("written");
        assert_eq!(text, "[2.5,7]");
        assert_eq!(serde_json::from_str::<Bucket>(&text).ok(), Some(b));
        let old_shape = r#"{"tokens":2.5,"at_ms":7}"#;
        assert_eq!(serde_json::from_str::<Bucket>(old_shape).ok(), None);
    }

    #[test]
    fn refill_never_exceeds_the_burst() {
        let (b, _) = take(
            Some(Bucket {
                tokens: 0.0,
                at_ms: 0,
            }),
            3_600_000,
            60.0,
            5.0,
        );
        assert_eq!(b.tokens, 4.0);
    }
}
