//! Reading Strapi's admin API as `strapi.admin_email` (the user `iohost strapi setup` creates,
//! which may only read API tokens, role permissions and content types). One signed-in session
//! is kept and shared by everything that reads (API tokens, content types, roles), and renewed
//! when Strapi refuses it; a login hashes a password, so it is slow. New credentials (the
//! config file changed) end the session.

use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;

use super::credentials::{Credentials, LiveCredentials};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("strapi.admin_email / admin_password are not set")]
    NotConfigured,
    #[error("cannot reach Strapi: {}", super::client::describe(.0))]
    Unreachable(#[from] reqwest::Error),
    #[error("Strapi refused the admin login (strapi.admin_email / admin_password): {0}")]
    Login(reqwest::StatusCode),
    #[error("Strapi answered {path} with {status}")]
    Status {
        path: String,
        status: reqwest::StatusCode,
    },
}

impl AdminError {
    /// Strapi answered that this admin may not read it (not a passing failure).
    pub fn is_forbidden(&self) -> bool {
        matches!(self, Self::Status { status, .. } if *status == reqwest::StatusCode::FORBIDDEN)
    }
}

#[derive(Debug)]
pub struct AdminApi {
    credentials: LiveCredentials,
    http: reqwest::Client,
    /// The session, with the credentials it was signed in with.
    session: Mutex<Option<(Arc<Credentials>, String)>>,
}

#[derive(serde::Deserialize)]
struct Login {
    data: LoginData,
}

#[derive(serde::Deserialize)]
struct LoginData {
    token: String,
}

impl AdminApi {
    pub fn new(credentials: LiveCredentials, http: reqwest::Client) -> Self {
        Self {
            credentials,
            http,
            session: Mutex::new(None),
        }
    }

    /// Is an admin login configured at all?
    pub fn enabled(&self) -> bool {
        self.credentials.now().admin_login().is_some()
    }

    /// `GET <path>` as the admin, signing in first when there is no session (or one signed in
    /// with other credentials) or Strapi refuses the kept one (expired).
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, AdminError> {
        let credentials = self.credentials.now();
        let kept = self
            .session
            .lock()
            .ok()
            .and_then(|s| s.clone())
            .filter(|(with, _)| Arc::ptr_eq(with, &credentials));
        if let Some((_, session)) = kept {
            match self.get_as(&credentials.url, &session, path).await {
                Err(AdminError::Status { status, .. })
                    if status == reqwest::StatusCode::UNAUTHORIZED => {}
                answer => return answer,
            }
        }
        let session = self.log_in(&credentials).await?;
        self.get_as(&credentials.url, &session, path).await
    }

    async fn log_in(&self, credentials: &Arc<Credentials>) -> Result<String, AdminError> {
        let Some((email, password)) = credentials.admin_login() else {
            return Err(AdminError::NotConfigured);
        };
        let login = self
            .http
            .post(format!("{}/admin/login", credentials.url))
            .json(&serde_json::json!({ "email": email, "password": password }))
            .send()
            .await?;
        if !login.status().is_success() {
            return Err(AdminError::Login(login.status()));
        }
        let token = login.json::<Login>().await?.data.token;
        if let Ok(mut session) = self.session.lock() {
            *session = Some((credentials.clone(), token.clone()));
        }
        Ok(token)
    }

    async fn get_as<T: DeserializeOwned>(
        &self,
        base_url: &str,
        session: &str,
        path: &str,
    ) -> Result<T, AdminError> {
        let response = self
            .http
            .get(format!("{base_url}{path}"))
            .bearer_auth(session)
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            return Err(AdminError::Status {
                path: path.to_owned(),
                status,
            });
        }
        Ok(response.json::<T>().await?)
    }
}
