//! Plain HTTP around the Socket.IO endpoint: probes, CORS headers and the origin check.

use axum::Json;
use axum::Router;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::services::ServeDir;

use super::SharedRef;
use crate::model::{ClientAddress, SessionOpening};

/// Where socketioxide answers; the origin check applies below it.
pub const SOCKET_IO_PATH: &str = "/socket.io";

pub fn routes(shared: SharedRef) -> Router {
    let static_dir = shared.config.server.static_dir.clone();
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(prometheus))
        .with_state(shared);
    if static_dir.as_os_str().is_empty() {
        router
    } else {
        router.fallback_service(ServeDir::new(static_dir))
    }
}

/// Alive: the process answers HTTP.
async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Ready for new clients: 503 once shutdown has begun. `cluster` says whether this node reaches
/// the others: `degraded` while Redis is unreachable. That stays a 200 on purpose: every node
/// shares the Redis, so a 503 would make a load balancer drop all of them at once, while each
/// still serves its own clients.
async fn readyz(State(shared): State<SharedRef>) -> Response {
    if shared.node.is_ready() {
        let cluster = match (&shared.node.backplane, shared.node.backplane.is_up()) {
            (crate::cluster::Backplane::Local, _) => "off",
            (_, true) => "ok",
            (_, false) => "degraded",
        };
        Json(json!({
            "status": "ready",
            "connections": shared.node.connections.current(),
            "cluster": cluster,
        }))
        .into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "draining" })),
        )
            .into_response()
    }
}

/// Prometheus text format: every figure in [`crate::metrics`]. With `metrics.require_key`, only
/// for a client that presents one of `api.keys`.
async fn prometheus(State(shared): State<SharedRef>, headers: HeaderMap) -> Response {
    if shared.config.metrics.require_key {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !shared.config.api.accepts(presented) {
            return (
                StatusCode::UNAUTHORIZED,
                "metrics need `Authorization: Bearer <key>` (metrics.require_key)",
            )
                .into_response();
        }
    }
    let Some(handle) = &shared.node.metrics else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder unavailable",
        )
            .into_response();
    };
    metrics::gauge!(crate::metrics::EVENTS_PER_SECOND).set(shared.node.rate.per_second(10));
    let mut text = handle.render();
    crate::metrics::render_call_seconds(&mut text);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// CORS headers for browsers: the configured origins, or any with `*`. iohost authenticates
/// with tokens, not cookies, so credentials are not allowed (clients keep `withCredentials: false`).
pub fn cors(shared: SharedRef) -> CorsLayer {
    // Read at each request: the allowed origins are a run-time setting.
    let allow = AllowOrigin::predicate(move |origin, _| {
        let origins = &shared.settings.now().cors_origins;
        origin.to_str().is_ok_and(|o| {
            origins
                .iter()
                .any(|a| a == "*" || a.eq_ignore_ascii_case(o))
        })
    });
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers(Any)
}

/// A Socket.IO request that opens a session (no `sid` yet) must be let in by the edge's gate
/// (sessions waiting to join a namespace, per client address and in total); a refused one gets
/// 429 or 503 with the reason, as Engine.IO answers errors.
///
/// socketioxide keeps the head of that request (`req_parts`) for the socket's whole life, so
/// it goes on holding only what is read later (see [`slim_head`]); the heads of later polling
/// requests are not kept.
pub async fn open_session(
    State(shared): State<SharedRef>,
    mut request: Request,
    next: Next,
) -> Response {
    if request.uri().path().starts_with(SOCKET_IO_PATH) && !has_session(request.uri()) {
        if !shared.config.server.allow_eio3 && asks_eio3(request.uri()) {
            // Engine.IO's own answer to a version it does not speak (error code 5).
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "code": 5, "message": "Unsupported protocol version" })),
            )
                .into_response();
        }
        let client = client_address(&shared, &request);
        if let Some(client) = client
            && let Err(refusal) = shared.gate.admit_session(client.ip)
        {
            metrics::counter!(crate::metrics::EDGE_REFUSED, "reason" => refusal.reason())
                .increment(1);
            tracing::debug!(%client, "refused a session: {refusal}");
            let status =
                StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return (
                status,
                Json(json!({ "code": 3, "message": refusal.to_string() })),
            )
                .into_response();
        }
        slim_head(&mut request, SessionOpening::new(client));
    }
    next.run(request).await
}

/// The client behind a request: the peer, or who a trusted proxy says it forwards.
fn client_address<B>(
    shared: &SharedRef,
    request: &axum::http::Request<B>,
) -> Option<ClientAddress> {
    let ConnectInfo(peer) = request
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()?;
    let ip = shared.gate.proxies().client(peer.ip(), request.headers());
    Some(ClientAddress::of(*peer, ip))
}

/// socket.io-client v2 opens its session with `EIO=3`.
fn asks_eio3(uri: &Uri) -> bool {
    uri.query().is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes()).any(|(key, value)| key == "EIO" && value == "3")
    })
}

fn has_session(uri: &Uri) -> bool {
    uri.query()
        .is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(key, _)| key == "sid"))
}

/// Leaves in a session-opening request's head only what is read after the session opens: the
/// URI (the socket's query), the WebSocket key engineioxide answers the upgrade with, hyper's
/// upgrade handle, and `opening`. Every other header and extension stays out (the kept head
/// was 1.2 KB per idle socket, now 0.4 KB: BENCHMARKS.md). hyper parses the URI and header
/// values as slices of its connection's read buffer, so the two kept are copied out of it: a
/// slice would keep that whole buffer (16 KB) alive as long as the socket.
fn slim_head<B>(request: &mut axum::http::Request<B>, opening: SessionOpening) {
    // Room for the one header: a map's first insert otherwise makes room for eight (~0.6 KB).
    let mut headers = HeaderMap::with_capacity(1);
    if let Some(key) = request.headers().get(header::SEC_WEBSOCKET_KEY)
        && let Ok(owned) = HeaderValue::from_bytes(key.as_bytes())
    {
        headers.insert(header::SEC_WEBSOCKET_KEY, owned);
    }
    *request.headers_mut() = headers;
    let upgrade = request
        .extensions_mut()
        .remove::<hyper::upgrade::OnUpgrade>();
    let extensions = request.extensions_mut();
    *extensions = axum::http::Extensions::new();
    extensions.insert(opening);
    if let Some(upgrade) = upgrade {
        extensions.insert(upgrade);
    }
    if let Ok(owned) = Uri::try_from(request.uri().to_string()) {
        *request.uri_mut() = owned;
    }
}

/// Browsers do not apply CORS to websockets, and a refused CORS check still lets a polling
/// request reach the server. So a Socket.IO request that carries an `Origin` header outside
/// `server.cors_origins` (and not this server's own origin) is refused outright with 403.
/// Requests without `Origin` come from non-browser clients and pass.
pub async fn origin_guard(
    State(shared): State<SharedRef>,
    request: Request,
    next: Next,
) -> Response {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .map(|o| o.to_str().unwrap_or_default());
    if let Some(origin) = origin
        && request.uri().path().starts_with(SOCKET_IO_PATH)
        && !origin_allowed(
            origin,
            &shared.settings.now().cors_origins,
            request.headers(),
        )
    {
        tracing::info!(
            origin,
            "refused a Socket.IO request from an origin not in server.cors_origins"
        );
        return (
            StatusCode::FORBIDDEN,
            Json(json!({ "code": 4, "message": format!("Origin {origin} is not allowed") })),
        )
            .into_response();
    }
    next.run(request).await
}

fn origin_allowed(origin: &str, allowed: &[String], headers: &HeaderMap) -> bool {
    if allowed
        .iter()
        .any(|a| a == "*" || a.eq_ignore_ascii_case(origin))
    {
        return true;
    }
    // Same origin: pages served by iohost itself (the demo, the admin page).
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_authority = origin.split_once("://").map(|(_, rest)| rest);
    matches!((host, origin_authority), (Some(h), Some(o)) if h.eq_ignore_ascii_case(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(h: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, h.parse().expect("header"));
        headers
    }

    #[test]
    fn origins_are_matched_exactly_or_as_same_origin() {
        let allowed = vec!["http://localhost:3000".to_owned()];
        assert!(origin_allowed(
            "http://localhost:3000",
            &allowed,
            &host("x:1")
        ));
        assert!(!origin_allowed(
            "http://localhost:3001",
            &allowed,
            &host("x:1")
        ));
        assert!(!origin_allowed(
            "http://evil.example",
            &allowed,
            &host("x:1")
        ));
        assert!(origin_allowed(
            "http://127.0.0.1:1338",
            &allowed,
            &host("127.0.0.1:1338")
        ));
        assert!(origin_allowed(
            "http://anything",
            &["*".to_owned()],
            &host("x:1")
        ));
    }

    #[test]
    fn a_slim_head_keeps_only_what_is_read_later_and_shares_no_memory_with_the_connection_buffer() {
        // As hyper parses: values and the URI are slices of one read buffer.
        let buffer = axum::body::Bytes::from(vec![b'x'; 16 * 1024]);
        let range = buffer.as_ptr() as usize..buffer.as_ptr() as usize + buffer.len();
        let value = HeaderValue::from_maybe_shared(buffer.slice(0..8)).expect("value");
        let mut uri_bytes = b"/socket.io/?EIO=4&transport=websocket".to_vec();
        uri_bytes.resize(16 * 1024, b'x');
        let uri_buffer = axum::body::Bytes::from(uri_bytes);
        let uri_range =
            uri_buffer.as_ptr() as usize..uri_buffer.as_ptr() as usize + uri_buffer.len();
        let uri = Uri::from_maybe_shared(uri_buffer.slice(0..37)).expect("uri");
        let peer: std::net::SocketAddr = "10.0.0.1:4000".parse().expect("peer");
        let mut request = axum::http::Request::builder()
            .uri(uri)
            .header("sec-websocket-key", value)
            .header("cookie", "session=secret")
            .header("x-forwarded-for", "192.0.2.7")
            .header("user-agent", "test")
            .extension(ConnectInfo(peer))
            .body(())
            .expect("request");
        let inside = |range: &std::ops::Range<usize>, p: *const u8| range.contains(&(p as usize));
        assert!(inside(
            &range,
            request.headers()["sec-websocket-key"].as_bytes().as_ptr()
        ));

        let client = ClientAddress::of(peer, peer.ip());
        slim_head(&mut request, SessionOpening::new(Some(client)));

        let names: Vec<_> = request.headers().keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["sec-websocket-key"]);
        let value = &request.headers()["sec-websocket-key"];
        assert_eq!(value.as_bytes(), b"xxxxxxxx");
        assert!(!inside(&range, value.as_bytes().as_ptr()));
        assert!(
            request
                .extensions()
                .get::<ConnectInfo<std::net::SocketAddr>>()
                .is_none()
        );
        let opening = request
            .extensions()
            .get::<SessionOpening>()
            .expect("the session's opening");
        assert_eq!(opening.client, Some(client));
        assert!(opening.first_join());
        assert!(!opening.clone().first_join(), "a clone shares the ticket");
        let path = request.uri().path_and_query().expect("path");
        assert_eq!(path.as_str(), "/socket.io/?EIO=4&transport=websocket");
        assert!(!inside(&uri_range, path.as_str().as_ptr()));
        assert!(!has_session(request.uri()));
        assert!(has_session(&Uri::from_static(
            "/socket.io/?EIO=4&transport=polling&sid=abc"
        )));
    }

    #[test]
    fn a_polling_open_keeps_no_header() {
        let mut request = axum::http::Request::builder()
            .uri("/socket.io/?EIO=4&transport=polling")
            .header("authorization", "Bearer secret")
            .body(())
            .expect("request");
        slim_head(&mut request, SessionOpening::new(None));
        assert!(request.headers().is_empty());
        assert_eq!(
            request
                .extensions()
                .get::<SessionOpening>()
                .map(|o| o.client),
            Some(None)
        );
    }
}
