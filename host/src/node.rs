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
    /// Content events being delivered, each holding a read guard: shutdown takes the write
    /// guard before it closes the sockets, so that an event begun while the node was ready
    /// reaches them whole and counts as delivered (a retry would send it twice to the sockets
    /// of the other nodes).
    deliveries: tokio::sync::RwLock<()>,
    /// Set when the sockets start closing, waited-for deliveries done or not.
    closing: AtomicBool,
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
            deliveries: tokio::sync::RwLock::new(()),
            closing: AtomicBool::new(false),
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

    /// Leave to deliver a content event to this node's sockets; `None` once shutdown has begun.
    /// Shutdown closes the sockets only after the guard is dropped (or its wait is over).
    pub async fn delivery(&self) -> Option<tokio::sync::RwLockReadGuard<'_, ()>> {
        // Checked first too: once the stop waits for the lock, a new reader would queue
        // behind it (tokio's lock is fair) and be refused only after the wait.
        if !self.is_ready() {
            return None;
        }
        let guard = self.deliveries.read().await;
        self.is_ready().then_some(guard)
    }

    /// Shutdown has begun: not ready (`/readyz` 503), no new deliveries; then waits at most
    /// `within` for those under way, and marks the sockets closing. False when the wait ran out.
    pub async fn stop_deliveries(&self, within: std::time::Duration) -> bool {
        self.ready.store(false, Ordering::Relaxed);
        let done = tokio::time::timeout(within, self.deliveries.write())
            .await
            .is_ok();
        self.closing.store(true, Ordering::SeqCst);
        done
    }

    /// The sockets have started closing: what is emitted now may reach only some of them.
    pub fn sockets_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
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

    #[tokio::test]
    async fn shutdown_waits_for_deliveries_under_way_and_refuses_new_ones() {
        let node = Arc::new(Node::new(
            10,
            Backplane::Local,
            &crate::config::ClusterConfig::default(),
        ));
        let under_way = node.delivery().await.expect("ready: a delivery may begin");
        let stopping = tokio::spawn({
            let node = node.clone();
            async move {
                node.stop_deliveries(std::time::Duration::from_secs(30))
                    .await
            }
        });
        // The stop waits for the delivery under way; meanwhile no new one begins.
        while node.is_ready() {
            tokio::task::yield_now().await;
        }
        assert!(!node.sockets_closing(), "the sockets wait for the delivery");
        drop(under_way);
        assert!(stopping.await.expect("the stop ends"), "in time");
        assert!(node.sockets_closing());
        assert!(
            node.delivery().await.is_none(),
            "no delivery after the stop"
        );
    }

    #[tokio::test]
    async fn a_stuck_delivery_delays_the_sockets_closing_only_so_long() {
        let node = Node::new(
            10,
            Backplane::Local,
            &crate::config::ClusterConfig::default(),
        );
        let _stuck = node.delivery().await.expect("ready");
        let in_time = node
            .stop_deliveries(std::time::Duration::from_millis(20))
            .await;
        assert!(!in_time, "the wait ran out");
        assert!(node.sockets_closing(), "the sockets close all the same");
    }
}
