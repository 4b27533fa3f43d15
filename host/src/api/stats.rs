//! Connection figures: the plugin's `getConnectionStats`, and the cluster's nodes.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiState;
use super::error::ErrorBody;

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
    /// Every node's sockets, roles and rooms per namespace.
    pub namespaces: Vec<NamespaceStats>,
    /// A node did not answer within `cluster.request_timeout_ms`: `namespaces` lacks its
    /// sockets.
    pub partial: bool,
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
    /// Rooms with their member counts (iohost's `io-role-...` rooms included, sockets' own
    /// rooms left out).
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
    let counted = state.node.directory.count(&state.io).await;
    let namespaces = counted
        .namespaces
        .into_iter()
        .map(|count| NamespaceStats {
            name: count.name,
            sockets: count.sockets,
            roles: count.roles,
            rooms: count
                .rooms
                .into_iter()
                .map(|(name, members)| RoomStats { name, members })
                .collect(),
        })
        .collect();
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
        partial: !counted.coverage.complete,
        cluster,
    }
}
