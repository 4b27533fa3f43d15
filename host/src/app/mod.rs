//! The composition root: builds every part from the configuration, hands each layer the state
//! it needs, starts the background work (handlers and their hot reload, KV sweeps, Strapi's
//! schemas, the cluster's settings and figures), listens, and shuts down gracefully.

mod config_watch;
mod shutdown;

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use tokio::net::{TcpListener, TcpSocket};

use crate::auth::Authenticator;
use crate::cluster::{Backplane, Cluster, Io};
use crate::config::Config;
use crate::edge::{Gate, Proxies, Workers};
use crate::handlers::failure::FaultNotice;
use crate::handlers::{Runtime, StrapiGateway};
use crate::node::Node;
use crate::server::ServerState;
use crate::settings::{FileSettings, LiveSettings, RedisSettings, SettingsStore};
use crate::store::{Kv, MemoryStore, RedisStore};
use crate::strapi::catalog::Catalog;
use crate::strapi::credentials::LiveCredentials;

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

/// Where run-time settings and handlers' KV live: one node keeps settings in a file and KV in
/// memory; a cluster keeps both in Redis, shared by every node (a settings change reaches all).
fn stores(
    config: &Config,
    backplane: &Backplane,
    node: &str,
) -> (Arc<dyn SettingsStore>, Arc<MemoryStore>, Kv) {
    let memory = Arc::new(MemoryStore::new());
    match backplane {
        Backplane::Local => (
            Arc::new(FileSettings::new(config.settings.file.clone())),
            memory.clone(),
            Kv::Memory(memory),
        ),
        Backplane::Redis(redis) => (
            Arc::new(RedisSettings::new(
                redis.clone(),
                &config.cluster.prefix,
                node,
            )),
            memory,
            Kv::Redis(Arc::new(RedisStore::new(
                redis.clone(),
                &config.cluster.prefix,
            ))),
        ),
    }
}

/// A built server, not yet listening.
pub struct App {
    router: Router,
    io: Io,
    config: Arc<Config>,
    settings: Arc<LiveSettings>,
    runtime: Arc<Runtime>,
    catalog: Arc<Catalog>,
    gate: Arc<Gate>,
    node: Arc<Node>,
    /// The in-memory KV store (handlers use it when this node runs alone); swept here.
    kv: Arc<MemoryStore>,
    /// Strapi's URL and secrets in use (the config file's, followed while iohost runs).
    credentials: LiveCredentials,
    /// The config file read at start, if any: followed for new Strapi credentials.
    config_file: Option<std::path::PathBuf>,
    /// The runtimes connections are spread over (`server.scheduler`).
    workers: Workers,
}

impl App {
    pub async fn new(config: Config) -> anyhow::Result<Self> {
        let config = Arc::new(config);
        // Strapi's URL and secrets: replaced while iohost runs when the config file changes.
        let credentials = LiveCredentials::of(&config.strapi);
        let cluster = Cluster::connect(&config.cluster).await?;
        let node = Arc::new(Node::new(
            config.server.max_connections,
            cluster.backplane.clone(),
            &config.cluster,
        ));
        let (store, memory, kv) = stores(&config, &cluster.backplane, &node.id);
        let saved = store.load().await?;
        let runtime = Runtime::new(config.handlers.clone(), kv)?;
        runtime.attach_strapi(StrapiGateway::new(
            &config.strapi,
            credentials.clone(),
            &config.handlers.strapi,
        )?);
        let settings = Arc::new(
            LiveSettings::new(&config, saved, store, runtime.clone())
                .context("the saved run-time settings do not fit this configuration")?,
        );
        let auth = Arc::new(Authenticator::new(&config.strapi, credentials.clone())?);
        let catalog = Arc::new(Catalog::new(
            auth.admin.clone(),
            std::time::Duration::from_millis(config.strapi.refresh_ms),
        ));
        let gate = Arc::new(Gate::new(
            (&config.server).into(),
            Proxies::new(config.server.trusted_proxies()?),
        ));
        let relay = crate::relay::Relay::new(config.relay.clone());
        let server = Arc::new(ServerState {
            config: config.clone(),
            settings: settings.clone(),
            runtime: runtime.clone(),
            auth: auth.clone(),
            catalog: catalog.clone(),
            gate: gate.clone(),
            node: node.clone(),
            relay: relay.clone(),
        });
        let (io_layer, io) = crate::server::socket_io(server.clone(), cluster.adapter).await?;
        runtime.attach(io.clone(), node.directory.clone());
        node.directory
            .serve(io.clone())
            .await
            .context("cannot listen for the other nodes' questions on Redis")?;

        let api = crate::api::ApiState {
            config: config.clone(),
            settings: settings.clone(),
            runtime: runtime.clone(),
            node: node.clone(),
            webhooks: Default::default(),
            io: io.clone(),
            relay,
        };
        let users = crate::webhook::UserChanges::serve(
            node.backplane.clone(),
            &config.cluster.prefix,
            &node.id,
            std::time::Duration::from_millis(config.cluster.request_timeout_ms),
            auth.clone(),
        )
        .await
        .context("cannot listen for the other nodes' news of changed users on Redis")?;
        let webhook = crate::webhook::Parts {
            config: Arc::new(config.strapi.clone()),
            credentials: credentials.clone(),
            api: Arc::new(config.api.clone()),
            backplane: node.backplane.clone(),
            cluster_prefix: config.cluster.prefix.clone(),
            node: node.clone(),
            stats: api.webhooks.clone(),
            catalog: catalog.clone(),
            settings: settings.clone(),
            auth,
            io: io.clone(),
            handlers: runtime.clone(),
            directory: node.directory.clone(),
            users,
        };
        let routes = crate::server::routes(server.clone())
            .merge(crate::api::router(api))
            .merge(crate::admin::router())
            .merge(crate::webhook::router(webhook));
        let router = crate::server::around(routes, io_layer, server);
        Ok(Self {
            router,
            io,
            config,
            settings,
            runtime,
            catalog,
            gate,
            node,
            kv: memory,
            credentials,
            config_file: None,
            workers: Workers::default(),
        })
    }

    /// The config file `config` was read from: iohost follows its Strapi credentials.
    pub fn with_config_file(mut self, file: Option<std::path::PathBuf>) -> Self {
        self.config_file = file;
        self
    }

    /// Connections run on `workers`' runtimes (by default: this one).
    pub fn with_workers(mut self, workers: Workers) -> Self {
        self.workers = workers;
        self
    }

    /// Listens until SIGINT or SIGTERM, then drains (see [`shutdown`]) and returns.
    pub async fn serve(self) -> anyhow::Result<()> {
        let signals = shutdown::Signals::install().context("cannot listen for SIGINT/SIGTERM")?;
        self.record_handler_faults();
        let _config_watch = self.follow_config_file();
        let _watcher = self.start_handlers().await?;
        self.start_kv_sweeper();
        self.catalog.spawn_upkeep();
        self.follow_other_nodes_settings().await?;
        if let Some(handle) = self.node.metrics.clone() {
            crate::metrics::spawn_upkeep(handle);
        }
        let addr = self.config.server.listen;
        let listener =
            listen(addr).with_context(|| format!("cannot listen on {addr} (server.listen)"))?;
        let local = listener.local_addr()?;
        let _ = self.node.address.set(local);
        self.publish_node_stats();
        tracing::info!(
            namespaces = ?self.config.server.all_namespaces(),
            "iohost listening on http://{local}"
        );
        shutdown::serve_until_signal(listener, self, signals).await
    }

    /// New Strapi credentials in the config file (`iohost strapi setup`) apply without a
    /// restart. A file that cannot be watched is logged and only read at start.
    fn follow_config_file(&self) -> Option<config_watch::ConfigWatch> {
        let file = self.config_file.clone()?;
        match config_watch::follow(file.clone(), self.config.clone(), self.credentials.clone()) {
            Ok(watch) => Some(watch),
            Err(e) => {
                tracing::warn!(file = %file.display(), "cannot follow the config file (new Strapi settings need a restart): {e}");
                None
            }
        }
    }

    /// Handlers switched off after their faults become the run-time setting
    /// `faultedHandlers`: saved, shown on the admin page, and applied on every node.
    fn record_handler_faults(&self) {
        let Some(mut notices) = self.runtime.fault_notices() else {
            return;
        };
        let settings = Arc::downgrade(&self.settings);
        tokio::spawn(async move {
            while let Some(notice) = notices.recv().await {
                let Some(settings) = settings.upgrade() else {
                    return;
                };
                let saved = settings
                    .modify(|s| match &notice {
                        FaultNotice::SwitchedOff(name, faulted) => {
                            s.faulted_handlers.insert(name.clone(), faulted.clone());
                        }
                        FaultNotice::NewVersion(name) => {
                            s.faulted_handlers.remove(name);
                        }
                    })
                    .await;
                if let Err(e) = saved {
                    tracing::error!("cannot record a handler's switch-off in the settings: {e}");
                }
            }
        });
    }

    /// Loads the handlers folder and, if configured, watches it. The watcher lives as long as
    /// the returned guard.
    async fn start_handlers(&self) -> anyhow::Result<Option<crate::handlers::Watcher>> {
        let settings = &self.config.handlers;
        if !settings.enabled {
            tracing::info!("handlers are disabled (handlers.enabled = false)");
            return Ok(None);
        }
        self.runtime.load_all().await;
        if !settings.watch {
            return Ok(None);
        }
        let watcher = self
            .runtime
            .watch()
            .with_context(|| format!("cannot watch {} (handlers.dir)", settings.dir.display()))?;
        Ok(Some(watcher))
    }

    /// Expired KV entries nobody reads again are dropped once a minute.
    /// In a cluster: applies the settings another node saved, when it announces them.
    async fn follow_other_nodes_settings(&self) -> anyhow::Result<()> {
        let Backplane::Redis(redis) = &self.node.backplane else {
            return Ok(());
        };
        let channel = RedisSettings::channel_for(&self.config.cluster.prefix);
        let mut changes = redis
            .listen(&channel, 64)
            .await
            .context("cannot follow the cluster's settings")?;
        let (settings, node) = (Arc::downgrade(&self.settings), self.node.id.clone());
        tokio::spawn(async move {
            while let Some((_, from)) = changes.recv().await {
                let Some(settings) = settings.upgrade() else {
                    return;
                };
                if from == node.as_bytes() {
                    continue;
                }
                match settings.apply_saved().await {
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
        let Backplane::Redis(link) = self.node.backplane.clone() else {
            return;
        };
        let node = Arc::downgrade(&self.node);
        let prefix = self.config.cluster.prefix.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(crate::cluster::nodes::EVERY);
            loop {
                every.tick().await;
                let Some(node) = node.upgrade() else {
                    return;
                };
                crate::cluster::nodes::publish(&link, &prefix, &node.stats()).await;
            }
        });
    }

    fn start_kv_sweeper(&self) {
        let kv = Arc::downgrade(&self.kv);
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
