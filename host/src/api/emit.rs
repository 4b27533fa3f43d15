//! `POST /emit`: an event to a namespace, rooms, users or sockets (the plugin's `emit`, `raw`,
//! `emitToNamespace`, `sendPrivateMessage`, `broadcast`, `emitToEntity`).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::{ApiState, Body};
use crate::model::Args;
use crate::rooms::USER_ROOM_PREFIX;
use crate::sockets::{AckCaps, Acks, emit_with_ack, socket_room, targets};
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
    #[schema(value_type = Option<Value>)]
    pub data: Option<Value>,
    /// Several arguments, in order. Exclusive with `data`.
    #[schema(value_type = Option<Vec<Value>>)]
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
    /// Dropped for a client that cannot take it now (not connected yet, or its transport
    /// busy), as socket.io's `volatile`: for values that are stale soon anyway.
    #[serde(default)]
    pub volatile: bool,
    /// Wait for each client's ack (the client's `socket.on(event, (data, ack) => ack(...))`),
    /// as socket.io's `timeout(ms).emitWithAck()`: the answer lists the acks and the sockets
    /// that gave none in time.
    pub ack: Option<AckRequest>,
}

/// How long to wait for acks.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AckRequest {
    /// 1 to 60000 ([`MAX_ACK_TIMEOUT_MS`]).
    #[schema(minimum = 1, maximum = 60000)]
    pub timeout_ms: u64,
}

/// The longest wait for acks one emit may ask for.
pub const MAX_ACK_TIMEOUT_MS: u64 = 60_000;

/// One socket's ack.
#[derive(Debug, Serialize, ToSchema)]
pub struct SocketAck {
    pub socket: String,
    /// The ack's arguments (binary ones as arrays of byte values).
    #[schema(value_type = Vec<Value>)]
    pub args: Value,
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
    /// With `ack`: each socket's ack, in the order they came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acks: Option<Vec<SocketAck>>,
    /// With `ack`: sockets the event reached that gave no ack within `timeoutMs` (or left
    /// before they could).
    #[serde(rename = "timedOut", skip_serializing_if = "Option::is_none")]
    pub timed_out: Option<Vec<String>>,
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
        (status = 503, description = "With `ack`: the other nodes could not be reached (`cluster_unavailable`)", body = ErrorBody),
    )
)]
pub async fn emit(
    State(state): State<ApiState>,
    Body(request): Body<EmitRequest>,
) -> Result<Json<EmitResponse>, ApiError> {
    let args = request.args()?;
    let wait = match &request.ack {
        Some(AckRequest { timeout_ms }) if (1..=MAX_ACK_TIMEOUT_MS).contains(timeout_ms) => {
            Some(std::time::Duration::from_millis(*timeout_ms))
        }
        Some(_) => {
            return Err(ApiError::BadRequest(format!(
                "`ack.timeoutMs` must be 1 to {MAX_ACK_TIMEOUT_MS}"
            )));
        }
        None => None,
    };
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
    let mut acks = wait.map(|_| Acks::default());
    if whole_namespace || !rooms.is_empty() {
        let mut to = targets(&state.io, ns, rooms, &request.except)?;
        if request.volatile {
            to = to.volatile();
        }
        match wait {
            None => {
                if let Err(e) = to.emit(&request.event, &args).await {
                    tracing::debug!(ns, event = %request.event, "emit partly failed: {e}");
                }
            }
            Some(timeout) => {
                // The API's caller holds a key: its answer carries every ack.
                let answered =
                    emit_with_ack(to, &request.event, &args, timeout, AckCaps::NONE).await;
                acks = Some(answered.map_err(ApiError::ClusterUnavailable)?);
            }
        }
    }
    let (acks, timed_out) = match acks {
        Some(Acks {
            answered, silent, ..
        }) => (
            Some(
                answered
                    .into_iter()
                    .map(|(socket, args)| SocketAck {
                        socket,
                        args: serde_json::to_value(&args).unwrap_or_default(),
                    })
                    .collect(),
            ),
            Some(silent),
        ),
        None => (None, None),
    };
    Ok(Json(EmitResponse {
        success: true,
        missing_sockets,
        partial,
        acks,
        timed_out,
    }))
}
