//! Graceful shutdown on SIGINT / SIGTERM: turn `/readyz` to 503, stop accepting connections,
//! close every Socket.IO transport (clients see "transport close" and reconnect, to another node
//! or to this one once it is back), then wait at most `server.shutdown_drain_ms` for in-flight
//! HTTP requests before exiting with status 0.

use std::sync::atomic::Ordering;

use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use super::App;

pub async fn serve_until_signal(listener: TcpListener, app: App) -> anyhow::Result<()> {
    let App { router, io, shared } = app;
    let drain_started = Arc::new(Notify::new());
    let started = drain_started.clone();
    let drain = shared.config.server.shutdown_drain();

    let graceful = async move {
        let signal = wait_for_signal().await;
        tracing::info!(
            signal,
            "shutting down: closing {} connections",
            shared.connections.current()
        );
        shared.ready.store(false, Ordering::Relaxed);
        started.notify_one();
        io.close().await;
    };
    let server = axum::serve(listener, router).with_graceful_shutdown(graceful);

    tokio::select! {
        result = server => result?,
        () = async { drain_started.notified().await; tokio::time::sleep(drain).await } => {
            tracing::warn!("drain time (server.shutdown_drain_ms) is over; exiting with requests still open");
        }
    }
    tracing::info!("iohost stopped");
    Ok(())
}

async fn wait_for_signal() -> &'static str {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for SIGINT: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => "SIGINT",
        () = terminate => "SIGTERM",
    }
}
