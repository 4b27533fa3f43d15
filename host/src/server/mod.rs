//! The Socket.IO server: socketioxide on axum, namespaces, built-in events, HTTP probes, shutdown.

mod builtins;
mod connect;
mod dispatch;
mod http;
mod limits;
mod reply;
mod shutdown;
pub mod sockets;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use arc_swap::ArcSwap;
use axum::Router;
use socketioxide::{ParserConfig, TransportType};

use crate::cluster::{Adapter, Backplane, Cluster, Io};
use tokio::net::{TcpListener, TcpSocket};

use crate::config::{Config, Transport};
use crate::handlers::Runtime;
use crate::rooms::RoomPolicy;
use crate::settings::{FileSettings, RedisSettings, Settings, SettingsStore};
use crate::store::{KvStore, MemoryStore, RedisStore};

pub use connect::identity_of;
pub use limits::ConnectionLimit;
pub use reply::deliver;

/// Connections the kernel completes and holds until iohost accepts them (capped by
/// `net.core.somaxconn`). tokio's `TcpListener::bind` uses std's 128: a burst of a few hundred
/// handshakes overflowed it and those clients waited a 1 s SYN retransmit (Node uses 511).
const ACCEPT_BACKLOG: u32 = 4096;

fn listen(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As std and tokio do: a restarted iohost can listen again at once.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// What every namespace handler needs, shared through socketioxide's state.
#[derive(Debug)]
pub struct Shared {
    /// The configuration file as read at start.
    pub config: Config,
    /// What run-time settings change: swapped whole when they do.
    pub live: ArcSwap<Live>,
    pub settings: Arc<dyn SettingsStore>,
    /// This process among the cluster's nodes (random at start).
    pub node: String,
    /// The address this node listens on, once it does.
    pub address: std::sync::OnceLock<std::net::SocketAddr>,
    /// Settings changes run one at a time.
    pub settings_lock: tokio::sync::Mutex<()>,
    pub connections: ConnectionLimit,
    /// Connections and sessions per client address and in total.
    pub gate: Arc<crate::edge::Gate>,
    /// Verifies tokens and looks users up in Strapi.
    pub auth: crate::auth::Authenticator,
    pub runtime: Arc<Runtime>,
    /// The in-memory KV store (handlers use it when this node runs alone); swept here.
    pub kv: Arc<MemoryStore>,
    /// The link to the other nodes (or none).
    pub backplane: Backplane,
    /// Client events per second, for `/api/v1/stats` and `/metrics`.
    pub rate: crate::metrics::EventRate,
    /// Strapi webhook counts.
    pub webhooks: crate::strapi::WebhookStats,
    /// Strapi's content types and role permissions, for content delivery.
    pub catalog: Arc<crate::strapi::catalog::Catalog>,
    /// The live event log of the admin page.
    pub event_log: crate::metrics::EventLog,
    /// The Prometheus recorder's handle; `None` if another recorder was installed first.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// False once shutdown has begun: `/readyz` turns 503 so load balancers stop sending clients.
    pub ready: AtomicBool,
}

pub type SharedRef = Arc<Shared>;

#[derive(Debug, thiserror::Error)]
pub enum SettingsUpdateError {
    #[error("{0}")]
    Invalid(crate::config::ConfigError),
    #[error("{0}")]
    Store(crate::settings::SettingsError),
}

/// The parts of the configuration that run-time settings override, ready to use.
#[derive(Debug)]
pub struct Live {
    pub settings: Settings,
    pub cors_origins: Vec<String>,
    pub rooms: RoomPolicy,
    /// role -> content type -> permissions, for Strapi content events.
    pub permissions: crate::strapi::content::Permissions,
    /// Who may connect where.
    pub access: crate::config::AccessConfig,
}

impl Live {
    /// `settings` over `config`, validated; the error names the setting.
    pub fn new(config: &Config, settings: Settings) -> Result<Self, crate::config::ConfigError> {
        let effective = settings.apply_to(config)?;
        Ok(Self {
            rooms: RoomPolicy::new(&effective.rooms)?,
            cors_origins: effective.server.cors_origins,
            permissions: effective.strapi.permissions,
            access: effective.access,
            settings,
        })
    }
}

/// A random id for this process, telling its own cluster announcements from others'.
fn node_id() -> String {
    crate::random::hex(8).unwrap_or_else(|_| {
        // Unique enough among the nodes of one cluster.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        format!("{}-{nanos}", std::process::id())
    })
}

/// A built server, not yet listening.
pub struct App {
    pub router: Router,
    pub io: Io,
    pub shared: SharedRef,
}

impl App {
    pub async fn new(config: Config) -> anyhow::Result<Self> {
        let cluster = Cluster::connect(&config.cluster).await?;
        let node = node_id();
        // One node: settings in a file. A cluster: in Redis, and a change reaches every node.
        let store: Arc<dyn SettingsStore> = match &cluster.backplane {
            Backplane::Local => Arc::new(FileSettings::new(config.settings.file.clone())),
            Backplane::Redis(redis) => Arc::new(RedisSettings::new(
                redis.clone(),
                &config.cluster.prefix,
                &node,
            )),
        };
        let settings = store.load().await?;
        let live = Live::new(&config, settings)
            .context("the saved run-time settings do not fit this configuration")?;
        // One node: handler state in memory. A cluster: in Redis, shared by every node.
        let memory = Arc::new(MemoryStore::new());
        let kv: Arc<dyn KvStore> = match &cluster.backplane {
            Backplane::Local => memory.clone(),
            Backplane::Redis(redis) => {
                Arc::new(RedisStore::new(redis.clone(), &config.cluster.prefix))
            }
        };
        let runtime = Runtime::new(config.handlers.clone(), kv)?;
        runtime.attach_strapi(crate::handlers::StrapiGateway::new(
            &config.strapi,
            &config.handlers.strapi,
        )?);
        runtime.set_disabled(live.settings.disabled_handlers.clone());
        runtime.set_overrides(live.settings.handler_config.clone());
        let auth = crate::auth::Authenticator::new(&config.strapi)?;
        let catalog = Arc::new(crate::strapi::catalog::Catalog::new(
            auth.admin.clone(),
            std::time::Duration::from_millis(config.strapi.refresh_ms),
        ));
        let shared = Arc::new(Shared {
            live: ArcSwap::from_pointee(live),
            settings: store,
            node,
            address: std::sync::OnceLock::new(),
            settings_lock: tokio::sync::Mutex::new(()),
            runtime,
            kv: memory,
            backplane: cluster.backplane,
            rate: crate::metrics::EventRate::new(),
            event_log: crate::metrics::EventLog::new(),
            webhooks: Default::default(),
            catalog,
            metrics: crate::metrics::install(),
            connections: ConnectionLimit::new(config.server.max_connections),
            gate: Arc::new(crate::edge::Gate::new(
                (&config.server).into(),
                crate::edge::Proxies::new(config.server.trusted_proxies()?),
            )),
            auth,
            ready: AtomicBool::new(true),
            config,
        });
        let s = &shared.config.server;
        let parser = ParserConfig::common()
            .max_incoming_binaries(s.max_attachments)
            .max_incoming_binary_buf_size(s.max_payload_bytes as usize);
        let builder = socketioxide::SocketIo::builder()
            .ping_interval(s.ping_interval())
            .ping_timeout(s.ping_timeout())
            .connect_timeout(s.connect_timeout())
            .max_payload(s.max_payload_bytes)
            .ws_max_message_size(s.max_payload_bytes as usize)
            .ws_max_frame_size(s.max_payload_bytes as usize)
            .max_buffer_size(s.socket_queue_size)
            .ws_read_buffer_size(s.ws_read_buffer_bytes)
            .with_parser(parser)
            .with_state(shared.clone());
        let has = |t| s.transports.contains(&t);
        let builder = match (has(Transport::Polling), has(Transport::Websocket)) {
            (true, false) => builder.transports([TransportType::Polling]),
            (false, true) => builder.transports([TransportType::Websocket]),
            _ => builder,
        };
        let (io_layer, io) = builder
            .with_adapter::<Adapter>(cluster.adapter)
            .build_layer();
        shared.runtime.attach(io.clone());
        connect::register_namespaces(&io, &shared.config).await?;

        let router = http::routes(shared.clone())
            .merge(crate::api::router(shared.clone(), io.clone()))
            .merge(crate::admin::router())
            .merge(crate::strapi::router(shared.clone(), io.clone()))
            .layer(io_layer)
            .layer(axum::middleware::from_fn_with_state(
                shared.clone(),
                http::open_session,
            ))
            .layer(http::cors(shared.clone()))
            .layer(axum::middleware::from_fn_with_state(
                shared.clone(),
                http::origin_guard,
            ));
        Ok(Self { router, io, shared })
    }

    /// Listens until SIGINT or SIGTERM, then drains (see [`shutdown`]) and returns.
    pub async fn serve(self) -> anyhow::Result<()> {
        let signals = shutdown::Signals::install().context("cannot listen for SIGINT/SIGTERM")?;
        let _watcher = self.start_handlers().await?;
        self.start_kv_sweeper();
        self.shared.catalog.spawn_upkeep();
        self.follow_other_nodes_settings().await?;
        if let Some(handle) = self.shared.metrics.clone() {
            crate::metrics::spawn_upkeep(handle);
        }
        let addr = self.shared.config.server.listen;
        let listener =
            listen(addr).with_context(|| format!("cannot listen on {addr} (server.listen)"))?;
        let local = listener.local_addr()?;
        let _ = self.shared.address.set(local);
        self.publish_node_stats();
        tracing::info!(
            namespaces = ?self.shared.config.server.all_namespaces(),
            "iohost listening on http://{local}"
        );
        shutdown::serve_until_signal(listener, self, signals).await
    }

    /// Loads the handlers folder and, if configured, watches it. The watcher lives as long as
    /// the returned guard.
    async fn start_handlers(&self) -> anyhow::Result<Option<crate::handlers::Watcher>> {
        let settings = &self.shared.config.handlers;
        if !settings.enabled {
            tracing::info!("handlers are disabled (handlers.enabled = false)");
            return Ok(None);
        }
        self.shared.runtime.load_all().await;
        if !settings.watch {
            return Ok(None);
        }
        let watcher =
            self.shared.runtime.watch().with_context(|| {
                format!("cannot watch {} (handlers.dir)", settings.dir.display())
            })?;
        Ok(Some(watcher))
    }

    /// Expired KV entries nobody reads again are dropped once a minute.
    /// In a cluster: applies the settings another node saved, when it announces them.
    async fn follow_other_nodes_settings(&self) -> anyhow::Result<()> {
        let Backplane::Redis(redis) = &self.shared.backplane else {
            return Ok(());
        };
        let channel = RedisSettings::channel_for(&self.shared.config.cluster.prefix);
        let mut changes = redis
            .listen(&channel)
            .await
            .context("cannot follow the cluster's settings")?;
        let shared = Arc::downgrade(&self.shared);
        tokio::spawn(async move {
            while let Some((_, from)) = changes.recv().await {
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                if from == shared.node.as_bytes() {
                    continue;
                }
                let applied = match shared.settings.load().await {
                    Ok(settings) => shared.apply_settings(settings).await,
                    Err(e) => Err(SettingsUpdateError::Store(e)),
                };
                match applied {
                    Ok(()) => tracing::info!("run-time settings changed on another node: applied"),
                    Err(e) => tracing::error!(
                        "run-time settings changed on another node do not fit this one, kept the current ones: {e}"
                    ),
                }
            }
        });
        Ok(())
    }

    /// In a cluster: writes this node's figures for the others every few seconds.
    fn publish_node_stats(&self) {
        let Backplane::Redis(link) = self.shared.backplane.clone() else {
            return;
        };
        let shared = Arc::downgrade(&self.shared);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(crate::cluster::nodes::EVERY);
            loop {
                every.tick().await;
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                let prefix = shared.config.cluster.prefix.clone();
                crate::cluster::nodes::publish(&link, &prefix, &shared.node_stats()).await;
            }
        });
    }

    fn start_kv_sweeper(&self) {
        let kv = Arc::downgrade(&self.shared.kv);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                every.tick().await;
                let Some(kv) = kv.upgrade() else { return };
                let swept = kv.sweep();
                if swept > 0 {
                    tracing::debug!(swept, "expired KV entries dropped");
                }
            }
        });
    }
}

impl Shared {
    /// Validates, stores and applies new run-time settings, in that order: settings that do
    /// not validate or cannot be stored change nothing.
    pub async fn update_settings(&self, settings: Settings) -> Result<(), SettingsUpdateError> {
        self.modify_settings(|current| *current = settings)
            .await
            .map(|_| ())
    }

    /// Changes the settings in use with `change`, read, validated, saved and applied under
    /// the settings lock (so two changes at once never lose one); returns what was saved.
    pub async fn modify_settings(
        &self,
        change: impl FnOnce(&mut Settings),
    ) -> Result<Settings, SettingsUpdateError> {
        let (settings, changed) = {
            let _one_at_a_time = self.settings_lock.lock().await;
            let mut settings = self.live.load().settings.clone();
            change(&mut settings);
            Live::new(&self.config, settings.clone()).map_err(SettingsUpdateError::Invalid)?;
            self.settings
                .save(&settings)
                .await
                .map_err(SettingsUpdateError::Store)?;
            (settings.clone(), self.use_settings(settings)?)
        };
        self.reload_handlers(changed).await;
        Ok(settings)
    }

    /// Applies settings saved elsewhere (another node) without saving them again.
    pub async fn apply_settings(&self, settings: Settings) -> Result<(), SettingsUpdateError> {
        let changed = {
            let _one_at_a_time = self.settings_lock.lock().await;
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
        changed.extend(self.runtime.set_overrides(settings.handler_config));
        changed.sort();
        changed.dedup();
        tracing::debug!("run-time settings in use");
        Ok(changed)
    }

    /// Reloads handlers after a settings change, outside the settings lock: a slow load holds
    /// up no other change (each reload reads the settings in use when it runs).
    async fn reload_handlers(&self, names: Vec<String>) {
        for name in names {
            self.runtime.reload(&name).await;
        }
    }

    /// This node's figures for the cluster view.
    pub fn node_stats(&self) -> crate::cluster::nodes::NodeStats {
        crate::cluster::nodes::NodeStats {
            node: self.node.clone(),
            address: self
                .address
                .get()
                .map(ToString::to_string)
                .unwrap_or_default(),
            connections: self.connections.current(),
            events_per_second: self.rate.per_second(10),
            total_events: self.rate.total(),
            at: crate::cluster::nodes::now_ms(),
        }
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}
