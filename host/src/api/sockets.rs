//! Sockets: list them (with their users), join or leave rooms for them, disconnect them (the
//! plugin's `getSocketsInRoom`, `joinRoom`, `leaveRoom`, `disconnectSocket`). In a cluster the
//! actions by id reach a socket on any node; the list shows this node's sockets.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::{ApiState, Body, Params};
use crate::cluster::SocketRef;

use crate::model::SocketView;
use crate::rooms::RESERVED_PREFIX;
use crate::sockets::{find, socket_view};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Namespace, default `/`.
    pub namespace: Option<String>,
    /// Only the sockets in this room.
    pub room: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct NamespaceQuery {
    /// Namespace, default `/`.
    pub namespace: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// Any name but iohost's own (`io-...`).
    #[schema(min_length = 1, max_length = 256)]
    pub room: String,
    /// Namespace, default `/`.
    pub namespace: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoomResponse {
    pub success: bool,
    pub room: String,
}

fn namespace(ns: Option<String>) -> String {
    ns.unwrap_or_else(|| "/".to_owned())
}

/// A socket the API acts on: on this node, or (in a cluster) on another one.
enum Target {
    Here(SocketRef),
    Elsewhere(socketioxide::socket::RemoteSocket<crate::cluster::Adapter>),
}

/// Socket `id` of namespace `ns` (default `/`) on any node, or 404.
async fn socket(state: &ApiState, ns: Option<String>, id: String) -> Result<Target, ApiError> {
    let namespace = namespace(ns);
    if let Some(here) = find(&state.io, &namespace, &id) {
        return Ok(Target::Here(here));
    }
    if let (crate::cluster::Backplane::Redis(_), Some(operators)) =
        (&state.node.backplane, state.io.of(&namespace))
    {
        let elsewhere = operators
            .fetch_sockets()
            .await
            .unwrap_or_default()
            .into_iter()
            .find(|s| s.data().id.to_string() == id);
        if let Some(remote) = elsewhere {
            return Ok(Target::Elsewhere(remote));
        }
    }
    Err(ApiError::NoSocket { id, namespace })
}

/// A remote action that did not go through: the socket or its node went away meanwhile.
fn remote_failed(e: impl std::fmt::Display) -> ApiError {
    tracing::info!("an API action on another node's socket did not go through: {e}");
    ApiError::NoSocket {
        id: "(on another node)".into(),
        namespace: "its node did not answer".into(),
    }
}

/// Rooms the API may put sockets in: any name but iohost's own (`io-...`).
fn check_room(room: &str) -> Result<(), ApiError> {
    if room.is_empty() || room.len() > 256 {
        return Err(ApiError::BadRequest(
            "`room` must have 1 to 256 characters".into(),
        ));
    }
    if room.starts_with(RESERVED_PREFIX) {
        return Err(ApiError::BadRequest(format!(
            "rooms starting with `{RESERVED_PREFIX}` are managed by iohost"
        )));
    }
    Ok(())
}

#[utoipa::path(
    get,
    path = "/sockets",
    params(ListQuery),
    responses(
        (status = 200, description = "Connected sockets, with their users and rooms", body = Vec<SocketView>),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "Unknown namespace", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<ApiState>,
    Params(query): Params<ListQuery>,
) -> Result<Json<Vec<SocketView>>, ApiError> {
    let ns = namespace(query.namespace);
    let operators = state
        .io
        .of(&ns)
        .ok_or_else(|| ApiError::NoNamespace(ns.clone()))?;
    let sockets = match query.room {
        Some(room) => operators.within(room).sockets(),
        None => operators.sockets(),
    };
    Ok(Json(views(&sockets)))
}

fn views(sockets: &[SocketRef]) -> Vec<SocketView> {
    let mut views: Vec<SocketView> = sockets.iter().map(socket_view).collect();
    views.sort_by(|a, b| a.id.cmp(&b.id));
    views
}

/// Every connected socket of every namespace.
pub fn all_sockets(state: &ApiState) -> Vec<SocketView> {
    let sockets: Vec<SocketRef> = state
        .io
        .nsps()
        .into_iter()
        .flat_map(|ns| ns.sockets())
        .collect();
    views(&sockets)
}

#[utoipa::path(
    delete,
    path = "/sockets/{id}",
    params(("id" = String, Path, description = "Socket id"), NamespaceQuery),
    responses(
        (status = 200, description = "Disconnected", body = RoomResponse),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such socket", body = ErrorBody),
    )
)]
pub async fn disconnect(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Params(query): Params<NamespaceQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    match socket(&state, query.namespace, id).await? {
        Target::Here(socket) => {
            let _ = socket.disconnect();
        }
        Target::Elsewhere(remote) => remote.disconnect().await.map_err(remote_failed)?,
    }
    Ok(Json(serde_json::json!({ "success": true })))
}

#[utoipa::path(
    post,
    path = "/sockets/{id}/rooms",
    params(("id" = String, Path, description = "Socket id")),
    request_body = JoinRequest,
    responses(
        (status = 200, description = "Joined", body = RoomResponse),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such socket", body = ErrorBody),
    )
)]
pub async fn join(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Body(request): Body<JoinRequest>,
) -> Result<Json<RoomResponse>, ApiError> {
    check_room(&request.room)?;
    match socket(&state, request.namespace, id).await? {
        Target::Here(socket) => crate::sockets::join(&socket, request.room.clone()),
        Target::Elsewhere(remote) => remote
            .join(request.room.clone())
            .await
            .map_err(remote_failed)?,
    }
    Ok(Json(RoomResponse {
        success: true,
        room: request.room,
    }))
}

#[utoipa::path(
    delete,
    path = "/sockets/{id}/rooms/{room}",
    params(("id" = String, Path, description = "Socket id"), ("room" = String, Path), NamespaceQuery),
    responses(
        (status = 200, description = "Left (also when it was not in the room)", body = RoomResponse),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such socket", body = ErrorBody),
    )
)]
pub async fn leave(
    State(state): State<ApiState>,
    Path((id, room)): Path<(String, String)>,
    Params(query): Params<NamespaceQuery>,
) -> Result<Json<RoomResponse>, ApiError> {
    check_room(&room)?;
    match socket(&state, query.namespace, id).await? {
        Target::Here(socket) => crate::sockets::leave(&socket, room.clone()),
        Target::Elsewhere(remote) => remote.leave(room.clone()).await.map_err(remote_failed)?,
    }
    Ok(Json(RoomResponse {
        success: true,
        room,
    }))
}
