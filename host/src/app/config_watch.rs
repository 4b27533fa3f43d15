//! A running iohost follows its config file's Strapi credentials (`strapi.url`, `jwt_secret`,
//! `api_token`, `admin_email`, `admin_password`, `webhook_secret`): `iohost strapi setup`
//! rewrites the file, and the new values apply at once, without a restart. Other keys that
//! changed are named in a warning (they apply after a restart); a file that no longer
//! validates changes nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};

use crate::config::{self, Config};
use crate::strapi::credentials::{Credentials, LiveCredentials};

/// Quiet time after the last write before the file is read again.
const SETTLE: Duration = Duration::from_millis(200);

/// Keeps the file followed while alive.
pub struct ConfigWatch {
    _debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
}

/// Follows `path` (the file `running` was read from). Its folder is watched, not the file:
/// setup (and editors) replace the file by renaming over it.
pub fn follow(
    path: PathBuf,
    running: Arc<Config>,
    credentials: LiveCredentials,
) -> anyhow::Result<ConfigWatch> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_os_string());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut debouncer = new_debouncer(SETTLE, None, move |result: DebounceEventResult| {
        let Ok(events) = result else {
            return;
        };
        let ours = events.iter().any(|e| {
            !e.event.kind.is_access()
                && e.event
                    .paths
                    .iter()
                    .any(|p| p.file_name() == name.as_deref())
        });
        if ours {
            let _ = tx.send(());
        }
    })?;
    debouncer.watch(&folder, RecursiveMode::NonRecursive)?;
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            apply(&path, &running, &credentials);
        }
    });
    Ok(ConfigWatch {
        _debouncer: debouncer,
    })
}

/// Reads the file again (with the same `IOHOST_*` variables) and applies what can apply.
fn apply(path: &Path, running: &Config, credentials: &LiveCredentials) {
    let next = match config::load(Some(path)) {
        Ok((next, _)) => next,
        Err(e) => {
            tracing::warn!(file = %path.display(), "the config file changed but does not validate, nothing applied: {e}");
            return;
        }
    };
    let applied = credentials.replace(Credentials::of(&next.strapi));
    if !applied.is_empty() {
        let keys: Vec<String> = applied.iter().map(|k| format!("strapi.{k}")).collect();
        tracing::info!(file = %path.display(), "applied {} from the config file, no restart needed", keys.join(", "));
    }
    let later = restart_keys(running, &next);
    if !later.is_empty() {
        tracing::warn!(file = %path.display(), "the config file changed {}: they apply after a restart", later.join(", "));
    }
}

/// Keys whose values differ between the config iohost started with and `next`, but for the
/// credentials (those apply at once). Names only: values may be secrets.
fn restart_keys(running: &Config, next: &Config) -> Vec<String> {
    let mut next = next.clone();
    let (strapi, was) = (&mut next.strapi, &running.strapi);
    strapi.url.clone_from(&was.url);
    strapi.jwt_secret.clone_from(&was.jwt_secret);
    strapi.api_token.clone_from(&was.api_token);
    strapi.admin_email.clone_from(&was.admin_email);
    strapi.admin_password.clone_from(&was.admin_password);
    strapi.webhook_secret.clone_from(&was.webhook_secret);
    let (Ok(before), Ok(after)) = (toml::Value::try_from(running), toml::Value::try_from(&next))
    else {
        return Vec::new();
    };
    let mut keys = Vec::new();
    differences("", &before, &after, &mut keys);
    keys
}

fn differences(at: &str, before: &toml::Value, after: &toml::Value, out: &mut Vec<String>) {
    match (before, after) {
        (toml::Value::Table(a), toml::Value::Table(b)) => {
            let names: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for name in names {
                let key = if at.is_empty() {
                    name.clone()
                } else {
                    format!("{at}.{name}")
                };
                match (a.get(name), b.get(name)) {
                    (Some(x), Some(y)) => differences(&key, x, y, out),
                    _ => out.push(key),
                }
            }
        }
        (a, b) if a != b => out.push(at.to_owned()),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_keys_beyond_the_credentials_need_a_restart() {
        let running = Config::default();
        let mut next = running.clone();
        next.strapi.api_token = "new".into();
        next.strapi.jwt_secret = "x".repeat(32);
        assert!(restart_keys(&running, &next).is_empty());
        next.server.max_connections += 1;
        next.strapi.refresh_ms += 1;
        assert_eq!(
            restart_keys(&running, &next),
            ["server.max_connections", "strapi.refresh_ms"]
        );
    }
}
