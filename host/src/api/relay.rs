//! The Strapi plugin's socket listeners: `GET /relay` streams this node's connections, the
//! events the listeners want and the disconnects (server-sent events, one JSON message each);
//! `PUT /relay/sockets/{id}` says what a socket's listeners want; `POST /relay/answers/{id}`
//! answers an event iohost waits on (a `socket.use` verdict, a listener's ack). See
//! [`crate::relay`].

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use serde::Deserialize;

use super::error::{ApiError, ErrorBody};
use super::{ApiState, Body, Params};
use crate::relay::{Answer, Listeners, RelayError, Subscription};

impl From<RelayError> for ApiError {
    fn from(e: RelayError) -> Self {
        match e {
            RelayError::NoSocket(_) | RelayError::NoQuestion(_) => Self::NotFound(e.to_string()),
            RelayError::TooManyStreams(_) => Self::Busy(e.to_string()),
            RelayError::TooManyEvents => Self::BadRequest(e.to_string()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayQuery {
    /// Comma-separated namespaces whose connections to stream, default `/`.
    pub namespaces: Option<String>,
}

/// Stream this node's connections, listened events and disconnects to Strapi's listeners.
///
/// Server-sent events, each `data:` one JSON message: first `{"type":"hello","stream":N,
/// "node":"..."}`, then `connection` `{socket}` (answer with `PUT /relay/sockets/{id}`), `event`
/// `{id, socket, namespace, event, args, ack, answer}` (when `answer` is true, iohost waits
/// for `POST /relay/answers/{id}`), `disconnect` `{socket, namespace, reason}`. The stream
/// ends when the node stops.
/// (Not in the OpenAPI document, as `/live` is not: a stream that does not end.)
pub async fn stream(
    State(state): State<ApiState>,
    Params(query): Params<RelayQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let namespaces: Vec<String> = query
        .namespaces
        .as_deref()
        .unwrap_or("/")
        .split(',')
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .map(|n| {
            if n.starts_with('/') {
                n.to_owned()
            } else {
                format!("/{n}")
            }
        })
        .collect();
    for ns in &namespaces {
        if !state.config.server.all_namespaces().contains(ns) {
            return Err(ApiError::NoNamespace(ns.clone()));
        }
    }
    let subscription = state.relay.subscribe(namespaces.clone())?;
    // Sockets already here get the new stream's connection listeners as if they just came.
    for ns in &namespaces {
        let Some(operator) = state.io.of(ns.as_str()) else {
            continue;
        };
        for socket in operator.sockets() {
            if state.relay.adopt(socket.id.as_str(), ns) {
                state
                    .relay
                    .announce(crate::sockets::socket_view(&socket, &state.node.id));
            }
        }
    }
    let hello =
        serde_json::json!({"type": "hello", "stream": subscription.id, "node": state.node.id});
    let first = stream::iter([Ok(Event::default().data(hello.to_string()))]);
    // Checked each second: a stopping node ends the stream, so its drain does not wait for it.
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let messages = stream::unfold(
        (state, subscription, ticks),
        |(state, mut subscription, mut ticks): (ApiState, Subscription, tokio::time::Interval)| async move {
            loop {
                tokio::select! {
                    message = subscription.messages.recv() => {
                        let message = message?;
                        let data = serde_json::to_string(&message).ok()?;
                        return Some((Ok(Event::default().data(data)), (state, subscription, ticks)));
                    }
                    _ = ticks.tick() => {
                        if !state.node.is_ready() {
                            return None;
                        }
                    }
                }
            }
        },
    );
    Ok(Sse::new(futures_util::StreamExt::chain(first, messages)).keep_alive(KeepAlive::default()))
}

/// Say which events a relayed socket's listeners want (again whenever they change).
#[utoipa::path(put, path = "/relay/sockets/{id}", request_body = Listeners,
    params(("id" = String, Path, description = "Socket id")),
    responses(
        (status = 204, description = "Registered"),
        (status = 400, description = "The body is not a list of listened events, or names too many", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "No such socket is relayed on this node", body = ErrorBody)
    ))]
pub async fn register(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Body(listeners): Body<Listeners>,
) -> Result<StatusCode, ApiError> {
    state.relay.register(&id, listeners)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Answer a relayed event iohost waits on: `{}` to let it through, `{error}` to refuse it,
/// `{ack: [...]}` with a listener's ack arguments.
#[utoipa::path(post, path = "/relay/answers/{id}", request_body = Answer,
    params(("id" = String, Path, description = "The event's `id` in the stream")),
    responses(
        (status = 204, description = "Taken"),
        (status = 400, description = "The body is not an answer", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "Nothing waits for this answer (answered, or its wait ended)", body = ErrorBody)
    ))]
pub async fn answer(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Body(answer): Body<Answer>,
) -> Result<StatusCode, ApiError> {
    // An id that is no number names no waiting event either.
    let id = id
        .parse()
        .map_err(|_| ApiError::NotFound(format!("no event {id} waits for an answer")))?;
    state.relay.answer(id, answer)?;
    Ok(StatusCode::NO_CONTENT)
}
