//! This process as one node of the service: its id among the cluster's nodes, the address it
//! listens on, its sockets and event rate, the admin page's live log, whether it is ready for
//! clients, and its link to the other nodes. The transport counts into it, the API and the
//! probes read it.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::cluster::Backplane;
use crate::cluster::nodes::NodeStats;
use crate::metrics::{EventCounters, EventLog, EventRate};

#[derive(Debug)]
pub struct Node {
    /// This process among the cluster's nodes (random at start).
    pub id: String,
    /// The address it listens on, once it does.
    pub address: OnceLock<std::net::SocketAddr>,
    /// Connected sockets, within `server.max_connections`.
    pub connections: ConnectionLimit,
    /// Client events per second, for `/api/v1/stats` and `/metrics`.
    pub rate: EventRate,
    /// The live event log of the admin page.
    pub event_log: EventLog,
    /// `iohost_events_total` by namespace and event, looked up once each.
    pub event_counters: EventCounters,
    /// The link to the other nodes (or none).
    pub backplane: Backplane,
    /// Every node's sockets (this node's alone when it runs alone).
    pub directory: Arc<crate::sockets::Directory>,
    /// The Prometheus recorder's handle; `None` if another recorder was installed first.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// False once shutdown has begun: `/readyz` turns 503 so load balancers stop sending clients.
    ready: AtomicBool,
}

impl Node {
    pub fn new(
        max_connections: usize,
        backplane: Backplane,
        cluster: &crate::config::ClusterConfig,
    ) -> Self {
        let id = node_id();
        Self {
            directory: Arc::new(crate::sockets::Directory::new(
                backplane.clone(),
                cluster,
                &id,
            )),
            id,
            address: OnceLock::new(),
            connections: ConnectionLimit::new(max_connections),
            rate: EventRate::new(),
            event_log: EventLog::new(),
            event_counters: EventCounters::default(),
            backplane,
            metrics: crate::metrics::install(),
            ready: AtomicBool::new(true),
        }
    }

    /// This node's figures for the cluster view.
    pub fn stats(&self) -> NodeStats {
        NodeStats {
            node: self.id.clone(),
            address: self
                .address
                .get()
                .map(ToString::to_string)
                .unwrap_or_default(),
            connections: self.connections.current(),
            events_per_second: self.rate.per_second(10),
            total_events: self.rate.total(),
            at: crate::model::now_ms(),
        }
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Shutdown has begun.
    pub fn draining(&self) {
        self.ready.store(false, Ordering::Relaxed);
    }
}

/// A random id for this process, telling its own cluster announcements from others'.
fn node_id() -> String {
    crate::random::hex(8).unwrap_or_else(|_| {
        // Unique enough among the nodes of one cluster.
        format!("{}-{}", std::process::id(), crate::model::now_ms())
    })
}

/// `server.max_connections`: a counter of connected sockets, released when a socket is dropped.
#[derive(Debug)]
pub struct ConnectionLimit {
    max: usize,
    current: Arc<AtomicUsize>,
}

/// Holds one connection slot; kept in the socket's extensions so the slot frees itself whenever
/// the socket goes away, whatever the path (disconnect, rejected by a later middleware, timeout).
#[derive(Debug)]
pub struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Debug, thiserror::Error)]
#[error("Server is full: at most {max} connections")]
pub struct Full {
    max: usize,
}

impl ConnectionLimit {
    pub fn new(max: usize) -> Self {
        Self {
            max,
            current: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn try_acquire(&self) -> Result<Slot, Full> {
        self.current
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .map(|_| Slot(self.current.clone()))
            .map_err(|_| Full { max: self.max })
    }

    pub fn current(&self) -> usize {
        self.current.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_and_freed_on_drop() {
        let limit = ConnectionLimit::new(2);
        let a = limit.try_acquire().expect("first");
        let _b = limit.try_acquire().expect("second");
        assert!(limit.try_acquire().is_err());
        drop(a);
        assert_eq!(limit.current(), 1);
        assert!(limit.try_acquire().is_ok());
    }
}
