//! Strapi API tokens clients may connect with (`auth: {strategy: "api-token", token}`).
//!
//! Strapi keeps only an HMAC of each key and has no endpoint that says whose a key is, so iohost
//! reads the token list through Strapi's admin API (`strapi.admin_email` / `admin_password`,
//! one session shared with the other admin reads): names, types, expiry, permissions and keys. It keeps only a SHA-256 digest of each key, and
//! reloads the list after `identity_cache_ms`, or sooner when an unknown key shows up. A stream
//! of bad keys cannot flood Strapi: the list is read at most once per [`RELOAD_AT_MOST_EVERY`],
//! one client address makes it read for an unknown key at most once per
//! [`UNKNOWN_KEY_RELOAD_PER_ADDRESS`], and a key found unknown is refused without asking again
//! for `identity_cache_ms`. A known key's login never waits while the list is fresh (a stale
//! list is read again before any login is answered from it, so that a deleted token stops
//! working). While Strapi cannot be reached, the last list read keeps working.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::AuthError;
use crate::config::StrapiConfig;
use crate::strapi::admin_api::{AdminApi, AdminError};
use crate::strapi::tokens::{ApiToken, TokenType};

/// The list is read again at most this often.
pub const RELOAD_AT_MOST_EVERY: Duration = Duration::from_secs(1);
/// One client address makes iohost read the list for an unknown key at most this often.
pub const UNKNOWN_KEY_RELOAD_PER_ADDRESS: Duration = Duration::from_secs(10);
/// Unknown keys remembered at most (each for `identity_cache_ms`).
pub const MAX_UNKNOWN_KEYS: usize = 10_000;
/// Tokens read from Strapi at most (the rest are ignored, with a warning).
pub const MAX_TOKENS: usize = 1_000;

type Key = [u8; 32];

fn digest(key: &str) -> Key {
    Sha256::digest(key.as_bytes()).into()
}

/// The token list as last read.
#[derive(Debug, Default)]
struct Loaded {
    tokens: HashMap<Key, ApiToken>,
    /// When the list was read; `None`: never.
    at: Option<Instant>,
}

/// Who asked for the list to be read again, and when: the bounds on reloads.
#[derive(Debug, Default)]
struct Reloads {
    /// When a reload was last tried (read or not).
    tried: Option<Instant>,
    /// When each client address last made iohost read the list for an unknown key.
    by_address: HashMap<IpAddr, Instant>,
}

impl Reloads {
    /// May the list be read now? Never more than once per [`RELOAD_AT_MOST_EVERY`]; for an
    /// unknown key, once per [`UNKNOWN_KEY_RELOAD_PER_ADDRESS`] per client address.
    fn allow(&mut self, for_unknown_key: bool, from: Option<IpAddr>) -> bool {
        let now = Instant::now();
        if self.tried.is_some_and(|t| now - t < RELOAD_AT_MOST_EVERY) {
            return false;
        }
        if for_unknown_key && let Some(from) = from.map(crate::model::limit_key) {
            if self
                .by_address
                .get(&from)
                .is_some_and(|t| now - *t < UNKNOWN_KEY_RELOAD_PER_ADDRESS)
            {
                return false;
            }
            self.by_address
                .retain(|_, t| now - *t < UNKNOWN_KEY_RELOAD_PER_ADDRESS);
            self.by_address.insert(from, now);
        }
        self.tried = Some(now);
        true
    }
}

#[derive(Debug)]
pub struct ApiTokens {
    admin: Arc<AdminApi>,
    ttl: Duration,
    /// The list as last read: logins with a known key read it without waiting.
    loaded: std::sync::RwLock<Arc<Loaded>>,
    /// One reload at a time; logins that need one wait for it and share its result.
    reloads: tokio::sync::Mutex<Reloads>,
    /// Digests of keys the list did not have, and when: not looked up again for `ttl`.
    unknown: std::sync::Mutex<HashMap<Key, Instant>>,
}

/// The token, unless it has expired.
fn usable(token: &ApiToken) -> Result<ApiToken, AuthError> {
    if token.expired() {
        return Err(AuthError::Expired);
    }
    Ok(token.clone())
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: T,
}

#[derive(Deserialize)]
struct Listed {
    id: u64,
    kind: Option<String>,
}

#[derive(Deserialize)]
struct Detailed {
    name: String,
    #[serde(rename = "type")]
    kind: TokenType,
    #[serde(default)]
    permissions: Vec<String>,
    #[serde(rename = "expiresAt")]
    expires_at: Option<String>,
    #[serde(rename = "accessKey")]
    access_key: Option<String>,
}

impl ApiTokens {
    pub fn new(config: &StrapiConfig, admin: Arc<AdminApi>) -> Self {
        Self {
            admin,
            ttl: Duration::from_millis(config.identity_cache_ms),
            loaded: Default::default(),
            reloads: Default::default(),
            unknown: Default::default(),
        }
    }

    /// Is token login configured at all?
    pub fn enabled(&self) -> bool {
        self.admin.enabled()
    }

    fn current(&self) -> Arc<Loaded> {
        self.loaded.read().map(|l| l.clone()).unwrap_or_default()
    }

    /// The token behind `key`, presented by a client at `from`. A known key in a fresh list
    /// is answered at once; a stale list or an unknown key reads the list again, within the
    /// bounds of [`Reloads::allow`]; an unknown key is remembered and refused without asking
    /// Strapi again for `identity_cache_ms`.
    pub async fn verify(&self, key: &str, from: Option<IpAddr>) -> Result<ApiToken, AuthError> {
        if !self.enabled() {
            return Err(AuthError::ApiTokensNotConfigured);
        }
        let wanted = digest(key);
        let loaded = self.current();
        let fresh = loaded.at.is_some_and(|at| at.elapsed() < self.ttl);
        match loaded.tokens.get(&wanted) {
            Some(token) if fresh => return usable(token),
            None if fresh && self.known_unknown(&wanted) => return Err(AuthError::Invalid),
            _ => {}
        }
        let for_unknown_key = fresh;
        let asked = Instant::now();
        {
            let mut reloads = self.reloads.lock().await;
            // Read by whoever held the lock before: no need to read it again.
            let read_meanwhile = self.current().at.is_some_and(|at| at >= asked);
            if !read_meanwhile && reloads.allow(for_unknown_key, from) {
                self.reload().await;
            }
        }
        let loaded = self.current();
        if loaded.at.is_none() {
            return Err(AuthError::Unavailable);
        }
        match loaded.tokens.get(&wanted) {
            Some(token) => usable(token),
            None => {
                // Remembered only when the list was read for it: a key made since the last
                // read and refused now (no read allowed yet) may work in a moment.
                if loaded.at.is_some_and(|at| at >= asked) {
                    self.remember_unknown(wanted);
                }
                Err(AuthError::Invalid)
            }
        }
    }

    /// Was `key` unknown when the list was last read, within `ttl`?
    fn known_unknown(&self, key: &Key) -> bool {
        self.unknown
            .lock()
            .is_ok_and(|u| u.get(key).is_some_and(|at| at.elapsed() < self.ttl))
    }

    fn remember_unknown(&self, key: Key) {
        if let Ok(mut unknown) = self.unknown.lock() {
            if unknown.len() >= MAX_UNKNOWN_KEYS {
                unknown.retain(|_, at| at.elapsed() < self.ttl);
                if unknown.len() >= MAX_UNKNOWN_KEYS {
                    unknown.clear();
                }
            }
            unknown.insert(key, Instant::now());
        }
    }

    /// Every token, read again first when the list is older than `identity_cache_ms` (and was
    /// ever read: before the first token login no socket has a token). Content delivery asks
    /// this: a token Strapi deleted, narrowed or let expire stops receiving within that time,
    /// not only once another token logs in. A failed read keeps the list it had (logged).
    pub async fn fresh(&self) -> Vec<ApiToken> {
        let stale = |loaded: &Loaded| loaded.at.is_some_and(|at| at.elapsed() >= self.ttl);
        if self.enabled() && stale(&self.current()) {
            let mut reloads = self.reloads.lock().await;
            // Whoever held the lock before may have read it.
            if stale(&self.current()) && reloads.allow(false, None) {
                self.reload().await;
            }
        }
        self.known()
    }

    /// Reads the list from Strapi and keeps it; a failure is logged and changes nothing.
    async fn reload(&self) {
        match self.load().await {
            Ok(tokens) => {
                if let Ok(mut loaded) = self.loaded.write() {
                    *loaded = Arc::new(Loaded {
                        tokens,
                        at: Some(Instant::now()),
                    });
                }
            }
            Err(e) => tracing::warn!("cannot read Strapi's API tokens: {e}"),
        }
    }

    /// Every token last read from Strapi (empty before the first token login).
    pub fn known(&self) -> Vec<ApiToken> {
        self.current().tokens.values().cloned().collect()
    }

    async fn load(&self) -> Result<HashMap<Key, ApiToken>, AdminError> {
        let listed: Envelope<Vec<Listed>> = self.admin.get("/admin/api-tokens").await?;
        let listed = listed.data;
        if listed.len() > MAX_TOKENS {
            tracing::warn!(
                "Strapi has {} API tokens; iohost reads the first {MAX_TOKENS}",
                listed.len()
            );
        }
        let mut tokens = HashMap::new();
        for item in listed.into_iter().take(MAX_TOKENS) {
            // Only content-API tokens open the content API (Strapi 5 may list other kinds).
            if item.kind.as_deref().is_some_and(|k| k != "content-api") {
                continue;
            }
            let detail: Envelope<Detailed> = self
                .admin
                .get(&format!("/admin/api-tokens/{}", item.id))
                .await?;
            let detail = detail.data;
            let Some(access_key) = detail.access_key else {
                tracing::warn!(
                    token = detail.name,
                    "Strapi does not show this token's key (is ENCRYPTION_KEY set in Strapi?): it cannot be used to connect"
                );
                continue;
            };
            let expires_at = detail
                .expires_at
                .as_deref()
                .and_then(|at| humantime::parse_rfc3339(at).ok());
            tokens.insert(
                digest(&access_key),
                ApiToken {
                    actions: detail.permissions.into_iter().collect(),
                    name: detail.name,
                    kind: detail.kind,
                    expires_at,
                },
            );
        }
        tracing::debug!(count = tokens.len(), "read Strapi's API tokens");
        let clashing = crate::strapi::tokens::clashing(tokens.values());
        if !clashing.is_empty() {
            tracing::warn!(
                tokens = ?clashing,
                "these API tokens' names give one room name: their sockets get no content events until all but one are renamed"
            );
        }
        Ok(tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strapi_dates_parse() {
        assert!(humantime::parse_rfc3339("2026-11-25T22:42:50.389Z").is_ok());
    }

    #[test]
    fn reloads_are_bounded_globally_and_per_address() {
        let mut reloads = Reloads::default();
        let (a, b) = (Some([10, 0, 0, 1].into()), Some([10, 0, 0, 2].into()));
        assert!(reloads.allow(true, a), "the first");
        assert!(!reloads.allow(false, b), "not twice in a second");
        reloads.tried = None;
        assert!(!reloads.allow(true, a), "this address asked within 10 s");
        assert!(reloads.allow(true, b), "another address may");
        reloads.tried = None;
        assert!(reloads.allow(false, a), "a stale list is read whoever asks");
    }

    #[tokio::test]
    async fn without_admin_credentials_token_logins_are_refused() {
        let config = StrapiConfig::default();
        let http = crate::strapi::client::client(Duration::from_secs(1), None).expect("client");
        let credentials = crate::strapi::credentials::LiveCredentials::of(&config);
        let tokens = ApiTokens::new(&config, Arc::new(AdminApi::new(credentials, http)));
        assert!(!tokens.enabled());
        assert_eq!(
            tokens.verify("key", None).await,
            Err(AuthError::ApiTokensNotConfigured)
        );
    }
}
