//! API errors: one enum, one JSON shape `{error: {code, message}}`, one status each.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or wrong API key (send `Authorization: Bearer <key>`)")]
    Unauthorized,
    #[error("the HTTP API is off: no key is configured (api.keys)")]
    NotConfigured,
    #[error("{0}")]
    BadRequest(String),
    #[error("no namespace `{0}`")]
    NoNamespace(String),
    #[error("no socket `{id}` in namespace `{namespace}`")]
    NoSocket { id: String, namespace: String },
    #[error("{0}")]
    Storage(String),
    /// Nothing by that name (a relayed socket, an event waiting for an answer).
    #[error("{0}")]
    NotFound(String),
    /// A bound was reached; try later.
    #[error("{0}")]
    Busy(String),
    /// The other nodes could not be reached (Redis).
    #[error("{0}")]
    ClusterUnavailable(String),
    /// A cluster answer missed a node, and what was asked depends on it.
    #[error("{0}")]
    NodesSilent(String),
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code: `unauthorized`, `not_configured`, `bad_request`,
    /// `no_namespace`, `no_socket`, `storage` (settings could not be saved), `nodes_silent`
    /// (the socket is on no node that answered, and some node did not answer in time),
    /// `not_found` (no such relayed socket or waiting event), `busy` (a bound was reached),
    /// `cluster_unavailable` (the other nodes could not be reached).
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::NotConfigured => (StatusCode::SERVICE_UNAVAILABLE, "not_configured"),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::NoNamespace(_) => (StatusCode::NOT_FOUND, "no_namespace"),
            Self::NoSocket { .. } => (StatusCode::NOT_FOUND, "no_socket"),
            Self::Storage(_) => (StatusCode::INTERNAL_SERVER_ERROR, "storage"),
            Self::NodesSilent(_) => (StatusCode::GATEWAY_TIMEOUT, "nodes_silent"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            Self::ClusterUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "cluster_unavailable"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let body = ErrorBody {
            error: ErrorDetail {
                code,
                message: self.to_string(),
            },
        };
        (status, Json(body)).into_response()
    }
}

impl From<crate::sockets::directory::ActError> for ApiError {
    fn from(e: crate::sockets::directory::ActError) -> Self {
        use crate::sockets::directory::ActError;
        match e {
            ActError::NoSocket { ns, id } => Self::NoSocket { id, namespace: ns },
            silent @ ActError::NoAnswer { .. } => Self::NodesSilent(silent.to_string()),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        Self::BadRequest(rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::BadRequest(rejection.body_text())
    }
}

impl From<crate::settings::SettingsUpdateError> for ApiError {
    fn from(e: crate::settings::SettingsUpdateError) -> Self {
        match e {
            crate::settings::SettingsUpdateError::Invalid(e) => Self::BadRequest(e.to_string()),
            crate::settings::SettingsUpdateError::Store(e) => Self::Storage(e.to_string()),
        }
    }
}

impl From<crate::sockets::EmitError> for ApiError {
    fn from(e: crate::sockets::EmitError) -> Self {
        match e {
            crate::sockets::EmitError::NoNamespace(ns) => Self::NoNamespace(ns),
        }
    }
}
