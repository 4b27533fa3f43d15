//! `iohost strapi setup`: signs in to Strapi's admin API, creates (or updates) the webhook that
//! points at this iohost with a fresh secret, makes sure iohost has an API token for user
//! lookups and an admin user that may only read API tokens (for API-token logins) and role
//! permissions (so content events follow Strapi's roles), and writes
//! `strapi.url`, `webhook_secret`, `api_token`, `admin_email` and `admin_password` (and
//! `jwt_secret`, read from the Strapi project's `.env` or given) into the config file (other
//! keys and comments kept). No clicking in Strapi's admin panel. Run again, it keeps the API
//! token and the reader's password that the file has while they still work (other users of
//! that token do not break), and says which keys it changed.

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
    #[error(
        "no JWT_SECRET in {path}: {reason} (or give it: JWT_SECRET=... in setup's environment)"
    )]
    JwtSecret { path: String, reason: String },
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
    /// Strapi's `JWT_SECRET` (users' tokens are signed with it), given.
    pub jwt_secret: Option<&'a str>,
    /// The Strapi project's folder: `JWT_SECRET` is read from its `.env` when not given.
    pub strapi_dir: Option<&'a Path>,
    /// Regenerate the `iohost` API token even when the one in the file still works.
    pub rotate_token: bool,
}

pub struct Report {
    pub webhook_url: String,
    /// The webhook: created, updated, or (with `plugin`) deleted or absent.
    pub webhook: WebhookChange,
    /// With `plugin`: the API key the plugin sends (the first of `api.keys`, made if none), and
    /// whether it was made now.
    pub plugin_key: Option<(String, bool)>,
    pub token: Change,
    pub reader: Change,
    /// `[strapi]` keys written to the config file, and whether each changed.
    pub written: Vec<(&'static str, bool)>,
    /// Where `strapi.jwt_secret` came from, when setup set it.
    pub jwt_secret_from: Option<String>,
    /// The config file has a `strapi.jwt_secret` (set now or before).
    pub has_jwt_secret: bool,
}

/// What setup did to something in Strapi.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Created,
    /// Made anew: the API token regenerated, the reader's password set.
    Renewed,
    /// The one the config file names still works: left as it is.
    Kept,
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

    /// Does Strapi's admin login take these credentials? (Only a 400, 401 or 403 says no.)
    async fn signs_in(&self, email: &str, password: &str) -> Result<bool, SetupError> {
        let request = self
            .http
            .post(format!("{}/admin/login", self.base))
            .json(&json!({ "email": email, "password": password }));
        self.verdict(request, "checking the reader's password in the config file")
            .await
    }

    /// Yes (2xx) or no (Strapi refused: 400, 401, 403) for `request`; anything else (Strapi
    /// unreachable, 429, 5xx) is an error, so that setup never renews what may still work.
    async fn verdict(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<bool, SetupError> {
        let answer = request.send().await.map_err(|e| SetupError::Unreachable {
            url: self.base.clone(),
            reason: e.to_string(),
        })?;
        let status = answer.status();
        match status.as_u16() {
            200..=299 => Ok(true),
            400 | 401 | 403 => Ok(false),
            _ => Err(SetupError::Refused {
                what: what.to_owned(),
                reason: format!("{status}: try again"),
            }),
        }
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
    let jwt_secret = jwt_secret(options)?;
    let admin = Admin::login(options).await?;
    let current = Current::read(options.config_file)?;
    let same_strapi = current.get("url") == Some(admin.base.as_str());
    // The webhook's secret stays (webhooks on their way keep arriving); made when there is none.
    let secret = match current.get("webhook_secret") {
        Some(kept) if same_strapi => kept.to_owned(),
        _ => random_secret()?,
    };
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
    let kept_token = match current.get("api_token") {
        Some(token)
            if same_strapi && !options.rotate_token && token_works(&admin, token).await? =>
        {
            Some(token.to_owned())
        }
        _ => None,
    };
    let (access_key, token) = match kept_token {
        Some(token) => (token, Change::Kept),
        None => fresh_api_token(&admin).await?,
    };
    let kept_password = match (current.get("admin_email"), current.get("admin_password")) {
        (Some(READER_EMAIL), Some(password))
            if same_strapi && admin.signs_in(READER_EMAIL, password).await? =>
        {
            Some(password.to_owned())
        }
        _ => None,
    };
    let reader_password = match &kept_password {
        Some(password) => password.clone(),
        None => format!("Io{}7", random_secret()?),
    };
    let reader = token_reader(&admin, &reader_password, kept_password.is_none()).await?;

    let mut keys = vec![
        ("url", admin.base.clone()),
        ("api_token", access_key),
        ("admin_email", READER_EMAIL.to_owned()),
        ("admin_password", reader_password),
    ];
    if !options.plugin {
        keys.push(("webhook_secret", secret));
    }
    if let Some((value, _)) = &jwt_secret {
        keys.push(("jwt_secret", value.clone()));
    }
    let written = write_config(options.config_file, &keys)?;
    let plugin_key = match options.plugin {
        true => Some(ensure_api_key(options.config_file)?),
        false => None,
    };
    Ok(Report {
        webhook_url,
        webhook,
        plugin_key,
        token,
        reader,
        written,
        has_jwt_secret: jwt_secret.is_some() || current.get("jwt_secret").is_some(),
        jwt_secret_from: jwt_secret.map(|(_, from)| from),
    })
}

/// Strapi's `JWT_SECRET` and where it came from: given, or read from the project's `.env`.
fn jwt_secret(options: &Options<'_>) -> Result<Option<(String, String)>, SetupError> {
    let given = options.jwt_secret.filter(|s| !s.is_empty());
    let Some(dir) = options.strapi_dir else {
        return Ok(given.map(|s| (s.to_owned(), "JWT_SECRET given to setup".to_owned())));
    };
    let path = dir.join(".env");
    let error = |reason: &str| SetupError::JwtSecret {
        path: path.display().to_string(),
        reason: reason.to_owned(),
    };
    let text = std::fs::read_to_string(&path).map_err(|e| error(&e.to_string()))?;
    match dotenv_value(&text, "JWT_SECRET") {
        // A JWT_SECRET in setup's environment (a Strapi shell) that says otherwise is a
        // mistake one way or the other: say so rather than pick one.
        Some(secret) if given.is_some_and(|g| g != secret) => Err(error(
            "it differs from the JWT_SECRET given to setup (its environment): unset one",
        )),
        Some(secret) if !secret.is_empty() => {
            Ok(Some((secret, format!("JWT_SECRET in {}", path.display()))))
        }
        Some(_) => Err(error("it is empty")),
        None => Err(error("the file does not set it")),
    }
}

/// The value of `key` in a `.env` file (`KEY=value`, `export KEY=value`, quotes, comments); the
/// last one wins, as dotenv reads it.
fn dotenv_value(text: &str, key: &str) -> Option<String> {
    let mut found = None;
    for line in text.lines() {
        let line = line.trim();
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        if name.trim() != key {
            continue;
        }
        let value = value.trim();
        let unquoted = ['"', '\''].iter().find_map(|q| {
            value
                .strip_prefix(*q)
                .and_then(|v| v.split_once(*q))
                .map(|(v, _)| v)
        });
        found = Some(match unquoted {
            Some(v) => v.to_owned(),
            // Unquoted: a ` #` starts a comment.
            None => value.split(" #").next().unwrap_or("").trim().to_owned(),
        });
    }
    found
}

/// The config file as a document to edit (empty when there is none yet). A syntax error says
/// where and what, never the quoted line: it may hold a secret.
fn config_document(path: &Path) -> Result<toml_edit::DocumentMut, SetupError> {
    let error = |reason: String| SetupError::Config {
        path: path.display().to_string(),
        reason,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(error(e.to_string())),
    };
    text.parse().map_err(|e: toml_edit::TomlError| {
        let at = e.span().map_or(0, |span| span.start);
        let line = text[..at.min(text.len())].lines().count().max(1);
        error(format!("line {line}: {}", e.message()))
    })
}

/// The `[strapi]` keys the config file has now.
struct Current(toml_edit::DocumentMut);

impl Current {
    fn read(path: &Path) -> Result<Self, SetupError> {
        config_document(path).map(Self)
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get("strapi")
            .and_then(|strapi| strapi.get(key))
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

/// Does Strapi take `token` for user lookups (what iohost uses it for)? Only Strapi's 401 or
/// 403 says no: a failure on the way is an error, not a reason to make a new one.
async fn token_works(admin: &Admin, token: &str) -> Result<bool, SetupError> {
    let request = admin
        .http
        .get(format!("{}/api/users?pagination[pageSize]=1", admin.base))
        .bearer_auth(token);
    admin
        .verdict(request, "checking the API token in the config file")
        .await
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
    let mut doc = config_document(path)?;
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
/// once, at creation or regeneration).
async fn fresh_api_token(admin: &Admin) -> Result<(String, Change), SetupError> {
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
    let change = match existing {
        Some(_) => Change::Renewed,
        None => Change::Created,
    };
    Ok((key.to_owned(), change))
}

/// Makes sure the token-reader admin user exists, active, with only its role, and with
/// `password` (set only when `set_password`: otherwise it is the one it has).
async fn token_reader(
    admin: &Admin,
    password: &str,
    set_password: bool,
) -> Result<Change, SetupError> {
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
        let mut body = json!({ "isActive": true, "roles": [role_id] });
        if set_password {
            body["password"] = json!(password);
        }
        admin
            .call(
                Method::PUT,
                &format!("/admin/users/{id}"),
                Some(body),
                "updating the token reader",
            )
            .await?;
        return Ok(match set_password {
            true => Change::Renewed,
            false => Change::Kept,
        });
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
    Ok(Change::Created)
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

/// Sets `keys` in `[strapi]`, keeping everything else in the file as it was; returns each key
/// with whether its value changed.
fn write_config(
    path: &Path,
    keys: &[(&'static str, String)],
) -> Result<Vec<(&'static str, bool)>, SetupError> {
    let error = |reason: String| SetupError::Config {
        path: path.display().to_string(),
        reason,
    };
    let mut doc = config_document(path)?;
    let strapi = doc
        .entry("strapi")
        .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()))
        .as_table_mut()
        .ok_or_else(|| error("`strapi` is not a table".into()))?;
    let mut written = Vec::new();
    for (key, value) in keys {
        let changed = strapi.get(key).and_then(|v| v.as_str()) != Some(value.as_str());
        if changed {
            strapi[*key] = toml_edit::value(value.as_str());
        }
        written.push((*key, changed));
    }
    write_private(path, doc.to_string().as_bytes()).map_err(|e| error(e.to_string()))?;
    Ok(written)
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
        let written = write_config(
            &path,
            &[
                ("url", "http://s:1337".to_owned()),
                ("webhook_secret", "sec".to_owned()),
                ("api_token", "tok".to_owned()),
                ("jwt_secret", "keep".to_owned()),
            ],
        )
        .expect("update");
        assert_eq!(
            written,
            [
                ("url", true),
                ("webhook_secret", true),
                ("api_token", true),
                ("jwt_secret", false)
            ]
        );
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

    #[test]
    fn a_broken_config_file_is_named_without_its_contents() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("iohost.toml");
        std::fs::write(&path, "[strapi]\napi_token = \"s3cret-token\n").expect("write");
        let error = Current::read(&path)
            .err()
            .expect("a syntax error")
            .to_string();
        assert!(!error.contains("s3cret-token"), "{error}");
        assert!(error.contains("line 2"), "{error}");
    }

    #[test]
    fn jwt_secret_from_a_dotenv_file() {
        let env = "HOST=0.0.0.0\n# JWT_SECRET=commented\nexport APP_KEYS=a,b\nJWT_SECRET=\"s3cr=t\" # quoted\n";
        assert_eq!(dotenv_value(env, "JWT_SECRET").as_deref(), Some("s3cr=t"));
        assert_eq!(
            dotenv_value("JWT_SECRET=plain # note\n", "JWT_SECRET").as_deref(),
            Some("plain")
        );
        assert_eq!(
            dotenv_value("export JWT_SECRET='x y'\n", "JWT_SECRET").as_deref(),
            Some("x y")
        );
        assert_eq!(
            dotenv_value("JWT_SECRET=a\nJWT_SECRET=b\n", "JWT_SECRET").as_deref(),
            Some("b")
        );
        assert_eq!(dotenv_value("ADMIN_JWT_SECRET=no\n", "JWT_SECRET"), None);
        assert_eq!(
            dotenv_value("JWT_SECRET=\n", "JWT_SECRET").as_deref(),
            Some("")
        );
    }
}
