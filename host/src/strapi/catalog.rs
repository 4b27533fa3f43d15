//! What iohost knows of the Strapi it serves: the content types and components (for shaping
//! payloads) and each role's permissions (for who may read what), read through the admin API.
//!
//! Read when iohost starts serving, every `strapi.refresh_ms`, and at once (at most once per
//! [`REFRESH_AT_MOST_EVERY`], concurrent asks sharing one read) when a webhook names a type or a
//! field iohost does not know. While Strapi cannot be reached the last answers stay; when
//! Strapi refuses the role permissions (an admin user made by an older `iohost strapi setup`),
//! they are forgotten and `[strapi.permissions]` alone decides, with a warning.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use serde::Deserialize;
use serde_json::Value;

use super::access::{RoleActions, enabled_actions};
use super::admin_api::{AdminApi, AdminError};
use super::schema::Schemas;

/// Reads asked for by webhooks happen at most this often.
pub const REFRESH_AT_MOST_EVERY: Duration = Duration::from_secs(1);
/// Roles read from Strapi at most (each is one request).
pub const MAX_ROLES: usize = 200;

/// One reading of Strapi.
#[derive(Debug, Default)]
pub struct Known {
    /// Content types and components; `None`: never read.
    pub schemas: Option<Schemas>,
    /// Role type -> enabled actions; `None`: unknown (the matrix alone decides).
    pub roles: Option<RoleActions>,
}

#[derive(Debug)]
pub struct Catalog {
    admin: Arc<AdminApi>,
    known: ArcSwap<Known>,
    every: Duration,
    /// When a read last started; one read at a time.
    last: tokio::sync::Mutex<Option<Instant>>,
    /// The last problem logged, so a lasting one is logged once.
    logged: std::sync::Mutex<String>,
}

#[derive(Deserialize)]
struct RoleList {
    roles: Vec<ListedRole>,
}

#[derive(Deserialize)]
struct ListedRole {
    id: Value,
}

#[derive(Deserialize)]
struct OneRole {
    role: Value,
}

impl Catalog {
    pub fn new(admin: Arc<AdminApi>, every: Duration) -> Self {
        Self {
            admin,
            known: ArcSwap::from_pointee(Known::default()),
            every,
            last: tokio::sync::Mutex::new(None),
            logged: std::sync::Mutex::new(String::new()),
        }
    }

    /// Can iohost read Strapi at all (an admin login is configured)?
    pub fn enabled(&self) -> bool {
        self.admin.enabled()
    }

    pub fn now(&self) -> Arc<Known> {
        self.known.load_full()
    }

    /// Reads Strapi again unless a read started less than [`REFRESH_AT_MOST_EVERY`] ago (then
    /// waits for that one to end). Returns what is known afterwards.
    pub async fn refresh(&self) -> Arc<Known> {
        if !self.enabled() {
            return self.now();
        }
        let mut last = self.last.lock().await;
        if last.is_some_and(|at| at.elapsed() < REFRESH_AT_MOST_EVERY) {
            return self.now();
        }
        *last = Some(Instant::now());
        self.read().await;
        self.now()
    }

    /// What is known, reading Strapi first if it never was.
    pub async fn ready(&self) -> Arc<Known> {
        let known = self.now();
        if known.schemas.is_none() && self.enabled() {
            return self.refresh().await;
        }
        known
    }

    /// Reads Strapi every `refresh_ms` while the catalog lives (the first read at once), once
    /// admin credentials are set (they may come while iohost runs).
    pub fn spawn_upkeep(self: &Arc<Self>) {
        let catalog = Arc::downgrade(self);
        let every = self.every;
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            loop {
                ticks.tick().await;
                let Some(catalog) = catalog.upgrade() else {
                    return;
                };
                if catalog.enabled() {
                    catalog.refresh().await;
                }
            }
        });
    }

    async fn read(&self) {
        let before = self.now();
        let schemas = match self.schemas().await {
            Ok(schemas) => Some(schemas),
            Err(e) => {
                self.log_once(format!(
                    "cannot read Strapi's content types ({e}); content events carry only what is known to be safe"
                ));
                before.schemas.clone()
            }
        };
        let roles = match self.roles().await {
            Ok(roles) => Some(roles),
            Err(e) if e.is_forbidden() => {
                // Fail closed: the matrix alone could grant what Strapi does not.
                self.log_once(format!(
                    "Strapi does not let {} read role permissions ({e}): run `iohost strapi setup` again; until then no role receives content events (API tokens still do)",
                    "strapi.admin_email"
                ));
                Some(RoleActions::new())
            }
            Err(e) => {
                self.log_once(format!(
                    "cannot read Strapi's role permissions ({e}); keeping the last ones"
                ));
                before.roles.clone()
            }
        };
        let changed = schemas.as_ref().map(Schemas::len)
            != before.schemas.as_ref().map(Schemas::len)
            || roles.as_ref().map(|r| r.keys().collect::<Vec<_>>())
                != before.roles.as_ref().map(|r| r.keys().collect::<Vec<_>>());
        if changed {
            tracing::info!(
                types = schemas.as_ref().map_or(0, Schemas::len),
                roles = ?roles.as_ref().map(|r| r.keys().cloned().collect::<Vec<_>>()),
                "read Strapi's content types and role permissions"
            );
        }
        self.known.store(Arc::new(Known { schemas, roles }));
    }

    fn log_once(&self, message: String) {
        let Ok(mut logged) = self.logged.lock() else {
            return;
        };
        if *logged != message {
            tracing::warn!("{message}");
            *logged = message;
        }
    }

    async fn schemas(&self) -> Result<Schemas, String> {
        let content_types: Value = self
            .admin
            .get("/content-manager/content-types")
            .await
            .map_err(|e| e.to_string())?;
        let components: Value = self
            .admin
            .get("/content-manager/components")
            .await
            .map_err(|e| e.to_string())?;
        Schemas::parse(&content_types, &components).map_err(|e| e.to_string())
    }

    async fn roles(&self) -> Result<RoleActions, AdminError> {
        let listed: RoleList = self.admin.get("/users-permissions/roles").await?;
        let mut roles = RoleActions::new();
        for listed in listed.roles.into_iter().take(MAX_ROLES) {
            let id = match &listed.id {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.clone(),
                _ => continue,
            };
            let one: OneRole = self
                .admin
                .get(&format!("/users-permissions/roles/{id}"))
                .await?;
            let Some(kind) = one.role.get("type").and_then(Value::as_str) else {
                continue;
            };
            roles.insert(kind.to_lowercase(), enabled_actions(&one.role));
        }
        Ok(roles)
    }
}
