//! Several iohost nodes as one, on Redis (`[cluster] redis_url`): socketioxide-redis carries
//! room emits, broadcasts, socket queries, joins, leaves and disconnects between nodes over the
//! [`backplane`]; handlers' KV lives in Redis too (the store module). Without
//! `redis_url` the same adapter runs with a local backplane: one code path either way.

pub mod backplane;
pub mod exchange;
pub mod nodes;
mod scan;

use socketioxide::adapter::Emitter;
use socketioxide_redis::{CustomRedisAdapter, RedisAdapterConfig, RedisAdapterCtr};

pub use backplane::{Backplane, Claim, Connection, RedisBackplane, Target};
pub use exchange::{Exchange, Gathered};

pub use scan::keys_with_prefix;

use crate::config::ClusterConfig;
use crate::config::redact;

/// The socketioxide adapter every namespace uses.
pub type Adapter = CustomRedisAdapter<Emitter, Backplane>;
/// The Socket.IO server, with iohost's adapter, and whether other nodes share its sockets.
/// Everything socketioxide's server offers is reached through it (`Deref`).
#[derive(Debug, Clone)]
pub struct Io {
    server: socketioxide::SocketIo<Adapter>,
    single_node: bool,
}

impl Io {
    /// `server`, on a node linked to others by `backplane` (or alone).
    pub fn new(server: socketioxide::SocketIo<Adapter>, backplane: &Backplane) -> Self {
        Self {
            server,
            single_node: matches!(backplane, Backplane::Local),
        }
    }

    /// No other node shares the sockets: every emit and room operation stays on this one.
    pub fn is_single_node(&self) -> bool {
        self.single_node
    }
}

impl std::ops::Deref for Io {
    type Target = socketioxide::SocketIo<Adapter>;

    fn deref(&self) -> &Self::Target {
        &self.server
    }
}
/// A socket connected to this node.
pub type SocketRef = socketioxide::extract::SocketRef<Adapter>;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cluster.redis_url `{url}` is not a Redis URL: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot reach Redis at {url}: {reason}")]
    Unreachable { url: String, reason: String },
}

/// The link to the other nodes, and what the adapter needs to use it.
pub struct Cluster {
    pub backplane: Backplane,
    pub adapter: RedisAdapterCtr<Backplane>,
}

impl Cluster {
    /// Connects to Redis when `redis_url` is set (iohost refuses to start if it cannot: a node
    /// that silently ran alone would split the cluster); a local backplane otherwise.
    pub async fn connect(config: &ClusterConfig) -> Result<Self, ClusterError> {
        let backplane = match target(config)? {
            None => Backplane::Local,
            Some(target) => {
                let redis = RedisBackplane::connect(target).await.map_err(|e| {
                    ClusterError::Unreachable {
                        url: described(config),
                        reason: e.to_string(),
                    }
                })?;
                tracing::info!(
                    redis = described(config),
                    prefix = config.prefix,
                    "cluster mode on"
                );
                Backplane::Redis(redis)
            }
        };
        let adapter = RedisAdapterCtr::new_with_driver(
            backplane.clone(),
            RedisAdapterConfig::new()
                .with_prefix(format!("{}-socket.io", config.prefix))
                .with_request_timeout(std::time::Duration::from_millis(config.request_timeout_ms)),
        );
        Ok(Self { backplane, adapter })
    }
}

impl Backplane {
    /// Is this node in touch with the others (always true on its own)?
    pub fn is_up(&self) -> bool {
        match self {
            Self::Local => true,
            Self::Redis(r) => r.is_up(),
        }
    }
}

/// Where Redis is, from `[cluster]`: none (this node runs alone), one server, or Sentinels.
fn target(config: &ClusterConfig) -> Result<Option<Target>, ClusterError> {
    let bad = |url: &str, e: redis::RedisError| ClusterError::BadUrl {
        url: redact(url),
        reason: e.to_string(),
    };
    if !config.sentinels.is_empty() {
        let sentinels = config
            .sentinels
            .iter()
            .map(|url| redis::Client::open(url.as_str()).map_err(|e| bad(url, e)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut redis =
            redis::RedisConnectionInfo::default().set_protocol(redis::ProtocolVersion::RESP3);
        if !config.master_password.is_empty() {
            redis = redis.set_password(&config.master_password);
        }
        let nodes =
            redis::sentinel::SentinelNodeConnectionInfo::default().set_redis_connection_info(redis);
        let client = redis::sentinel::SentinelClient::build(
            config.sentinels.iter().map(String::as_str).collect(),
            config.sentinel_master.clone(),
            Some(nodes),
            redis::sentinel::SentinelServerType::Master,
        )
        .map_err(|e| bad(&config.sentinels.join(", "), e))?;
        return Ok(Some(Target::Sentinel {
            sentinels,
            master: config.sentinel_master.clone(),
            client,
        }));
    }
    if config.redis_url.is_empty() {
        return Ok(None);
    }
    let url = with_resp3(&config.redis_url);
    let client = redis::Client::open(url.as_str()).map_err(|e| bad(&config.redis_url, e))?;
    Ok(Some(Target::Single(client)))
}

/// Redis as the logs name it (no passwords).
fn described(config: &ClusterConfig) -> String {
    if config.sentinels.is_empty() {
        redact(&config.redis_url)
    } else {
        format!(
            "master `{}` of Sentinels {}",
            config.sentinel_master,
            config
                .sentinels
                .iter()
                .map(|u| redact(u))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// Pub/sub on a multiplexed connection needs RESP3; added when the URL does not say.
fn with_resp3(url: &str) -> String {
    if url.contains("protocol=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&protocol=resp3")
    } else {
        format!("{url}?protocol=resp3")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_get_resp3() {
        assert_eq!(
            with_resp3("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379?protocol=resp3"
        );
        assert_eq!(
            with_resp3("redis://h/0?x=1"),
            "redis://h/0?x=1&protocol=resp3"
        );
        assert_eq!(
            with_resp3("redis://h?protocol=resp3"),
            "redis://h?protocol=resp3"
        );
    }
}
