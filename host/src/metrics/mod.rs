//! Prometheus metrics (`GET /metrics`) and the live event rate. Names are listed here, once;
//! the layers that record them use these constants.
//!
//! Label values are bounded: event names a client can make up are counted under `other` unless
//! a built-in or a loaded handler knows them.

mod call_seconds;
mod durations;
mod event_counters;
mod event_log;
mod rate;

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub use call_seconds::{CallSeconds, call_seconds, render_call_seconds};
pub use durations::Durations;
pub use event_counters::EventCounters;
pub use event_log::{EventLog, LogEntry};
pub use rate::EventRate;

/// Connected sockets, by `namespace` and `role` (gauge).
pub const CONNECTIONS: &str = "iohost_connections";
/// Connections refused, by `reason`: `full`, `handler` (counter).
pub const CONNECTIONS_REFUSED: &str = "iohost_connections_refused_total";
/// Client events received, by `namespace` and `event` (counter).
pub const EVENTS: &str = "iohost_events_total";
/// Client events refused by handlers or unknown, by `reason`: `rejected` (a handler said no),
/// `failed` (a handler failed), `no_handler` (nothing knows the event), `strapi` (the Strapi
/// plugin's `socket.use` said no), `relay` (Strapi did not answer in time, or its queue was full)
/// (counter).
pub const EVENTS_REFUSED: &str = "iohost_events_refused_total";
/// Events per second over the last 10 seconds (gauge, set at each scrape).
pub const EVENTS_PER_SECOND: &str = "iohost_events_per_second";
/// Messages for Strapi's socket listeners dropped because its relay queue was full (counter).
pub const RELAY_DROPPED: &str = "iohost_relay_dropped_total";
/// Packets dropped because a client's queue was full (counter).
pub const PACKETS_DROPPED: &str = "iohost_packets_dropped_total";
/// Handler call durations, by `handler` (histogram, seconds; counted by [`CallSeconds`], 1 µs
/// to 1 s buckets).
pub const HANDLER_CALL_SECONDS: &str = "iohost_handler_call_seconds";
/// Handler calls that failed, by `handler` and `kind`: `timeout`, `memory`, `trap` (counter).
pub const HANDLER_FAULTS: &str = "iohost_handler_faults_total";
/// Handler loads, by `handler` and `result`: `loaded`, `failed`, `unloaded` (counter).
pub const HANDLER_LOADS: &str = "iohost_handler_loads_total";
/// Handler actions iohost refused, by `handler` and `action`: `emit`, `join`, `leave` in a
/// reserved room (counter).
pub const HANDLER_ACTIONS_REFUSED: &str = "iohost_handler_actions_refused_total";
/// Connections and Engine.IO sessions the edge refused, by `reason` (counter).
pub const EDGE_REFUSED: &str = "iohost_edge_refused_total";
/// Connections the edge closed for being too slow, by `kind`: `header`, `body`, `idle` (counter).
pub const EDGE_TIMEOUTS: &str = "iohost_edge_timeouts_total";
/// TCP connections open now (gauge).
pub const TCP_CONNECTIONS: &str = "iohost_tcp_connections";
/// Compile cache entries refused: not written by this iohost for that handler (counter).
pub const CACHE_REJECTED: &str = "iohost_handler_cache_rejected_total";
/// 1 while this node reaches the cluster's Redis (or runs alone), 0 while it does not (gauge).
pub const CLUSTER_UP: &str = "iohost_cluster_up";
/// Messages for other nodes not published: Redis down or too slow (counter).
pub const CLUSTER_DROPPED: &str = "iohost_cluster_messages_dropped_total";
/// Questions to the other nodes that some node did not answer in time (counter).
pub const CLUSTER_PARTIAL_ANSWERS: &str = "iohost_cluster_partial_answers_total";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder (once) and returns its handle; `None` if another
/// recorder was installed first (metrics then go there).
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new().install_recorder().ok()?;
            describe();
            Some(handle)
        })
        .clone()
}

fn describe() {
    metrics::describe_gauge!(CONNECTIONS, "Connected sockets");
    metrics::describe_counter!(CONNECTIONS_REFUSED, "Connections refused");
    metrics::describe_counter!(EVENTS, "Client events received");
    metrics::describe_counter!(EVENTS_REFUSED, "Client events refused");
    metrics::describe_gauge!(EVENTS_PER_SECOND, "Client events per second, last 10 s");
    metrics::describe_counter!(PACKETS_DROPPED, "Packets dropped for slow clients");
    metrics::describe_counter!(RELAY_DROPPED, "Messages for Strapi's listeners dropped");
    metrics::describe_counter!(HANDLER_FAULTS, "Handler calls that failed");
    metrics::describe_counter!(HANDLER_LOADS, "Handler loads");
    metrics::describe_counter!(EDGE_REFUSED, "Connections and sessions refused at the edge");
    metrics::describe_counter!(EDGE_TIMEOUTS, "Connections closed for being too slow");
    metrics::describe_gauge!(TCP_CONNECTIONS, "TCP connections open");
    metrics::describe_counter!(
        CACHE_REJECTED,
        "Compile cache entries refused (not written by this iohost for that handler)"
    );
    metrics::describe_counter!(
        HANDLER_ACTIONS_REFUSED,
        "Handler actions in reserved rooms refused"
    );
    metrics::describe_counter!(
        CLUSTER_PARTIAL_ANSWERS,
        "Cluster questions some node did not answer in time"
    );
}

/// Keeps histograms fresh; runs for the life of the process.
pub fn spawn_upkeep(handle: PrometheusHandle) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            handle.run_upkeep();
        }
    });
}

/// Webhooks received, by `event` and `result` (counter).
pub const WEBHOOKS: &str = "iohost_webhooks_total";

/// Webhook counts since start, for `/api/v1/stats` and the admin page.
#[derive(Debug, Default, serde::Serialize)]
pub struct WebhookStats {
    /// Delivered to clients (or to nobody, when no role may have it).
    pub delivered: std::sync::atomic::AtomicU64,
    /// Repeats of a notification already delivered.
    pub duplicates: std::sync::atomic::AtomicU64,
    /// Refused: wrong secret, not configured, or a body that is not a known event.
    pub refused: std::sync::atomic::AtomicU64,
    /// `trigger-test` calls.
    pub tests: std::sync::atomic::AtomicU64,
}
