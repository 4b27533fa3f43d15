//! `iohost strapi setup`: signs in to Strapi's admin API, creates (or updates) the webhook that
//! points at this iohost with a fresh secret, makes sure iohost has an API token for user
//! lookups and an admin user that may only read API tokens (for API-token logins) and role
//! permissions (so content events follow Strapi's roles), and writes
//! `strapi.url`, `webhook_secret`, `api_token`, `admin_email` and `admin_password` into the
//! config file (other keys and comments kept). No clicking in Strapi's admin panel.

use std::path::Path;

use serde_json::{Value, json};

/// The name of the webhook and of the API token iohost creates in Strapi.
pub const NAME: &str = "iohost";
/// The admin role iohost's reader has: Settings > API tokens, read, and Users & Permissions >
/// roles, read; nothing else (any admin may read the content types' schemas).
pub const READER_ROLE: &str = "iohost token reader";
/// The admin user iohost reads API tokens as.
pub const READER_EMAIL: &str = "iohost-token-reader@iohost.invalid";
const EVENTS: &[&str] = &[
    "entry.create",
    "entry.update",
    "entry.delete",
    "entry.publish",
    "entry.unpublish",
    "entry.draft-discard",
    "media.create",
    "media.update",
    "media.delete",
];

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot reach Strapi at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("Strapi refused the admin login (check the email and password)")]
    Login,
    #[error("Strapi refused {what}: {reason}")]
    Refused { what: String, reason: String },
    #[error("cannot update {path}: {reason}")]
    Config { path: String, reason: String },
}

pub struct Options<'a> {
    pub strapi_url: &'a str,
    pub email: &'a str,
    pub password: &'a str,
    /// The URL Strapi reaches iohost at (not a loopback address when Strapi runs in production).
    pub public_url: &'a str,
    pub webhook_path: &'a str,
    pub config_file: &'a Path,
    /// Extra trusted certificates (PEM) for an https Strapi.
    pub ca_file: Option<&'a Path>,
    /// Set up for iohost's Strapi plugin instead of the webhook: no webhook (an existing one
    /// named [`NAME`] is deleted, or every change would arrive twice), and an API key for the
    /// plugin in `api.keys`.
    pub plugin: bool,
}

pub struct Report {
    pub webhook_url: String,
    /// The webhook: created, updated, or (with `plugin`) deleted or absent.
    pub webhook: WebhookChange,
    /// With `plugin`: the API key the plugin sends (the first of `api.keys`, made if none), and
    /// whether it was made now.
    pub plugin_key: Option<(String, bool)>,
    pub token_created: bool,
    pub reader_created: bool,
}

struct Admin {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Admin {
    /// Signs in as the admin `options` names.
    async fn login(options: &Options<'_>) -> Result<Self, SetupError> {
        let base = options.strapi_url.trim_end_matches('/').to_owned();
        let unreachable = |reason: String| SetupError::Unreachable {
            url: base.clone(),
            reason,
        };
        let http = super::client::client(std::time::Duration::from_secs(15), options.ca_file)
            .map_err(|e| unreachable(e.to_string()))?;
        let login = http
            .post(format!("{base}/admin/login"))
            .json(&json!({ "email": options.email, "password": options.password }))
            .send()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        if !login.status().is_success() {
            return Err(SetupError::Login);
        }
        let login: Value = login.json().await.map_err(|_| SetupError::Login)?;
        let token = login["data"]["token"]
            .as_str()
            .ok_or(SetupError::Login)?
            .to_owned();
        Ok(Self { http, base, token })
    }

    /// The id of the item called `name` in the list `GET path` answers (`data`).
    async fn find(&self, path: &str, name: &str, what: &str) -> Result<Option<String>, SetupError> {
        let answer = self.call(reqwest::Method::GET, path, None, what).await?;
        Ok(answer["data"]
            .as_array()
            .and_then(|all| all.iter().find(|item| item["name"] == name))
            .and_then(|item| id_of(&item["id"])))
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        what: &str,
    ) -> Result<Value, SetupError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| SetupError::Unreachable {
            url: self.base.clone(),
            reason: e.to_string(),
        })?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let reason = body["error"]["message"]
                .as_str()
                .unwrap_or("no reason given")
                .to_owned();
            return Err(SetupError::Refused {
                what: what.to_owned(),
                reason: format!("{status}: {reason}"),
            });
        }
        Ok(body)
    }
}

/// Strapi answers ids as numbers or as strings, depending on the API.
fn id_of(id: &Value) -> Option<String> {
    match id {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn random_secret() -> Result<String, SetupError> {
    crate::random::hex(24).map_err(|e| SetupError::Config {
        path: "/dev/urandom".into(),
        reason: e.to_string(),
    })
}

pub async fn run(options: &Options<'_>) -> Result<Report, SetupError> {
    let admin = Admin::login(options).await?;
    let secret = random_secret()?;
    let webhook_url = format!(
        "{}{}",
        options.public_url.trim_end_matches('/'),
        options.webhook_path
    );
    let webhook = match options.plugin {
        false => match ensure_webhook(&admin, &webhook_url, &secret).await? {
            true => WebhookChange::Created,
            false => WebhookChange::Updated,
        },
        true => remove_webhook(&admin).await?,
    };
    let (access_key, token_created) = fresh_api_token(&admin).await?;
    let reader_password = format!("Io{}7", random_secret()?);
    let reader_created = token_reader(&admin, &reader_password).await?;

    let mut keys = vec![
        ("url", admin.base.as_str()),
        ("api_token", access_key.as_str()),
        ("admin_email", READER_EMAIL),
        ("admin_password", reader_password.as_str()),
    ];
    if !options.plugin {
        keys.push(("webhook_secret", &secret));
    }
    write_config(options.config_file, &keys)?;
    let plugin_key = match options.plugin {
        true => Some(ensure_api_key(options.config_file)?),
        false => None,
    };
    Ok(Report {
        webhook_url,
        webhook,
        plugin_key,
        token_created,
        reader_created,
    })
}

/// What became of the webhook named [`NAME`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookChange {
    Created,
    Updated,
    Deleted,
    Absent,
}

/// Deletes the webhook named [`NAME`], if there is one: with the plugin, it would send every
/// change a second time.
async fn remove_webhook(admin: &Admin) -> Result<WebhookChange, SetupError> {
    match admin
        .find("/admin/webhooks", NAME, "listing webhooks")
        .await?
    {
        Some(id) => {
            let path = format!("/admin/webhooks/{id}");
            admin
                .call(reqwest::Method::DELETE, &path, None, "deleting the webhook")
                .await?;
            Ok(WebhookChange::Deleted)
        }
        None => Ok(WebhookChange::Absent),
    }
}

/// The first of `api.keys` in the config file, or a new one written there; true if new.
fn ensure_api_key(path: &Path) -> Result<(String, bool), SetupError> {
    let error = |reason: String| SetupError::Config {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| error(e.to_string()))?;
    let existing = doc
        .get("api")
        .and_then(|api| api.get("keys"))
        .and_then(|keys| keys.as_array())
        .and_then(|keys| keys.get(0))
        .and_then(|key| key.as_str())
        .map(str::to_owned);
    if let Some(key) = existing {
        return Ok((key, false));
    }
    let key = crate::random::hex(32).map_err(|e| error(e.to_string()))?;
    let api = doc
        .entry("api")
        .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()))
        .as_table_mut()
        .ok_or_else(|| error("`api` is not a table".into()))?;
    let mut keys = toml_edit::Array::new();
    keys.push(key.as_str());
    api["keys"] = toml_edit::value(keys);
    write_private(path, doc.to_string().as_bytes()).map_err(|e| error(e.to_string()))?;
    Ok((key, true))
}

/// Creates or updates the webhook named [`NAME`] to post to `url` with `secret`; true if
/// created.
async fn ensure_webhook(admin: &Admin, url: &str, secret: &str) -> Result<bool, SetupError> {
    use reqwest::Method;
    let webhook = json!({
        "name": NAME,
        "url": url,
        "headers": { "Authorization": format!("Bearer {secret}") },
        "events": EVENTS,
    });
    match admin
        .find("/admin/webhooks", NAME, "listing webhooks")
        .await?
    {
        Some(id) => {
            let path = format!("/admin/webhooks/{id}");
            admin
                .call(Method::PUT, &path, Some(webhook), "updating the webhook")
                .await?;
            Ok(false)
        }
        None => {
            admin
                .call(
                    Method::POST,
                    "/admin/webhooks",
                    Some(webhook),
                    "creating the webhook",
                )
                .await?;
            Ok(true)
        }
    }
}

/// The access key of the API token named [`NAME`], made or regenerated now (Strapi shows a key
/// once, at creation or regeneration); true if the token was created.
async fn fresh_api_token(admin: &Admin) -> Result<(String, bool), SetupError> {
    use reqwest::Method;
    let existing = admin
        .find("/admin/api-tokens", NAME, "listing API tokens")
        .await?;
    let created = match &existing {
        Some(id) => {
            let path = format!("/admin/api-tokens/{id}/regenerate");
            admin
                .call(Method::POST, &path, None, "regenerating the API token")
                .await?
        }
        None => {
            let body = json!({ "name": NAME, "description": "iohost: looks up users' roles", "type": "full-access", "lifespan": null });
            admin
                .call(
                    Method::POST,
                    "/admin/api-tokens",
                    Some(body),
                    "creating the API token",
                )
                .await?
        }
    };
    let key = created["data"]["accessKey"]
        .as_str()
        .ok_or_else(|| SetupError::Refused {
            what: "the API token".into(),
            reason: "no access key in Strapi's answer".into(),
        })?;
    Ok((key.to_owned(), existing.is_none()))
}

/// Makes sure the token-reader admin user exists, with only its role and `password`. Returns
/// whether it was created.
async fn token_reader(admin: &Admin, password: &str) -> Result<bool, SetupError> {
    use reqwest::Method;
    let role = reader_role(admin).await?;
    let role_id: Value = role.parse::<u64>().map_or(json!(role), |n| json!(n));
    let users = admin
        .call(
            Method::GET,
            &format!("/admin/users?filters[email][$eq]={READER_EMAIL}"),
            None,
            "listing admin users",
        )
        .await?;
    let existing = users["data"]["results"]
        .as_array()
        .and_then(|all| all.first())
        .and_then(|u| id_of(&u["id"]));
    if let Some(id) = existing {
        let body = json!({ "password": password, "isActive": true, "roles": [role_id] });
        admin
            .call(
                Method::PUT,
                &format!("/admin/users/{id}"),
                Some(body),
                "updating the token reader",
            )
            .await?;
        return Ok(false);
    }
    let body = json!({ "firstname": "iohost", "lastname": "token reader", "email": READER_EMAIL, "roles": [role_id] });
    let created = admin
        .call(
            Method::POST,
            "/admin/users",
            Some(body),
            "creating the token reader",
        )
        .await?;
    let registration = created["data"]["registrationToken"]
        .as_str()
        .ok_or_else(|| SetupError::Refused {
            what: "the token reader".into(),
            reason: "no registration token in Strapi's answer".into(),
        })?;
    let body = json!({
        "registrationToken": registration,
        "userInfo": { "firstname": "iohost", "lastname": "token reader", "password": password },
    });
    admin
        .call(
            Method::POST,
            "/admin/register",
            Some(body),
            "activating the token reader",
        )
        .await?;
    Ok(true)
}

/// The id of the admin role [`READER_ROLE`] (made if missing), whose permissions are set on
/// every run so that it never holds more than reading API tokens and role permissions.
async fn reader_role(admin: &Admin) -> Result<String, SetupError> {
    use reqwest::Method;
    let existing = admin
        .find("/admin/roles", READER_ROLE, "listing admin roles")
        .await?;
    let role = match existing {
        Some(id) => id,
        None => {
            let body = json!({ "name": READER_ROLE, "description": "iohost reads API tokens (clients connect with them) and role permissions (who receives content events); nothing else" });
            let created = admin
                .call(
                    Method::POST,
                    "/admin/roles",
                    Some(body),
                    "creating the admin role",
                )
                .await?;
            id_of(&created["data"]["id"]).ok_or_else(|| SetupError::Refused {
                what: "the admin role".into(),
                reason: "no id in Strapi's answer".into(),
            })?
        }
    };
    let permissions = json!({ "permissions": [
        { "action": "admin::api-tokens.read", "subject": null, "properties": {}, "conditions": [] },
        { "action": "plugin::users-permissions.roles.read", "subject": null, "properties": {}, "conditions": [] }
    ] });
    admin
        .call(
            Method::PUT,
            &format!("/admin/roles/{role}/permissions"),
            Some(permissions),
            "setting the admin role's permissions",
        )
        .await?;
    Ok(role)
}

/// Sets `keys` in `[strapi]`, keeping everything else in the file as it was.
fn write_config(path: &Path, keys: &[(&str, &str)]) -> Result<(), SetupError> {
    let error = |reason: String| SetupError::Config {
        path: path.display().to_string(),
        reason,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(error(e.to_string())),
    };
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| error(e.to_string()))?;
    let strapi = doc
        .entry("strapi")
        .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()))
        .as_table_mut()
        .ok_or_else(|| error("`strapi` is not a table".into()))?;
    for (key, value) in keys {
        strapi[*key] = toml_edit::value(*value);
    }
    write_private(path, doc.to_string().as_bytes()).map_err(|e| error(e.to_string()))
}

/// Writes `bytes` to `path` readable by this user only (mode 0600: the file holds secrets),
/// whole or not at all (a temporary file renamed into place).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("toml.tmp");
    let _ = std::fs::remove_file(&tmp);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut file| file.write_all(bytes).and_then(|()| file.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keys_are_set_and_the_rest_kept() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("iohost.toml");
        std::fs::write(
            &path,
            "# mine\n[server]\nlisten = \"0.0.0.0:1338\"\n\n[strapi]\njwt_secret = \"keep\"\n",
        )
        .expect("write");
        write_config(
            &path,
            &[
                ("url", "http://s:1337"),
                ("webhook_secret", "sec"),
                ("api_token", "tok"),
            ],
        )
        .expect("update");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.starts_with("# mine\n"));
        let parsed: toml::Table = text.parse().expect("toml");
        assert_eq!(parsed["strapi"]["jwt_secret"].as_str(), Some("keep"));
        assert_eq!(parsed["strapi"]["webhook_secret"].as_str(), Some("sec"));
        assert_eq!(parsed["strapi"]["api_token"].as_str(), Some("tok"));
        assert_eq!(parsed["server"]["listen"].as_str(), Some("0.0.0.0:1338"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "secrets: this user only");
    }
}
