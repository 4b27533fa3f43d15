//! The run-time settings in use: the [`Live`] view every layer reads, and the one way to change
//! them ([`LiveSettings::modify`]): validated, saved, then applied, one change at a time.

use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};

use super::{Settings, SettingsError, SettingsStore};
use crate::config::{AccessConfig, Config, ConfigError};
use crate::handlers::Runtime;
use crate::rooms::RoomPolicy;
use crate::strapi::content::Permissions;

/// The parts of the configuration that run-time settings override, ready to use.
#[derive(Debug)]
pub struct Live {
    pub settings: Settings,
    pub cors_origins: Vec<String>,
    pub rooms: RoomPolicy,
    /// role -> content type -> permissions, for Strapi content events.
    pub permissions: Arc<Permissions>,
    /// Who may connect where.
    pub access: AccessConfig,
}

impl Live {
    /// `settings` over `config`, validated; the error names the setting.
    pub fn new(config: &Config, settings: Settings) -> Result<Self, ConfigError> {
        let effective = settings.apply_to(config)?;
        Ok(Self {
            rooms: RoomPolicy::new(&effective.rooms)?,
            cors_origins: effective.server.cors_origins,
            permissions: Arc::new(effective.strapi.permissions),
            access: effective.access,
            settings,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsUpdateError {
    #[error("{0}")]
    Invalid(ConfigError),
    #[error("{0}")]
    Store(SettingsError),
}

/// The settings in use, where they are kept, and the handlers they switch and configure.
#[derive(Debug)]
pub struct LiveSettings {
    config: Config,
    live: ArcSwap<Live>,
    store: Arc<dyn SettingsStore>,
    /// Changes run one at a time.
    lock: tokio::sync::Mutex<()>,
    runtime: Arc<Runtime>,
}

impl LiveSettings {
    /// `saved` (read from `store`) in use over `config`; the handlers told which are off and
    /// what their run-time config is.
    pub fn new(
        config: &Config,
        saved: Settings,
        store: Arc<dyn SettingsStore>,
        runtime: Arc<Runtime>,
    ) -> Result<Self, ConfigError> {
        let live = Live::new(config, saved)?;
        runtime.set_disabled(live.settings.disabled_handlers.clone());
        runtime.set_faulted(live.settings.faulted_handlers.clone());
        runtime.set_overrides(live.settings.handler_config.clone());
        Ok(Self {
            config: config.clone(),
            live: ArcSwap::from_pointee(live),
            store,
            lock: tokio::sync::Mutex::new(()),
            runtime,
        })
    }

    /// The settings in use now (cheap; for every request).
    pub fn now(&self) -> Guard<Arc<Live>> {
        self.live.load()
    }

    /// The settings in use now, to keep.
    pub fn current(&self) -> Arc<Live> {
        self.live.load_full()
    }

    /// Validates, stores and applies new run-time settings, in that order: settings that do
    /// not validate or cannot be stored change nothing.
    pub async fn replace(&self, settings: Settings) -> Result<(), SettingsUpdateError> {
        self.modify(|current| *current = settings).await.map(|_| ())
    }

    /// Changes the settings in use with `change`, read, validated, saved and applied under
    /// the lock (so two changes at once never lose one); returns what was saved.
    pub async fn modify(
        &self,
        change: impl FnOnce(&mut Settings),
    ) -> Result<Settings, SettingsUpdateError> {
        let (settings, changed) = {
            let _one_at_a_time = self.lock.lock().await;
            let mut settings = self.live.load().settings.clone();
            change(&mut settings);
            Live::new(&self.config, settings.clone()).map_err(SettingsUpdateError::Invalid)?;
            self.store
                .save(&settings)
                .await
                .map_err(SettingsUpdateError::Store)?;
            (settings.clone(), self.use_settings(settings)?)
        };
        self.reload_handlers(changed).await;
        Ok(settings)
    }

    /// Applies the settings saved elsewhere (another node) without saving them again.
    pub async fn apply_saved(&self) -> Result<(), SettingsUpdateError> {
        let settings = self
            .store
            .load()
            .await
            .map_err(SettingsUpdateError::Store)?;
        let changed = {
            let _one_at_a_time = self.lock.lock().await;
            self.use_settings(settings)?
        };
        self.reload_handlers(changed).await;
        Ok(())
    }

    /// Puts `settings` in use; returns the handlers to reload for them.
    fn use_settings(&self, settings: Settings) -> Result<Vec<String>, SettingsUpdateError> {
        let live =
            Live::new(&self.config, settings.clone()).map_err(SettingsUpdateError::Invalid)?;
        self.live.store(Arc::new(live));
        let mut changed = self.runtime.set_disabled(settings.disabled_handlers);
        self.runtime.set_faulted(settings.faulted_handlers);
        changed.extend(self.runtime.set_overrides(settings.handler_config));
        changed.sort();
        changed.dedup();
        tracing::debug!("run-time settings in use");
        Ok(changed)
    }

    /// Reloads handlers after a settings change, outside the lock: a slow load holds up no
    /// other change (each reload reads the settings in use when it runs).
    async fn reload_handlers(&self, names: Vec<String>) {
        for name in names {
            self.runtime.reload(&name).await;
        }
    }
}
