//! Sockets: list them (with their users), join or leave rooms for them, disconnect them (the
//! plugin's `getSocketsInRoom`, `joinRoom`, `leaveRoom`, `disconnectSocket`). In a cluster the
//! list covers every node and the actions reach a socket on any node; when a node does not
//! answer in time, the list says so in its headers and an action on a socket no node that
//! answered holds fails with `nodes_silent`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::{ApiState, Body, Params};
use crate::model::SocketView;
use crate::rooms::RESERVED_PREFIX;
use crate::sockets::directory::{Act, Coverage};

/// Header: the nodes a cluster answer should cover, this one included (1 on a single node).
pub const NODES_HEADER: &str = "x-iohost-nodes";
/// Header: the nodes that answered in time; fewer than [`NODES_HEADER`] means the list is
/// partial (and `x-iohost-partial: true` says so).
pub const ANSWERED_HEADER: &str = "x-iohost-nodes-answered";
/// Header: `true` when a node did not answer in time, `false` otherwise.
pub const PARTIAL_HEADER: &str = "x-iohost-partial";

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Namespace, default `/`.
    pub namespace: Option<String>,
    /// Only the sockets in this room.
    pub room: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
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

/// Carries out `act` on socket `id` of `ns` (default `/`) on whichever node holds it.
async fn act(state: &ApiState, ns: Option<String>, id: String, act: Act) -> Result<(), ApiError> {
    let ns = namespace(ns);
    if state.io.of(&ns).is_none() {
        return Err(ApiError::NoNamespace(ns));
    }
    Ok(state.node.directory.act(&state.io, &ns, &id, act).await?)
}

/// The headers that tell how much of the cluster an answer covers.
pub fn coverage_headers(coverage: Coverage) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(NODES_HEADER, coverage.nodes.into());
    headers.insert(ANSWERED_HEADER, coverage.answered.into());
    let partial = if coverage.complete { "false" } else { "true" };
    headers.insert(
        PARTIAL_HEADER,
        axum::http::HeaderValue::from_static(partial),
    );
    headers
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
        (status = 200, description = "Connected sockets of every node, with their users, rooms and nodes, sorted by id", body = Vec<SocketView>,
            headers(
                ("x-iohost-nodes" = usize, description = "Nodes the list should cover, this one included"),
                ("x-iohost-nodes-answered" = usize, description = "Nodes that answered within cluster.request_timeout_ms"),
                ("x-iohost-partial" = bool, description = "True when a node did not answer: its sockets are missing"),
            )),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "Unknown namespace", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<ApiState>,
    Params(query): Params<ListQuery>,
) -> Result<(HeaderMap, Json<Vec<SocketView>>), ApiError> {
    let ns = namespace(query.namespace);
    if state.io.of(&ns).is_none() {
        return Err(ApiError::NoNamespace(ns));
    }
    let listed = state
        .node
        .directory
        .list(&state.io, Some(&ns), query.room.as_deref())
        .await;
    Ok((coverage_headers(listed.coverage), Json(listed.views())))
}

/// Every connected socket of every namespace and node.
pub async fn all_sockets(state: &ApiState) -> Vec<SocketView> {
    state
        .node
        .directory
        .list(&state.io, None, None)
        .await
        .views()
}

#[utoipa::path(
    delete,
    path = "/sockets/{id}",
    params(("id" = String, Path, description = "Socket id"), NamespaceQuery),
    responses(
        (status = 200, description = "Disconnected", body = RoomResponse),
        (status = 400, description = "Unknown query parameter", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such socket on any node", body = ErrorBody),
        (status = 504, description = "No such socket on the nodes that answered, and some node did not answer in time (`nodes_silent`)", body = ErrorBody),
    )
)]
pub async fn disconnect(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Params(query): Params<NamespaceQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    act(&state, query.namespace, id, Act::Disconnect).await?;
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
        (status = 404, description = "No such socket on any node", body = ErrorBody),
        (status = 504, description = "No such socket on the nodes that answered, and some node did not answer in time (`nodes_silent`)", body = ErrorBody),
    )
)]
pub async fn join(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Body(request): Body<JoinRequest>,
) -> Result<Json<RoomResponse>, ApiError> {
    check_room(&request.room)?;
    act(
        &state,
        request.namespace,
        id,
        Act::Join(request.room.clone()),
    )
    .await?;
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
        (status = 404, description = "No such socket on any node", body = ErrorBody),
        (status = 504, description = "No such socket on the nodes that answered, and some node did not answer in time (`nodes_silent`)", body = ErrorBody),
    )
)]
pub async fn leave(
    State(state): State<ApiState>,
    Path((id, room)): Path<(String, String)>,
    Params(query): Params<NamespaceQuery>,
) -> Result<Json<RoomResponse>, ApiError> {
    check_room(&room)?;
    act(&state, query.namespace, id, Act::Leave(room.clone())).await?;
    Ok(Json(RoomResponse {
        success: true,
        room,
    }))
}
