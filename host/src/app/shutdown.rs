//! Graceful shutdown on SIGINT / SIGTERM: turn `/readyz` to 503, refuse new connections (503),
//! let the content events being delivered finish (at most 5 s), close every Socket.IO
//! transport (clients see "transport close" and reconnect, to another node or to this one once
//! it is back), then wait at most `server.shutdown_drain_ms` for in-flight HTTP requests before
//! exiting with status 0.

use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::Notify;

use super::App;

/// How long a stopping node waits for its messages to the other nodes to be published.
const FLUSH_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);
/// How long a stopping node waits, at most, for content events being delivered before it
/// closes its sockets (and never longer than `server.shutdown_drain_ms`).
const DELIVERIES_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

pub async fn serve_until_signal(
    listener: TcpListener,
    app: App,
    signals: Signals,
) -> anyhow::Result<()> {
    let App {
        router,
        io,
        config,
        gate,
        node,
        workers,
        ..
    } = app;
    let drain_started = Arc::new(Notify::new());
    let started = drain_started.clone();
    let drain = config.server.shutdown_drain();
    let timeouts = (&config.server).into();
    let backplane = node.backplane.clone();
    let closing_gate = gate.clone();

    let graceful = async move {
        let signal = signals.recv().await;
        tracing::info!(
            signal,
            "shutting down: closing {} connections",
            node.connections.current()
        );
        // New connections are refused (503) from now on: the accept loop goes on until this
        // future ends.
        closing_gate.close();
        // Content events being delivered reach the sockets before they close (so they count
        // as delivered, and no retry sends them twice to the other nodes' sockets).
        if !node.stop_deliveries(drain.min(DELIVERIES_WITHIN)).await {
            tracing::warn!(
                "closing the sockets with content events still being delivered (their senders will send them again)"
            );
        }
        // The drain time counts from here: in-flight requests get all of it after the wait.
        started.notify_one();
        io.close().await;
    };
    let server = crate::edge::serve(listener, router, gate, timeouts, workers, graceful);

    tokio::select! {
        () = server => {}
        () = async { drain_started.notified().await; tokio::time::sleep(drain).await } => {
            tracing::warn!("drain time (server.shutdown_drain_ms) is over; exiting with requests still open");
        }
    }
    // What the last requests emitted to other nodes still goes out.
    if !backplane.flush(FLUSH_WITHIN).await {
        tracing::warn!(
            "exiting with messages for the other nodes not yet published (Redis too slow)"
        );
    }
    tracing::info!("iohost stopped");
    Ok(())
}

/// SIGINT and SIGTERM listeners. Installed before the server says it is listening, so that a
/// signal sent right after start-up is handled gracefully instead of killing the process.
pub struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    pub fn install() -> std::io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn recv(mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}
