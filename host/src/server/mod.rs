//! The Socket.IO transport: socketioxide on axum, its namespaces and admission, client events
//! through the handler chain and the built-in events, the HTTP probes, and the origin, CORS
//! and session checks on Socket.IO requests.

mod builtins;
mod connect;
mod dispatch;
mod http;
mod reply;

use std::sync::Arc;

use axum::Router;
use socketioxide::layer::SocketIoLayer;
use socketioxide::{ParserConfig, TransportType};

use crate::auth::Authenticator;
use crate::cluster::{Adapter, Io};
use crate::config::{Config, Transport};
use crate::edge::Gate;
use crate::handlers::Runtime;
use crate::node::Node;
use crate::settings::LiveSettings;
use crate::strapi::catalog::Catalog;

/// What the transport's handlers read (socketioxide's state).
#[derive(Debug)]
pub struct ServerState {
    /// The configuration file as read at start.
    pub config: Arc<Config>,
    /// The run-time settings in use (CORS origins, rooms, access, permissions).
    pub settings: Arc<LiveSettings>,
    /// The handler chain.
    pub runtime: Arc<Runtime>,
    /// Who a connecting socket is.
    pub auth: Arc<Authenticator>,
    /// Strapi's content types and role permissions, for following documents.
    pub catalog: Arc<Catalog>,
    /// Sessions per client address and in total.
    pub gate: Arc<Gate>,
    /// This node's sockets, event rate, live log and readiness.
    pub node: Arc<Node>,
    /// Socket listeners in Strapi (the plugin's `server.on('connection')`).
    pub relay: Arc<crate::relay::Relay>,
}

pub type SharedRef = Arc<ServerState>;

/// The Socket.IO layer and server for `state`, its namespaces registered (with a cluster
/// adapter, each subscribes to its channels here).
pub async fn socket_io(
    state: SharedRef,
    adapter: socketioxide_redis::RedisAdapterCtr<crate::cluster::Backplane>,
) -> anyhow::Result<(SocketIoLayer<Adapter>, Io)> {
    let s = &state.config.server;
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
        .with_state(state.clone());
    let has = |t| s.transports.contains(&t);
    let builder = match (has(Transport::Polling), has(Transport::Websocket)) {
        (true, false) => builder.transports([TransportType::Polling]),
        (false, true) => builder.transports([TransportType::Websocket]),
        _ => builder,
    };
    let (layer, server) = builder.with_adapter::<Adapter>(adapter).build_layer();
    let io = Io::new(server, &state.node.backplane);
    connect::register_namespaces(&io, &state.config).await?;
    Ok((layer, io))
}

/// The probes (`/healthz`, `/readyz`, `/metrics`) and the static folder, if any.
pub fn routes(state: SharedRef) -> Router {
    http::routes(state)
}

/// `router` with the Socket.IO endpoint and its checks around everything: the session gate and
/// request-head copy, CORS, and the origin check (outermost).
pub fn around(router: Router, io_layer: SocketIoLayer<Adapter>, state: SharedRef) -> Router {
    router
        .layer(io_layer)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            http::open_session,
        ))
        .layer(http::cors(state.clone()))
        .layer(axum::middleware::from_fn_with_state(
            state,
            http::origin_guard,
        ))
}
