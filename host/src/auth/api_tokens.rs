//! Strapi API tokens clients may connect with (`auth: {strategy: "api-token", token}`).
//!
//! Strapi keeps only an HMAC of each key and has no endpoint that says whose a key is, so iohost
//! reads the token list through Strapi's admin API (`strapi.admin_email` / `admin_password`):
//! names, types, expiry, permissions and keys. It keeps only a SHA-256 digest of each key, and
//! reloads the list after `identity_cache_ms`, or sooner when an unknown key shows up (at most
//! once per [`RELOAD_AT_MOST_EVERY`], so a stream of bad keys cannot flood Strapi). While Strapi
//! cannot be reached, the last list read keeps working.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::AuthError;
use crate::config::{Permission, StrapiConfig};

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
    /// Content type (singular name, `*` for all) -> what the token may do with it.
    pub permissions: BTreeMap<String, Vec<Permission>>,
    expires_at: Option<SystemTime>,
}

impl ApiToken {
    /// The name used in rooms and rules: lower case, spaces as `-` (`Read Only` -> `read-only`).
    pub fn slug(&self) -> String {
        slug(&self.name)
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

/// What a token may do, from its Strapi type and (for custom ones) its Strapi permissions such
/// as `api::article.article.find`.
fn permissions_of(kind: TokenType, strapi: &[String]) -> BTreeMap<String, Vec<Permission>> {
    use Permission::*;
    let mut out: BTreeMap<String, Vec<Permission>> = BTreeMap::new();
    match kind {
        TokenType::FullAccess => {
            out.insert(
                "*".into(),
                vec![Find, Create, Update, Delete, Publish, Unpublish],
            );
        }
        TokenType::ReadOnly => {
            out.insert("*".into(), vec![Find]);
        }
        TokenType::Custom => {
            for action in strapi {
                // `<kind>::<api>.<contentType>.<action>`
                let mut parts = action.rsplitn(3, '.');
                let (Some(verb), Some(model)) = (parts.next(), parts.next()) else {
                    continue;
                };
                let permission = match verb {
                    "find" | "findOne" => Find,
                    "create" => Create,
                    "update" => Update,
                    "delete" => Delete,
                    "publish" => Publish,
                    "unpublish" => Unpublish,
                    _ => continue,
                };
                let list = out.entry(model.to_owned()).or_default();
                if !list.contains(&permission) {
                    list.push(permission);
                }
            }
        }
    }
    out
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

#[derive(Debug, thiserror::Error)]
enum LoadError {
    #[error("cannot reach Strapi: {}", crate::strapi::http::describe(.0))]
    Unreachable(#[from] reqwest::Error),
    #[error("Strapi refused the admin login (strapi.admin_email / admin_password): {0}")]
    Login(reqwest::StatusCode),
    #[error("Strapi answered {path} with {status}")]
    Status {
        path: String,
        status: reqwest::StatusCode,
    },
}

#[derive(Debug)]
pub struct ApiTokens {
    base_url: String,
    login: Option<(String, String)>,
    http: reqwest::Client,
    ttl: Duration,
    loaded: tokio::sync::Mutex<Loaded>,
    /// A copy of the token list for readers that must not wait (content delivery).
    snapshot: std::sync::Mutex<Vec<ApiToken>>,
    /// The admin session, reused until Strapi refuses it (a login hashes a password: slow).
    session: std::sync::Mutex<Option<String>>,
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

#[derive(Deserialize)]
struct Login {
    token: String,
}

impl ApiTokens {
    pub fn new(config: &StrapiConfig, http: reqwest::Client) -> Self {
        let login = (!config.admin_email.is_empty() && !config.admin_password.is_empty())
            .then(|| (config.admin_email.clone(), config.admin_password.clone()));
        Self {
            base_url: config.url.trim_end_matches('/').to_owned(),
            login,
            http,
            ttl: Duration::from_millis(config.identity_cache_ms),
            loaded: Default::default(),
            snapshot: Default::default(),
            session: Default::default(),
        }
    }

    /// Is token login configured at all?
    pub fn enabled(&self) -> bool {
        self.login.is_some()
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

    async fn load(&self) -> Result<HashMap<Key, ApiToken>, LoadError> {
        let (admin, listed) = self.list().await?;
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
            let detail: Detailed = self
                .get(&admin, &format!("/admin/api-tokens/{}", item.id))
                .await?;
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
                    permissions: permissions_of(detail.kind, &detail.permissions),
                    name: detail.name,
                    kind: detail.kind,
                    expires_at,
                },
            );
        }
        tracing::debug!(count = tokens.len(), "read Strapi's API tokens");
        Ok(tokens)
    }

    /// The token list, with the kept admin session, or a new one if there is none or Strapi
    /// refuses it (expired).
    async fn list(&self) -> Result<(String, Vec<Listed>), LoadError> {
        let session = self.session.lock().ok().and_then(|s| s.clone());
        if let Some(admin) = session {
            match self.get(&admin, "/admin/api-tokens").await {
                Err(LoadError::Status { status, .. })
                    if status == reqwest::StatusCode::UNAUTHORIZED => {}
                listed => return Ok((admin, listed?)),
            }
        }
        let admin = self.log_in().await?;
        let listed = self.get(&admin, "/admin/api-tokens").await?;
        Ok((admin, listed))
    }

    /// Signs in as the token reader; the session is kept for the next loads.
    async fn log_in(&self) -> Result<String, LoadError> {
        let Some((email, password)) = &self.login else {
            return Err(LoadError::Login(reqwest::StatusCode::UNAUTHORIZED));
        };
        let login = self
            .http
            .post(format!("{}/admin/login", self.base_url))
            .json(&serde_json::json!({ "email": email, "password": password }))
            .send()
            .await?;
        if !login.status().is_success() {
            return Err(LoadError::Login(login.status()));
        }
        let admin = login.json::<Envelope<Login>>().await?.data.token;
        if let Ok(mut session) = self.session.lock() {
            *session = Some(admin.clone());
        }
        Ok(admin)
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        admin: &str,
        path: &str,
    ) -> Result<T, LoadError> {
        let response = self
            .http
            .get(format!("{}{path}", self.base_url))
            .bearer_auth(admin)
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            return Err(LoadError::Status {
                path: path.to_owned(),
                status,
            });
        }
        Ok(response.json::<Envelope<T>>().await?.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_types_become_permissions() {
        use Permission::*;
        assert_eq!(
            permissions_of(TokenType::ReadOnly, &[]),
            BTreeMap::from([("*".to_owned(), vec![Find])])
        );
        assert_eq!(
            permissions_of(TokenType::FullAccess, &[])["*"].len(),
            6,
            "everything"
        );
        let custom = permissions_of(
            TokenType::Custom,
            &[
                "api::article.article.find".into(),
                "api::article.article.findOne".into(),
                "api::article.article.update".into(),
                "plugin::upload.content-api.upload".into(),
                "nonsense".into(),
            ],
        );
        assert_eq!(
            custom,
            BTreeMap::from([("article".to_owned(), vec![Find, Update])])
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
        let tokens = ApiTokens::new(
            &StrapiConfig::default(),
            crate::strapi::http::client(Duration::from_secs(1), None).expect("client"),
        );
        assert!(!tokens.enabled());
        assert_eq!(
            tokens.verify("key").await,
            Err(AuthError::ApiTokensNotConfigured)
        );
    }
}
