//! The admin page at `/admin`: live connections, events, rooms, clients, handlers and
//! settings, for operators. Plain HTML, CSS and JavaScript compiled into the binary; it signs in
//! with an API key (kept in the tab's session storage, sent as a header, never in a URL) and
//! reads everything from the HTTP API, live through `/api/v1/live`.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

const INDEX: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/admin.js");
const STYLE: &str = include_str!("page/admin.css");

/// The page may talk to this origin only, and may not be framed.
const SECURITY_HEADERS: [(header::HeaderName, &str); 4] = [
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    ),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::CACHE_CONTROL, "no-store"),
];

pub fn router() -> Router {
    Router::new()
        .route("/admin", get(|| file(INDEX, "text/html; charset=utf-8")))
        .route("/admin/", get(|| file(INDEX, "text/html; charset=utf-8")))
        .route(
            "/admin/admin.js",
            get(|| file(SCRIPT, "text/javascript; charset=utf-8")),
        )
        .route(
            "/admin/admin.css",
            get(|| file(STYLE, "text/css; charset=utf-8")),
        )
}

async fn file(body: &'static str, content_type: &'static str) -> impl IntoResponse {
    (
        SECURITY_HEADERS,
        [(header::CONTENT_TYPE, content_type)],
        body,
    )
}
