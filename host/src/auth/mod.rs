//! Who a connecting socket is: a Strapi users-permissions JWT, verified here (HS256 with
//! `JWT_SECRET`; the legacy `{id}` and the refresh-mode `{userId, type: "access"}` payloads;
//! refresh and expired tokens refused), then the user's role, `blocked` and `confirmed` looked
//! up in Strapi and trusted for `strapi.identity_cache_ms`. API tokens: see [`api_tokens`].
//! No token: the Public role.
//! Without `strapi.jwt_secret` Strapi authentication is off: every socket is Public and a
//! token is left, unread, in the `auth` object handlers see.
//!
//! The `Display` text of [`AuthError`] is the client's `connect_error` message.

pub mod api_tokens;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

use crate::config::StrapiConfig;
use crate::model::{AUTHENTICATED_ROLE, Identity, User};
use crate::strapi::credentials::LiveCredentials;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("Invalid token.")]
    Invalid,
    #[error("Token expired")]
    Expired,
    #[error("Your account has been blocked")]
    Blocked,
    #[error("Your account email is not confirmed")]
    NotConfirmed,
    #[error("Token authentication is not configured on this server")]
    NotConfigured,
    #[error(
        "API token authentication is not configured on this server (strapi.admin_email / admin_password)"
    )]
    ApiTokensNotConfigured,
    #[error("Authentication is unavailable right now, try again")]
    Unavailable,
    #[error("Authentication required")]
    Required,
    #[error("Role `{0}` may not connect")]
    RoleRefused(String),
    #[error("Role `{role}` may not connect to {namespace}")]
    NamespaceRefused { role: String, namespace: String },
}

/// `[access]`: may `identity` connect to `namespace`?
pub fn admit(
    access: &crate::config::AccessConfig,
    identity: &Identity,
    namespace: &str,
) -> Result<(), AuthError> {
    if access.require_auth && identity.user.is_none() {
        return Err(AuthError::Required);
    }
    if !access.roles.is_empty() && !access.roles.contains(&identity.role) {
        return Err(AuthError::RoleRefused(identity.role.clone()));
    }
    if let Some(roles) = access.namespaces.get(namespace)
        && !roles.contains(&identity.role)
    {
        return Err(AuthError::NamespaceRefused {
            role: identity.role.clone(),
            namespace: namespace.to_owned(),
        });
    }
    Ok(())
}

/// The claims iohost reads from a users-permissions JWT.
#[derive(Debug, Deserialize)]
struct Claims {
    /// Legacy mode: the user id, a number.
    id: Option<Value>,
    /// Refresh mode: the user id, a string.
    #[serde(rename = "userId")]
    user_id: Option<Value>,
    /// Refresh mode: `access` or `refresh`.
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// What `GET /api/users/me?populate=role` answers.
#[derive(Debug, Clone, Deserialize)]
struct StrapiUser {
    id: u64,
    username: String,
    blocked: Option<bool>,
    confirmed: Option<bool>,
    role: Option<StrapiRole>,
}

#[derive(Debug, Clone, Deserialize)]
struct StrapiRole {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug)]
pub struct Authenticator {
    /// `jwt_secret`, `url` and `api_token` at each use: they may change while iohost runs.
    credentials: LiveCredentials,
    /// How users' JWTs are checked: HS256, `exp` required, `nbf` checked, leeway as configured.
    validation: Validation,
    http: reqwest::Client,
    cache: Mutex<HashMap<u64, (Instant, StrapiUser)>>,
    /// One lookup per user at a time: a storm of connections by one user asks Strapi once,
    /// the others wait for its answer.
    lookups: Mutex<HashMap<u64, Arc<tokio::sync::Mutex<()>>>>,
    ttl: Duration,
    /// Strapi's API tokens.
    pub tokens: api_tokens::ApiTokens,
    /// Strapi's admin API, as `strapi.admin_email` (shared with content delivery's reads).
    pub admin: Arc<crate::strapi::admin_api::AdminApi>,
}

impl Authenticator {
    pub fn new(config: &StrapiConfig, credentials: LiveCredentials) -> anyhow::Result<Self> {
        let http = crate::strapi::client::client(
            Duration::from_millis(config.lookup_timeout_ms),
            Some(&config.ca_file),
        )?;
        let admin = Arc::new(crate::strapi::admin_api::AdminApi::new(
            credentials.clone(),
            http.clone(),
        ));
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp"]);
        validation.validate_nbf = true;
        // jsonwebtoken allows 60 s by default; Strapi (node's jsonwebtoken) allows none.
        validation.leeway = config.jwt_leeway_s;
        Ok(Self {
            tokens: api_tokens::ApiTokens::new(config, admin.clone()),
            admin,
            credentials,
            validation,
            http,
            cache: Mutex::new(HashMap::new()),
            lookups: Mutex::new(HashMap::new()),
            ttl: Duration::from_millis(config.identity_cache_ms),
        })
    }

    /// The identity behind a handshake from client address `from`: `auth.token` (or the
    /// `token` query parameter) with `auth.strategy` (`jwt` by default; anything else means an
    /// API token).
    pub async fn identify(
        &self,
        auth: &Value,
        query_token: Option<&str>,
        from: Option<std::net::IpAddr>,
    ) -> Result<Identity, AuthError> {
        let Some(token) = auth
            .get("token")
            .and_then(Value::as_str)
            .or(query_token)
            .filter(|t| !t.is_empty())
        else {
            return Ok(Identity::public());
        };
        let strategy = auth
            .get("strategy")
            .and_then(Value::as_str)
            .unwrap_or("jwt");
        if strategy != "jwt" && self.tokens.enabled() {
            // As the plugin: any strategy but `jwt` means an API token.
            let token = self.tokens.verify(token, from).await?;
            return Ok(Identity::token(&token.slug()));
        }
        if self.credentials.now().jwt_secret.is_empty() && !self.tokens.enabled() {
            // Strapi authentication is off: the token is not ours to judge.
            return Ok(Identity::public());
        }
        if strategy != "jwt" {
            return Err(AuthError::ApiTokensNotConfigured);
        }
        let user_id = self.verify(token)?;
        let user = self.user(user_id, token).await?;
        standing(user)
    }

    /// Who user `id` is in Strapi now, read again with iohost's API token past the cache (what
    /// a socket of theirs that connected earlier should be); the cache keeps the answer. `None`
    /// without `strapi.api_token`: a user can then be read only with their own token. A
    /// deleted user is `Invalid`, as their token would be.
    pub async fn recheck(&self, id: u64) -> Option<Result<Identity, AuthError>> {
        if !self.reads_roles() {
            return None;
        }
        Some(self.look_up(id, "").await.and_then(standing))
    }

    /// Forgets what the cache holds of user `id`: the next connection asks Strapi.
    pub fn forget(&self, id: u64) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(&id);
        }
    }

    /// Are users' roles read from Strapi? Only with `strapi.api_token`: without it a user is
    /// looked up with their own token, whose `/api/users/me` answer does not show the role, and
    /// [`Self::identify`] says `authenticated` (the caller narrows that where it may be wrong).
    pub fn reads_roles(&self) -> bool {
        !self.credentials.now().api_token.is_empty()
    }

    /// Checks the signature, expiry and not-before time; returns the user id.
    fn verify(&self, token: &str) -> Result<u64, AuthError> {
        let credentials = self.credentials.now();
        if credentials.jwt_secret.is_empty() {
            return Err(AuthError::NotConfigured);
        }
        let key = DecodingKey::from_secret(credentials.jwt_secret.as_bytes());
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid,
            })?
            .claims;
        if claims.kind.as_deref().is_some_and(|k| k != "access") {
            // A refresh token is never an access token.
            return Err(AuthError::Invalid);
        }
        let id = claims.id.or(claims.user_id).ok_or(AuthError::Invalid)?;
        match id {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
        .ok_or(AuthError::Invalid)
    }

    /// The user from the cache if fresh, else from Strapi (one lookup per user at a time).
    async fn user(&self, id: u64, token: &str) -> Result<StrapiUser, AuthError> {
        if let Some(user) = self.cached(id) {
            return Ok(user);
        }
        let gate = match self.lookups.lock() {
            Ok(mut lookups) => lookups.entry(id).or_default().clone(),
            Err(_) => Arc::default(),
        };
        let turn = gate.lock().await;
        // Whoever held the gate before may have filled the cache.
        let found = match self.cached(id) {
            Some(user) => Ok(user),
            None => self.look_up(id, token).await,
        };
        drop(turn);
        if let Ok(mut lookups) = self.lookups.lock()
            && Arc::strong_count(&gate) <= 2
        {
            // Nobody else waits (clones are taken under this lock): the gate can go.
            lookups.remove(&id);
        }
        found
    }

    /// Asks Strapi: with iohost's API token (which shows the role), or else with the user's
    /// own token.
    async fn look_up(&self, id: u64, token: &str) -> Result<StrapiUser, AuthError> {
        let credentials = self.credentials.now();
        let with_api_token = !credentials.api_token.is_empty();
        let request = match with_api_token {
            true => self
                .http
                .get(format!("{}/api/users/{id}?populate=role", credentials.url))
                .bearer_auth(&credentials.api_token),
            false => self
                .http
                .get(format!("{}/api/users/me", credentials.url))
                .bearer_auth(token),
        };
        let response = request.send().await.map_err(|e| {
            tracing::warn!(
                "cannot reach Strapi to look a user up: {}",
                crate::strapi::client::describe(&e)
            );
            AuthError::Unavailable
        })?;
        let status = response.status();
        let refused = [
            reqwest::StatusCode::UNAUTHORIZED,
            reqwest::StatusCode::FORBIDDEN,
        ];
        if !with_api_token && refused.contains(&status) {
            // Strapi refuses the token of a user it has blocked or deleted.
            return Err(AuthError::Invalid);
        }
        if status == reqwest::StatusCode::NOT_FOUND {
            // The token is genuine but its user is gone.
            return Err(AuthError::Invalid);
        }
        if !status.is_success() {
            tracing::warn!(%status, "Strapi answered a user lookup with an error");
            return Err(AuthError::Unavailable);
        }
        let body = response.bytes().await.map_err(|e| {
            tracing::warn!("Strapi's user lookup answer did not arrive whole: {e}");
            AuthError::Unavailable
        })?;
        // Strapi answers a user it no longer has with an empty body (or `null`), not 404.
        if body.trim_ascii().is_empty() {
            return Err(AuthError::Invalid);
        }
        let user: Option<StrapiUser> = serde_json::from_slice(&body).map_err(|e| {
            tracing::warn!("Strapi's user lookup answer is not understood: {e}");
            AuthError::Unavailable
        })?;
        let user = user.ok_or(AuthError::Invalid)?;
        if user.id != id {
            return Err(AuthError::Invalid);
        }
        if let Ok(mut cache) = self.cache.lock() {
            // Expired entries go when the map doubles (amortised: no sweep per lookup).
            if cache.len() >= 1024 && cache.len().is_power_of_two() {
                cache.retain(|_, (at, _)| at.elapsed() < self.ttl);
            }
            cache.insert(id, (Instant::now(), user.clone()));
        }
        Ok(user)
    }

    fn cached(&self, id: u64) -> Option<StrapiUser> {
        let cache = self.cache.lock().ok()?;
        cache
            .get(&id)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, user)| user.clone())
    }
}

/// What Strapi's answer about a user lets them be: refused when blocked or unconfirmed, else
/// their role (only a lookup with iohost's API token shows it, see `reads_roles`).
fn standing(user: StrapiUser) -> Result<Identity, AuthError> {
    if user.blocked == Some(true) {
        return Err(AuthError::Blocked);
    }
    if user.confirmed == Some(false) {
        return Err(AuthError::NotConfirmed);
    }
    let role = user
        .role
        .map(|r| r.kind.to_lowercase())
        .unwrap_or_else(|| AUTHENTICATED_ROLE.to_owned());
    Ok(Identity {
        role,
        user: Some(User {
            id: user.id,
            username: user.username,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    const SECRET: &str = "test-jwt-secret";

    fn build(config: &StrapiConfig) -> anyhow::Result<Authenticator> {
        Authenticator::new(config, LiveCredentials::of(config))
    }

    fn authenticator() -> Authenticator {
        let config = StrapiConfig {
            jwt_secret: SECRET.into(),
            ..StrapiConfig::default()
        };
        build(&config).expect("authenticator")
    }

    fn token(claims: Value) -> String {
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .expect("token")
    }

    fn in_an_hour() -> u64 {
        jsonwebtoken::get_current_timestamp() + 3600
    }

    /// Answers every HTTP request with user `{id}` taken from the path, slowly, and counts them:
    /// the one thing a real Strapi cannot tell a test (how often it was asked).
    async fn counting_users_endpoint() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = asked.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let count = count.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let n = stream.read(&mut buf).await.unwrap_or(0);
                    let request = String::from_utf8_lossy(&buf[..n]).into_owned();
                    count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let id: u64 = request
                        .split("/api/users/")
                        .nth(1)
                        .and_then(|rest| rest.split('?').next())
                        .and_then(|id| id.parse().ok())
                        .unwrap_or(0);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let body = json!({"id": id, "username": format!("u{id}"), "role": {"type": "authenticated"}}).to_string();
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                });
            }
        });
        (url, asked)
    }

    #[tokio::test]
    async fn a_storm_of_one_users_connections_asks_strapi_once_per_user() {
        let (url, asked) = counting_users_endpoint().await;
        let a = Arc::new(
            build(&StrapiConfig {
                jwt_secret: SECRET.into(),
                api_token: "api-token".into(),
                url,
                ..StrapiConfig::default()
            })
            .expect("authenticator"),
        );
        let mut handshakes = Vec::new();
        for i in 0..60u64 {
            let a = a.clone();
            let auth = json!({"token": token(json!({"id": 1 + i % 3, "exp": in_an_hour()}))});
            handshakes.push(tokio::spawn(
                async move { a.identify(&auth, None, None).await },
            ));
        }
        for (i, h) in handshakes.into_iter().enumerate() {
            let identity = h.await.expect("task").expect("identified");
            assert_eq!(identity.user.map(|u| u.id), Some(1 + i as u64 % 3));
        }
        assert_eq!(
            asked.load(std::sync::atomic::Ordering::SeqCst),
            3,
            "one lookup per user"
        );
        assert!(
            a.lookups.lock().expect("lock").is_empty(),
            "no gate is left behind"
        );
    }

    #[test]
    fn accepts_legacy_and_access_tokens() {
        let a = authenticator();
        assert_eq!(
            a.verify(&token(json!({"id": 7, "exp": in_an_hour()}))),
            Ok(7)
        );
        assert_eq!(
            a.verify(&token(
                json!({"userId": "8", "type": "access", "exp": in_an_hour()})
            )),
            Ok(8)
        );
    }

    #[test]
    fn refuses_refresh_expired_forged_and_odd_tokens() {
        let a = authenticator();
        assert_eq!(
            a.verify(&token(
                json!({"userId": "8", "type": "refresh", "exp": in_an_hour()})
            )),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            a.verify(&token(json!({"id": 7, "exp": 1000}))),
            Err(AuthError::Expired)
        );
        let now = jsonwebtoken::get_current_timestamp();
        for ago in [1, 30] {
            assert_eq!(
                a.verify(&token(json!({"id": 7, "exp": now - ago}))),
                Err(AuthError::Expired),
                "expired {ago} s ago: Strapi refuses it too (no leeway)"
            );
        }
        assert_eq!(
            a.verify(&token(json!({"id": 7, "exp": now + 600, "nbf": now + 30}))),
            Err(AuthError::Invalid),
            "not valid yet"
        );
        assert_eq!(
            a.verify(&token(json!({"id": 7, "exp": now + 600, "nbf": now}))),
            Ok(7)
        );
        let skewed = build(&StrapiConfig {
            jwt_secret: SECRET.into(),
            jwt_leeway_s: 60,
            ..StrapiConfig::default()
        })
        .expect("authenticator");
        assert_eq!(
            skewed.verify(&token(json!({"id": 7, "exp": now - 30}))),
            Ok(7),
            "strapi.jwt_leeway_s allows for clock skew"
        );
        assert_eq!(
            a.verify(&token(json!({"id": 7}))),
            Err(AuthError::Invalid),
            "no expiry"
        );
        assert_eq!(
            a.verify(&token(json!({"id": "x", "exp": in_an_hour()}))),
            Err(AuthError::Invalid)
        );
        assert_eq!(a.verify("not.a.jwt"), Err(AuthError::Invalid));
        let forged = encode(
            &Header::default(),
            &json!({"id": 1, "exp": in_an_hour()}),
            &EncodingKey::from_secret(b"other"),
        )
        .expect("token");
        assert_eq!(a.verify(&forged), Err(AuthError::Invalid));
        let none = build(&StrapiConfig::default()).expect("authenticator");
        assert_eq!(none.verify(&forged), Err(AuthError::NotConfigured));
    }

    #[tokio::test]
    async fn no_token_is_public_and_api_tokens_need_admin_credentials() {
        let a = authenticator();
        assert_eq!(
            a.identify(&json!({}), None, None).await,
            Ok(Identity::public())
        );
        assert_eq!(
            a.identify(&json!({"token": ""}), None, None).await,
            Ok(Identity::public())
        );
        assert_eq!(
            a.identify(&json!({"token": "x", "strategy": "api-token"}), None, None)
                .await,
            Err(AuthError::ApiTokensNotConfigured)
        );
    }
}

#[cfg(test)]
mod access_tests {
    use super::*;
    use crate::config::AccessConfig;

    fn user(role: &str) -> Identity {
        Identity {
            role: role.into(),
            user: Some(User {
                id: 1,
                username: "u".into(),
            }),
        }
    }

    #[test]
    fn access_rules() {
        let mut access = AccessConfig::default();
        assert_eq!(admit(&access, &Identity::public(), "/"), Ok(()));
        access
            .namespaces
            .insert("/admin".into(), vec!["admin".into()]);
        assert_eq!(admit(&access, &user("admin"), "/admin"), Ok(()));
        assert_eq!(
            admit(&access, &user("authenticated"), "/admin").map_err(|e| e.to_string()),
            Err("Role `authenticated` may not connect to /admin".into())
        );
        assert_eq!(
            admit(&access, &Identity::public(), "/"),
            Ok(()),
            "other namespaces stay open"
        );
        access.require_auth = true;
        assert_eq!(
            admit(&access, &Identity::public(), "/"),
            Err(AuthError::Required)
        );
        access.require_auth = false;
        access.roles = vec!["public".into()];
        assert_eq!(
            admit(&access, &user("authenticated"), "/"),
            Err(AuthError::RoleRefused("authenticated".into()))
        );
    }
}
