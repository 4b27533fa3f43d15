//! Settings of a cluster, in Redis: one JSON value under `<prefix>:settings`, replaced whole by a
//! single SET; after a save the node publishes on `<prefix>:settings-changed` (its node id as
//! the message) and every other node reads the value again and applies it.

use redis::AsyncCommands;

use super::{Settings, SettingsError, SettingsStore};
use crate::cluster::RedisBackplane;

pub struct RedisSettings {
    link: RedisBackplane,
    key: String,
    channel: String,
    node: String,
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("key", &self.key)
            .finish()
    }
}

impl RedisSettings {
    pub fn new(link: RedisBackplane, prefix: &str, node: &str) -> Self {
        Self {
            link,
            key: format!("{prefix}:settings"),
            channel: Self::channel_for(prefix),
            node: node.to_owned(),
        }
    }

    /// The channel nodes announce their changes on.
    pub fn channel_for(prefix: &str) -> String {
        format!("{prefix}:settings-changed")
    }

    fn error(&self, reason: impl std::fmt::Display) -> SettingsError {
        SettingsError::Invalid {
            path: format!("redis key {}", self.key),
            reason: reason.to_string(),
        }
    }
}

#[async_trait::async_trait]
impl SettingsStore for RedisSettings {
    async fn load(&self) -> Result<Settings, SettingsError> {
        let text: Option<String> = self
            .link
            .connection()
            .get(&self.key)
            .await
            .map_err(|e| self.error(format!("cannot read it: {e}")))?;
        match text {
            None => Ok(Settings::default()),
            Some(text) => serde_json::from_str(&text).map_err(|e| self.error(e)),
        }
    }

    async fn save(&self, settings: &Settings) -> Result<(), SettingsError> {
        let text = serde_json::to_string(settings).map_err(|e| self.error(e))?;
        let mut conn = self.link.connection();
        let () = conn
            .set(&self.key, text)
            .await
            .map_err(|e| self.error(format!("cannot store it: {e}")))?;
        let _: i64 = conn
            .publish(&self.channel, &self.node)
            .await
            .map_err(|e| self.error(format!("stored, but cannot tell the other nodes: {e}")))?;
        Ok(())
    }
}
