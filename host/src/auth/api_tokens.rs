//! Strapi API tokens clients may connect with (`auth: {strategy: "api-token", token}`).
//!
//! Strapi keeps only an HMAC of each key and has no endpoint that says whose a key is, so iohost
//! reads the token list through Strapi's admin API (`strapi.admin_email` / `admin_password`,
//! one session shared with the other admin reads): names, types, expiry, permissions and keys. It keeps only a SHA-256 digest of each key, and
//! reloads the list after `identity_cache_ms`, or sooner when an unknown key shows up (at most
//! once per [`RELOAD_AT_MOST_EVERY`], so a stream of bad keys cannot flood Strapi). While Strapi
//! cannot be reached, the last list read keeps working.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::AuthError;
use crate::config::StrapiConfig;
use crate::strapi::access::Grant;
use crate::strapi::admin_api::{AdminApi, AdminError};

/// An unknown key reloads the list at most this often.
pub const RELOAD_AT_MOST_EVERY: Duration = Duration::from_secs(1);
/// Tokens read from Strapi at most (the rest are ignored, with a warning).
pub const MAX_TOKENS: usize = 1_000;

/// Strapi's token types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenType {
    FullAccess,
    ReadOnly,
    Custom,
}

/// A token, as much as iohost needs of it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiToken {
    /// The name as Strapi shows it.
    pub name: String,
    pub kind: TokenType,
    /// A custom token's Strapi actions, such as `api::article.article.find`.
    pub actions: HashSet<String>,
    expires_at: Option<SystemTime>,
}

impl ApiToken {
    /// The name used in rooms and rules: lower case, spaces as `-` (`Read Only` -> `read-only`).
    pub fn slug(&self) -> String {
        slug(&self.name)
    }

    /// What Strapi lets this token read and do.
    pub fn grant(&self) -> Grant<'_> {
        match self.kind {
            TokenType::FullAccess => Grant::Everything,
            TokenType::ReadOnly => Grant::ReadOnly,
            TokenType::Custom => Grant::Actions(&self.actions),
        }
    }
}

pub fn slug(name: &str) -> String {
    name.trim()
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

type Key = [u8; 32];

fn digest(key: &str) -> Key {
    Sha256::digest(key.as_bytes()).into()
}

#[derive(Debug, Default)]
struct Loaded {
    tokens: HashMap<Key, ApiToken>,
    /// When the list was read; `None`: never.
    at: Option<Instant>,
    /// When a reload was last tried (read or not).
    tried: Option<Instant>,
}

#[derive(Debug)]
pub struct ApiTokens {
    admin: Arc<AdminApi>,
    ttl: Duration,
    loaded: tokio::sync::Mutex<Loaded>,
    /// A copy of the token list for readers that must not wait (content delivery).
    snapshot: std::sync::Mutex<Vec<ApiToken>>,
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
            snapshot: Default::default(),
        }
    }

    /// Is token login configured at all?
    pub fn enabled(&self) -> bool {
        self.admin.enabled()
    }

    /// The token behind `key`.
    pub async fn verify(&self, key: &str) -> Result<ApiToken, AuthError> {
        if !self.enabled() {
            return Err(AuthError::ApiTokensNotConfigured);
        }
        let wanted = digest(key);
        let mut loaded = self.loaded.lock().await;
        let fresh = loaded.at.is_some_and(|at| at.elapsed() < self.ttl);
        let may_reload = loaded
            .tried
            .is_none_or(|t| t.elapsed() >= RELOAD_AT_MOST_EVERY);
        let known = loaded.tokens.contains_key(&wanted);
        if (!fresh || !known) && may_reload {
            loaded.tried = Some(Instant::now());
            match self.load().await {
                Ok(tokens) => {
                    if let Ok(mut snapshot) = self.snapshot.lock() {
                        *snapshot = tokens.values().cloned().collect();
                    }
                    loaded.tokens = tokens;
                    loaded.at = Some(Instant::now());
                }
                Err(e) => tracing::warn!("cannot read Strapi's API tokens: {e}"),
            }
        }
        if loaded.at.is_none() {
            return Err(AuthError::Unavailable);
        }
        let token = loaded.tokens.get(&wanted).ok_or(AuthError::Invalid)?;
        if token.expires_at.is_some_and(|at| at <= SystemTime::now()) {
            return Err(AuthError::Expired);
        }
        Ok(token.clone())
    }

    /// Every token last read from Strapi (empty before the first token login).
    pub fn known(&self) -> Vec<ApiToken> {
        self.snapshot.lock().map(|s| s.clone()).unwrap_or_default()
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
        Ok(tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_types_become_grants() {
        use crate::config::Permission::*;
        let token = |kind, actions: &[&str]| ApiToken {
            name: "t".into(),
            kind,
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
            expires_at: None,
        };
        let read_only = token(TokenType::ReadOnly, &[]);
        assert!(read_only.grant().allows("api::page.page", Find));
        assert!(!read_only.grant().allows("api::page.page", Update));
        assert!(
            token(TokenType::FullAccess, &[])
                .grant()
                .allows("api::page.page", Delete)
        );
        let custom = token(
            TokenType::Custom,
            &[
                "api::article.article.findOne",
                "api::article.article.update",
            ],
        );
        assert!(custom.grant().allows("api::article.article", Update));
        assert!(
            !custom.grant().allows("api::article.article", Find),
            "findOne alone lists nothing, as for Strapi's relation check"
        );
    }

    #[test]
    fn strapi_dates_parse() {
        assert!(humantime::parse_rfc3339("2026-11-25T22:42:50.389Z").is_ok());
    }

    #[test]
    fn names_become_room_safe() {
        assert_eq!(slug("Read Only"), "read-only");
        assert_eq!(slug(" Dashboard "), "dashboard");
        assert_eq!(slug("a.b/c"), "a-b-c");
    }

    #[tokio::test]
    async fn without_admin_credentials_token_logins_are_refused() {
        let config = StrapiConfig::default();
        let http = crate::strapi::http::client(Duration::from_secs(1), None).expect("client");
        let tokens = ApiTokens::new(&config, Arc::new(AdminApi::new(&config, http)));
        assert!(!tokens.enabled());
        assert_eq!(
            tokens.verify("key").await,
            Err(AuthError::ApiTokensNotConfigured)
        );
    }
}
