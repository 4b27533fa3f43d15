//! `Authorization: Bearer <key>` against `api.keys`, compared in constant time. Keys are never
//! logged; a refusal logs only the client address and path.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiState;
use super::error::ApiError;

pub async fn require_key(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let api = &state.config.api;
    if api.keys.is_empty() {
        return ApiError::NotConfigured.into_response();
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if !api.accepts(presented) {
        tracing::info!(path = %request.uri().path(), "API request refused: missing or wrong key");
        return ApiError::Unauthorized.into_response();
    }
    next.run(request).await
}
