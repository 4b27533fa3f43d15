//! Each node's figures, for the cluster view of `/api/v1/stats` and the admin page: every node
//! writes its own under `<prefix>:node:<id>` every [`EVERY`], expiring after [`FORGET_AFTER`],
//! so a node that stops drops out by itself.

use std::time::Duration;

use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::RedisBackplane;

/// How often a node writes its figures.
pub const EVERY: Duration = Duration::from_secs(2);
/// A node not heard from for this long is left out.
pub const FORGET_AFTER: Duration = Duration::from_secs(6);
/// Longest wait for Redis when reading or writing the figures: the API and the admin page
/// answer with this node's own figures (`degraded`) rather than wait for a Redis that hangs.
pub const DEADLINE: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeStats {
    /// The node's id (random at its start).
    pub node: String,
    /// The address it listens on, as it sees it.
    pub address: String,
    pub connections: usize,
    pub events_per_second: f64,
    pub total_events: u64,
    /// When it wrote these figures (Unix milliseconds).
    pub at: u64,
}

/// Every node of the cluster, and the sums.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStats {
    /// `ok`, or `degraded` while this node cannot reach Redis or Redis did not answer within
    /// 500 ms: the list is then only this node's own figures.
    pub status: &'static str,
    pub nodes: Vec<NodeStats>,
    pub connections: usize,
    pub events_per_second: f64,
}

fn key(prefix: &str, node: &str) -> String {
    format!("{prefix}:node:{node}")
}

/// Writes this node's figures now.
pub async fn publish(link: &RedisBackplane, prefix: &str, stats: &NodeStats) {
    if !link.is_up() {
        return;
    }
    let Ok(text) = serde_json::to_string(stats) else {
        return;
    };
    let mut conn = link.connection();
    let write = conn.pset_ex::<_, _, ()>(
        key(prefix, &stats.node),
        text,
        FORGET_AFTER.as_millis() as u64,
    );
    match tokio::time::timeout(DEADLINE, write).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!("cannot publish this node's figures: {e}"),
        Err(_) => tracing::debug!("cannot publish this node's figures: Redis is too slow"),
    }
}

/// Every node's latest figures; `own` stands in when Redis is down or does not answer within
/// [`DEADLINE`].
pub async fn read(link: &RedisBackplane, prefix: &str, own: NodeStats) -> ClusterStats {
    if !link.is_up() {
        return summed("degraded", vec![own]);
    }
    let mut nodes = match tokio::time::timeout(DEADLINE, read_all(link, prefix)).await {
        Ok(Ok(nodes)) => nodes,
        _ => return summed("degraded", vec![own]),
    };
    // This node's own figures are the freshest.
    nodes.retain(|n| n.node != own.node);
    nodes.push(own);
    nodes.sort_by(|a, b| a.address.cmp(&b.address).then(a.node.cmp(&b.node)));
    summed("ok", nodes)
}

fn summed(status: &'static str, nodes: Vec<NodeStats>) -> ClusterStats {
    ClusterStats {
        status,
        connections: nodes.iter().map(|n| n.connections).sum(),
        events_per_second: nodes.iter().map(|n| n.events_per_second).sum(),
        nodes,
    }
}

async fn read_all(
    link: &RedisBackplane,
    prefix: &str,
) -> Result<Vec<NodeStats>, redis::RedisError> {
    let mut conn = link.connection();
    let keys = super::keys_with_prefix(&mut conn, &key(prefix, "")).await?;
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let values: Vec<Option<String>> = conn.mget(&keys).await?;
    Ok(values
        .into_iter()
        .flatten()
        .filter_map(|text| serde_json::from_str(&text).ok())
        .collect())
}
