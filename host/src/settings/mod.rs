//! Settings an operator changes while iohost runs (through the HTTP API or the admin page):
//! they are stored behind [`SettingsStore`], survive restarts, and apply without a restart.
//!
//! | setting | overrides | applies |
//! |---|---|---|
//! | `corsOrigins` | `server.cors_origins` | at once, for new requests |
//! | `rooms` | `[rooms]` | at once, for the next `join-room` / `leave-room` |
//! | `disabledHandlers` | handler files present | at once: unloaded / loaded again |
//! | `faultedHandlers` | (set by iohost: handler versions switched off after their faults) | at once: their events refused or passed on |
//! | `permissions` | `[strapi.permissions]` | at once, for the next content event |
//! | `handlerConfig` | handlers' sidecar `[config]` | the handler reloads with it |
//! | `access` | `[access]` | for the next connection (connected sockets stay) |
//!
//! Everything else in `iohost.toml` needs a restart, but the Strapi credentials, which the app
//! follows in the file itself (`app/config_watch.rs`).

mod file;
mod live;
mod redis;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use file::FileSettings;
pub use live::{Live, LiveSettings, SettingsUpdateError};
pub use redis::RedisSettings;

use crate::config::{AccessConfig, Config, ConfigError, Permission, RoomsConfig};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// Browser origins allowed (`["*"]`: any); unset: `server.cors_origins`.
    pub cors_origins: Option<Vec<String>>,
    /// The room policy, as in `[rooms]`; unset: the config file's.
    #[schema(value_type = Option<Object>)]
    pub rooms: Option<RoomsConfig>,
    /// Handlers switched off: their files stay, they are not loaded.
    pub disabled_handlers: BTreeSet<String>,
    /// Handler versions iohost switched off after `handlers.failure.disable_after`
    /// consecutive faults; gone when the handler is enabled by hand or a new version loads.
    /// Left out when empty: settings saved without it stay readable by older versions.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub faulted_handlers: BTreeMap<String, crate::handlers::failure::Faulted>,
    /// Who receives which Strapi content events, as `[strapi.permissions]`
    /// (role -> content type -> permissions); unset: the config file's.
    #[schema(value_type = Option<Object>)]
    pub permissions: Option<BTreeMap<String, BTreeMap<String, Vec<Permission>>>>,
    /// Handler settings over their sidecars' `[config]`, key by key: handler -> key -> value,
    /// e.g. `{"rate-limit": {"events_per_minute": 120}}`. The handler reloads with them.
    #[schema(value_type = Object)]
    pub handler_config: crate::config::ConfigOverrides,
    /// Who may connect, and to which namespaces, as `[access]`; unset: the config file's.
    #[schema(value_type = Option<Object>)]
    pub access: Option<AccessConfig>,
}

/// The settings that apply without a restart; listed so the API and the page can say so.
pub const LIVE: &[&str] = &[
    "corsOrigins",
    "rooms",
    "disabledHandlers",
    "faultedHandlers",
    "permissions",
    "handlerConfig",
    "access",
];

impl Settings {
    /// The configuration with these settings applied over it, validated as a whole; the error
    /// names the setting.
    pub fn apply_to(&self, config: &Config) -> Result<Config, ConfigError> {
        let mut effective = config.clone();
        if let Some(origins) = &self.cors_origins {
            effective.server.cors_origins = origins.clone();
        }
        if let Some(rooms) = &self.rooms {
            effective.rooms = rooms.clone();
        }
        if let Some(access) = &self.access {
            effective.access = access.clone();
        }
        if let Some(permissions) = &self.permissions {
            effective.strapi.permissions = permissions.clone();
        }
        for name in self.handler_config.keys() {
            if !crate::config::valid_handler_name(name) {
                return Err(ConfigError::Invalid {
                    key: format!("handlerConfig.{name}"),
                    reason: "not a handler name (lower-case letters, digits, - and _)".into(),
                });
            }
        }
        effective.validate()?;
        Ok(effective)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read settings {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("settings {path} are not valid: {reason}")]
    Invalid { path: String, reason: String },
    #[error("cannot save settings {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// Where settings are kept: a file on a single node, Redis in a cluster.
#[async_trait::async_trait]
pub trait SettingsStore: Send + Sync + std::fmt::Debug {
    /// The stored settings; empty ones when nothing was stored yet.
    async fn load(&self) -> Result<Settings, SettingsError>;
    /// Stores `settings` whole: after a crash either the old or the new ones are there.
    async fn save(&self, settings: &Settings) -> Result<(), SettingsError>;
}
