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
use axum::Router;
use socketioxide::{ParserConfig, SocketIo, TransportType};
use tokio::net::TcpListener;

use crate::config::{Config, Transport};
use crate::handlers::Runtime;
use crate::rooms::RoomPolicy;
use crate::store::{KvStore, MemoryStore};

pub use connect::identity_of;
pub use limits::ConnectionLimit;
pub use reply::deliver;

/// What every namespace handler needs, shared through socketioxide's state.
#[derive(Debug)]
pub struct Shared {
    pub config: Config,
    pub rooms: RoomPolicy,
    pub connections: ConnectionLimit,
    pub runtime: Arc<Runtime>,
    pub kv: Arc<MemoryStore>,
    /// Client events per second, for `/api/v1/stats` and `/metrics`.
    pub rate: crate::metrics::EventRate,
    /// The Prometheus recorder's handle; `None` if another recorder was installed first.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// False once shutdown has begun: `/readyz` turns 503 so load balancers stop sending clients.
    pub ready: AtomicBool,
}

pub type SharedRef = Arc<Shared>;

/// A built server, not yet listening.
pub struct App {
    pub router: Router,
    pub io: SocketIo,
    pub shared: SharedRef,
}

impl App {
    pub fn new(config: Config) -> anyhow::Result<Self> {
        let kv = Arc::new(MemoryStore::new());
        let runtime = Runtime::new(config.handlers.clone(), kv.clone() as Arc<dyn KvStore>)?;
        let shared = Arc::new(Shared {
            rooms: RoomPolicy::new(&config.rooms)?,
            runtime,
            kv,
            rate: crate::metrics::EventRate::new(),
            metrics: crate::metrics::install(),
            connections: ConnectionLimit::new(config.server.max_connections),
            ready: AtomicBool::new(true),
            config,
        });
        let s = &shared.config.server;
        let parser = ParserConfig::common()
            .max_incoming_binaries(s.max_attachments)
            .max_incoming_binary_buf_size(s.max_payload_bytes as usize);
        let builder = SocketIo::builder()
            .ping_interval(s.ping_interval())
            .ping_timeout(s.ping_timeout())
            .connect_timeout(s.connect_timeout())
            .max_payload(s.max_payload_bytes)
            .ws_max_message_size(s.max_payload_bytes as usize)
            .ws_max_frame_size(s.max_payload_bytes as usize)
            .max_buffer_size(s.socket_queue_size)
            .with_parser(parser)
            .with_state(shared.clone());
        let has = |t| s.transports.contains(&t);
        let builder = match (has(Transport::Polling), has(Transport::Websocket)) {
            (true, false) => builder.transports([TransportType::Polling]),
            (false, true) => builder.transports([TransportType::Websocket]),
            _ => builder,
        };
        let (io_layer, io) = builder.build_layer();
        shared.runtime.attach(io.clone());
        connect::register_namespaces(&io, &shared.config);

        let router = http::routes(shared.clone())
            .merge(crate::api::router(shared.clone(), io.clone()))
            .layer(io_layer)
            .layer(http::cors(&shared.config.server.cors_origins))
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
        if let Some(handle) = self.shared.metrics.clone() {
            crate::metrics::spawn_upkeep(handle);
        }
        let addr = self.shared.config.server.listen;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (server.listen)"))?;
        let local = listener.local_addr()?;
        tracing::info!(
            namespaces = ?self.shared.config.server.all_namespaces(),
            "iohost listening on http://{local}"
        );
        shutdown::serve_until_signal(listener, self, signals).await
    }
}

impl App {
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
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}
