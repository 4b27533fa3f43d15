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

use iohost_guest::{Config, Event, Handler, Outcome, Registration, Socket, config, kv, now_ms};
use serde::{Deserialize, Serialize};

pub struct RateLimit;

/// A bucket as stored in KV.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub tokens: f64,
    pub at_ms: u64,
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

struct Settings {
    per_minute: f64,
    burst: f64,
    per_user: bool,
}

fn settings(c: &Config) -> Settings {
    let per_minute = c.get_or("events_per_minute", 60.0_f64).max(0.001);
    Settings {
        per_minute,
        burst: c.get_or("burst", per_minute).max(1.0),
        per_user: c.get_or("per_user", true),
    }
}

/// Takes a token from the bucket at `key`; compare-and-set makes concurrent instances agree.
fn admit(key: &str, s: &Settings) -> Result<bool, kv::Error> {
    // A bucket untouched for this long is full again: it may expire.
    let ttl = Duration::from_millis((s.burst / s.per_minute * 60_000.0).ceil() as u64 + 1_000);
    for _ in 0..16 {
        let current = kv::get(key)?;
        let bucket = current
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok());
        let (next, allowed) = take(bucket, now_ms(), s.per_minute, s.burst);
        let text =
            serde_json::to_string(&next).map_err(|e| kv::Error::Unavailable(e.to_string()))?;
        if kv::compare_and_set(key, current.as_deref(), &text, Some(ttl))? {
            return Ok(allowed);
        }
    }
    // Lost every race: too much concurrent traffic on one key to be sure; refuse.
    Ok(false)
}

impl Handler for RateLimit {
    fn init(config: &Config) -> Result<Registration, String> {
        let events: Vec<String> = config.get_or("events", vec!["*".to_owned()]);
        Ok(Registration::events(events).priority(100))
    }

    fn on_event(socket: &Socket, _event: &Event) -> Outcome {
        let s = settings(config());
        let mut keys = vec![format!("socket:{}:{}", socket.namespace(), socket.id())];
        if let (true, Some(user)) = (s.per_user, socket.user()) {
            keys.push(format!("user:{}", user.id));
        }
        for key in keys {
            match admit(&key, &s) {
                Ok(true) => {}
                Ok(false) => {
                    let _ = kv::incr("rejected", 1, None);
                    return Outcome::reject(format!(
                        "Rate limit exceeded: at most {} events per minute",
                        s.per_minute
                    ));
                }
                Err(e) => return Outcome::reject(format!("rate limit unavailable: {e:?}")),
            }
        }
        Outcome::Pass
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
