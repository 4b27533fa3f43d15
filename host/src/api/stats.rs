//! Connection and handler figures (the plugin's `getConnectionStats`; more in monitoring).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiState;
use super::error::ErrorBody;
use crate::handlers::short;
use crate::sockets::identity_of;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Connected sockets, all namespaces.
    pub connections: usize,
    /// Client events per second over the last 10 seconds (a sliding window).
    pub events_per_second: f64,
    /// Client events since start.
    pub total_events: u64,
    /// Strapi webhooks since start.
    #[schema(value_type = Object)]
    pub webhooks: serde_json::Value,
    /// This node's namespaces (rooms and member counts cover every node of a cluster).
    pub namespaces: Vec<NamespaceStats>,
    /// Cluster mode: every node's figures and their sums; absent on a single node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<crate::cluster::nodes::ClusterStats>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NamespaceStats {
    pub name: String,
    pub sockets: usize,
    /// Sockets per role.
    pub roles: std::collections::BTreeMap<String, usize>,
    /// Rooms with their member counts (iohost's `io-role-...` rooms included).
    pub rooms: Vec<RoomStats>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoomStats {
    pub name: String,
    pub members: usize,
}

#[utoipa::path(get, path = "/stats", responses((status = 200, body = Stats), (status = 401, body = ErrorBody)))]
pub async fn stats(State(state): State<ApiState>) -> Json<Stats> {
    Json(collect_stats(&state).await)
}

pub async fn collect_stats(state: &ApiState) -> Stats {
    let mut namespaces = Vec::new();
    for ns in state.io.nsps() {
        let mut rooms: Vec<RoomStats> = ns
            .clone()
            .rooms()
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|room| RoomStats {
                members: ns.clone().within(room.clone()).sockets().len(),
                name: room.into_owned(),
            })
            .collect();
        rooms.sort_by(|a, b| a.name.cmp(&b.name));
        let sockets = ns.clone().sockets();
        let mut roles = std::collections::BTreeMap::new();
        for socket in &sockets {
            *roles.entry(identity_of(socket).role).or_insert(0) += 1;
        }
        namespaces.push(NamespaceStats {
            name: ns.ns_path().to_owned(),
            sockets: sockets.len(),
            roles,
            rooms,
        });
    }
    namespaces.sort_by(|a, b| a.name.cmp(&b.name));
    let cluster = match &state.node.backplane {
        crate::cluster::Backplane::Local => None,
        crate::cluster::Backplane::Redis(link) => Some(
            crate::cluster::nodes::read(link, &state.config.cluster.prefix, state.node.stats())
                .await,
        ),
    };
    Stats {
        connections: state.node.connections.current(),
        events_per_second: state.node.rate.per_second(10),
        total_events: state.node.rate.total(),
        webhooks: serde_json::to_value(&*state.webhooks).unwrap_or_default(),
        namespaces,
        cluster,
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HandlerStats {
    pub name: String,
    /// First 12 hex digits of the file's sha256.
    pub version: String,
    /// Unix milliseconds.
    pub loaded_at: u64,
    /// The code it runs: `baseline` (quickly compiled, while the optimised code is compiled
    /// in the background) or `optimized`.
    pub code: crate::handlers::Tier,
    pub priority: i32,
    pub events: Vec<String>,
    pub calls: u64,
    pub errors: u64,
    pub timeouts: u64,
    pub memory_faults: u64,
    pub traps: u64,
    /// Events refused because `max_waiting` calls were waiting for an instance already.
    pub busy: u64,
    pub instances_created: u64,
    /// Instances kept idle for the next calls, and the linear memory they hold (bytes).
    pub idle_instances: usize,
    pub idle_memory_bytes: usize,
    /// Median call duration in microseconds (within ~19%); none before the first call.
    pub p50_micros: Option<f64>,
    /// 99th percentile call duration in microseconds.
    pub p99_micros: Option<f64>,
    /// The last failed call, e.g. "handler `x` failed: it ran longer than its 100 ms limit".
    pub last_error: Option<String>,
    /// The limits it runs under (keys as in `[handlers.limits]`): the operator's, or lower
    /// where its sidecar asks.
    pub limits: crate::config::HandlerLimits,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HandlersResponse {
    /// Loaded handlers, in call order.
    pub handlers: Vec<HandlerStats>,
    /// Handlers whose file could not be loaded, with why (a loaded version may keep serving).
    pub load_errors: std::collections::BTreeMap<String, String>,
    /// Handlers switched off in the run-time settings.
    pub disabled: Vec<String>,
}

fn micros(d: Option<std::time::Duration>) -> Option<f64> {
    d.map(|d| d.as_secs_f64() * 1e6)
}

#[utoipa::path(get, path = "/handlers", responses((status = 200, body = HandlersResponse), (status = 401, body = ErrorBody)))]
pub async fn handlers(State(state): State<ApiState>) -> Json<HandlersResponse> {
    Json(collect_handlers(&state))
}

pub fn collect_handlers(state: &ApiState) -> HandlersResponse {
    use std::sync::atomic::Ordering::Relaxed;
    let handlers = state
        .runtime
        .handlers()
        .iter()
        .map(|h| (h, h.idle_usage()))
        .map(|(h, (idle_instances, idle_memory_bytes))| HandlerStats {
            name: h.name.to_string(),
            version: short(&h.sha256).to_owned(),
            loaded_at: crate::model::unix_ms(h.loaded_at),
            code: h.tier,
            priority: h.registration.priority,
            events: h.registration.events.clone(),
            calls: h.stats.calls.load(Relaxed),
            errors: h.stats.errors.load(Relaxed),
            timeouts: h.stats.timeouts.load(Relaxed),
            memory_faults: h.stats.memory_faults.load(Relaxed),
            traps: h.stats.traps.load(Relaxed),
            instances_created: h.stats.instances_created.load(Relaxed),
            p50_micros: micros(h.stats.durations.quantile(0.5)),
            p99_micros: micros(h.stats.durations.quantile(0.99)),
            last_error: h.stats.last_error.lock().ok().and_then(|e| e.clone()),
            limits: h.limits,
            busy: h.stats.busy.load(Relaxed),
            idle_instances,
            idle_memory_bytes,
        })
        .collect();
    HandlersResponse {
        handlers,
        load_errors: state.runtime.load_errors().into_iter().collect(),
        disabled: state
            .settings
            .now()
            .settings
            .disabled_handlers
            .iter()
            .cloned()
            .collect(),
    }
}
