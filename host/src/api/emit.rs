//! `POST /emit`: an event to a namespace, rooms, users or sockets (the plugin's `emit`, `raw`,
//! `emitToNamespace`, `sendPrivateMessage`, `broadcast`, `emitToEntity`).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::{ApiState, Body};
use crate::model::Args;
use crate::rooms::USER_ROOM_PREFIX;
use crate::sockets::{broadcast, socket_room};
use axum::Json;
use axum::extract::State;

/// Event names socket.io-client keeps for itself: an emit with one would never reach the app.
const RESERVED_EVENTS: &[&str] = &[
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// Whom to send an event to. With no `rooms`, `users` or `sockets`, everyone in the namespace.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmitRequest {
    /// Event name, e.g. `notification` or `chat:message`; not one socket.io-client reserves
    /// (`connect`, `connect_error`, `disconnect`, `disconnecting`, `newListener`, `removeListener`).
    #[schema(min_length = 1, max_length = 200)]
    pub event: String,
    /// The event's single argument (what most clients expect). Exclusive with `args`.
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
    /// Several arguments, in order. Exclusive with `data`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub args: Option<Vec<Value>>,
    /// Namespace, default `/`.
    #[serde(default = "root")]
    pub namespace: String,
    /// Rooms whose members get the event; a socket id counts as the room of that one socket
    /// (as in socket.io).
    #[serde(default)]
    pub rooms: Vec<String>,
    /// Strapi user ids: their private rooms `user-<id>` get the event.
    #[serde(default)]
    pub users: Vec<u64>,
    /// Socket ids that get the event.
    #[serde(default)]
    pub sockets: Vec<String>,
    /// Who does not get it: a socket id (the plugin's `broadcast(socketId, ...)`), a room
    /// name (its members are left out), or a list of them; as socket.io's `except`, where a
    /// socket id is a room too.
    #[serde(default, deserialize_with = "one_or_many")]
    #[schema(value_type = Option<Vec<String>>)]
    pub except: Vec<String>,
}

/// A string or a list of strings.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(name)) => vec![name],
        Some(OneOrMany::Many(names)) => names,
    })
}

fn root() -> String {
    "/".to_owned()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmitResponse {
    pub success: bool,
    /// Sockets named in `sockets` that are connected to no node (they got nothing).
    #[serde(rename = "missingSockets")]
    pub missing_sockets: Vec<String>,
    /// A node did not answer within `cluster.request_timeout_ms` whether it holds the sockets
    /// named in `sockets`: `missingSockets` may list some connected to it (the event was sent
    /// to them all the same). Always false without `sockets`.
    pub partial: bool,
}

impl EmitRequest {
    fn args(&self) -> Result<Args, ApiError> {
        let event = self.event.as_str();
        if event.is_empty() || event.len() > 200 {
            return Err(ApiError::BadRequest(
                "`event` must have 1 to 200 characters".into(),
            ));
        }
        if RESERVED_EVENTS.contains(&event) {
            return Err(ApiError::BadRequest(format!(
                "`{event}` is reserved by socket.io-client"
            )));
        }
        let values = match (&self.data, &self.args) {
            (Some(_), Some(_)) => {
                return Err(ApiError::BadRequest(
                    "send either `data` or `args`, not both".into(),
                ));
            }
            (Some(data), None) => vec![data.clone()],
            (None, Some(args)) => args.clone(),
            (None, None) => Vec::new(),
        };
        serde_json::from_value(Value::Array(values))
            .map_err(|e| ApiError::BadRequest(e.to_string()))
    }
}

#[utoipa::path(
    post,
    path = "/emit",
    request_body = EmitRequest,
    responses(
        (status = 200, description = "Sent", body = EmitResponse),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "Unknown namespace", body = ErrorBody),
    )
)]
pub async fn emit(
    State(state): State<ApiState>,
    Body(request): Body<EmitRequest>,
) -> Result<Json<EmitResponse>, ApiError> {
    let args = request.args()?;
    let ns = request.namespace.as_str();
    if state.io.of(ns).is_none() {
        return Err(ApiError::NoNamespace(ns.to_owned()));
    }
    // As in socket.io, where a socket id is a room: a name in `rooms` also reaches the socket
    // with that id (through its own room, on any node).
    let mut rooms = request.rooms.clone();
    rooms.extend(request.rooms.iter().map(|room| socket_room(room)));
    rooms.extend(
        request
            .users
            .iter()
            .map(|id| format!("{USER_ROOM_PREFIX}{id}")),
    );
    let (missing_sockets, partial) = if request.sockets.is_empty() {
        (Vec::new(), false)
    } else {
        let located = state
            .node
            .directory
            .locate(&state.io, ns, &request.sockets)
            .await;
        let missing = located.missing(&request.sockets);
        (
            missing.into_iter().cloned().collect(),
            !located.coverage.complete,
        )
    };
    // Each socket's own room reaches it on any node; one emit to every target room sends a
    // socket the event once, whatever rooms it shares.
    rooms.extend(request.sockets.iter().map(|id| socket_room(id)));
    let whole_namespace =
        request.rooms.is_empty() && request.users.is_empty() && request.sockets.is_empty();
    if whole_namespace || !rooms.is_empty() {
        broadcast(&state.io, ns, rooms, &request.except, &request.event, &args).await?;
    }
    Ok(Json(EmitResponse {
        success: true,
        missing_sockets,
        partial,
    }))
}
