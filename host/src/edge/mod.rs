//! The HTTP edge: accepting TCP connections and speaking HTTP/1.1 on them, under limits that a
//! client on the network cannot get around.
//!
//! - Each connection is admitted by the [`Gate`] (open connections in total and per address, new
//!   connections per second per address); a refused one gets a one-line 429 or 503 and is
//!   closed at once, counted in `iohost_edge_refused_total`.
//! - The request head must arrive within `server.header_timeout_ms` (from the first byte of a
//!   connection too: a client that connects and sends nothing is closed), a request body within
//!   `server.body_timeout_ms`, and a connection with no traffic either way for
//!   `server.idle_timeout_ms` is closed ([`idle`]); each counted in `iohost_edge_timeouts_total`.
//! - Who the client is ([`Proxies`]): the peer, or the address a trusted proxy forwarded.
//!
//! axum's own `serve` has none of these knobs (it says to use hyper for that), so this is
//! hyper's HTTP/1 connection under our own accept loop.

mod address;
mod body;
mod gate;
mod idle;
mod workers;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use http_body::Body as _;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tower::ServiceExt;

pub use address::Proxies;
pub use gate::{Gate, GateLimits, Refusal};
pub use workers::Workers;

/// How long a client may take, from `[server]`.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub header: Duration,
    pub body: Duration,
    pub idle: Duration,
}

impl From<&crate::config::ServerConfig> for Timeouts {
    fn from(s: &crate::config::ServerConfig) -> Self {
        Self {
            header: Duration::from_millis(s.header_timeout_ms),
            body: Duration::from_millis(s.body_timeout_ms),
            idle: Duration::from_millis(s.idle_timeout_ms),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, each connection on one of
/// `workers`' runtimes; then stops accepting, asks every connection to finish its request and
/// close, and returns once all of them have.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    gate: Arc<Gate>,
    timeouts: Timeouts,
    workers: Workers,
    shutdown: impl Future<Output = ()>,
) {
    let (stop, stopping) = watch::channel(false);
    // Every connection task holds a sender: when all are gone, `closed` ends.
    let (open, mut closed) = mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        match gate.admit_connection(peer.ip()) {
            Ok(permit) => {
                let connection = Connection {
                    router: router.clone(),
                    peer,
                    timeouts,
                    stopping: stopping.clone(),
                    _open: open.clone(),
                };
                workers.spawn(tcp, move |tcp| connection.serve(tcp, permit));
            }
            Err(refusal) => {
                tokio::spawn(refuse(tcp, peer, refusal));
            }
        }
    }
    drop(listener);
    let _ = stop.send(true);
    drop(open);
    let _ = closed.recv().await;
}

/// Accepting failed: a connection that died before it was accepted is nothing; running out of
/// file descriptors is worth a warning and a pause (accepting again at once would spin).
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!("cannot accept connections: {e}");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Tells a refused client why, in one short HTTP response, and closes.
async fn refuse(mut tcp: TcpStream, peer: SocketAddr, refusal: Refusal) {
    metrics::counter!(crate::metrics::EDGE_REFUSED, "reason" => refusal.reason()).increment(1);
    tracing::debug!(%peer, "refused a connection: {refusal}");
    let status = match refusal.status() {
        503 => "503 Service Unavailable",
        _ => "429 Too Many Requests",
    };
    let body = refusal.to_string();
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let answer = async {
        tcp.write_all(response.as_bytes()).await?;
        tcp.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), answer).await;
}

/// Resolves once shutdown has begun (or the accept loop is gone).
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

struct Connection {
    router: Router,
    peer: SocketAddr,
    timeouts: Timeouts,
    stopping: watch::Receiver<bool>,
    _open: mpsc::Sender<()>,
}

impl Connection {
    async fn serve(mut self, tcp: TcpStream, permit: gate::Permit) {
        // No Nagle: small Socket.IO frames leave at once. Without it, a frame written behind an
        // unacknowledged one waits for the client's delayed ACK (~40 ms p99 on loopback).
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
        let answering = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let io = TokioIo::new(idle::Idle::new(
            tcp,
            self.timeouts.idle,
            permit,
            answering.clone(),
        ));
        let (router, peer, body_limit) = (self.router, self.peer, self.timeouts.body);
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            let busy = idle::Answering::new(&answering);
            request.extensions_mut().insert(ConnectInfo(peer));
            let request = request.map(|body| {
                if body.is_end_stream() {
                    axum::body::Body::new(body)
                } else {
                    axum::body::Body::new(body::Deadline::new(body, body_limit))
                }
            });
            let answer = router.clone().oneshot(request);
            async move {
                let response = answer.await;
                drop(busy);
                response
            }
        });
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.timeouts.header);
        let connection = builder.serve_connection(io, service).with_upgrades();
        tokio::pin!(connection);
        let result = tokio::select! {
            result = connection.as_mut() => result,
            () = stopped(&mut self.stopping) => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(e) = result {
            if e.is_timeout() {
                metrics::counter!(crate::metrics::EDGE_TIMEOUTS, "kind" => "header").increment(1);
            }
            tracing::trace!(%peer, "connection ended: {e}");
        }
    }
}
