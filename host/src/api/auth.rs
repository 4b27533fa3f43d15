//! `Authorization: Bearer <key>` against `api.keys`, compared in constant time. Keys are never
//! logged; a refusal logs only the client address and path.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::ApiState;
use super::error::ApiError;

pub async fn require_key(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let keys = &state.shared.config.api.keys;
    if keys.is_empty() {
        return ApiError::NotConfigured.into_response();
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let accepted = presented.is_some_and(|p| {
        // Check every key (no early exit) so timing does not tell which one nearly matched.
        keys.iter().fold(false, |ok, key| {
            ok | bool::from(key.as_bytes().ct_eq(p.as_bytes()))
        })
    });
    if !accepted {
        tracing::info!(path = %request.uri().path(), "API request refused: missing or wrong key");
        return ApiError::Unauthorized.into_response();
    }
    next.run(request).await
}
