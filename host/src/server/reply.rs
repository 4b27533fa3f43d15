//! Answering a client event: an ack when the client asked for one, else an `error` event for
//! failures, so that invalid input is never met with silence. Also the slow-client policy.

use std::convert::Infallible;
use std::sync::Arc;

use crate::cluster::Adapter;
use crate::cluster::SocketRef;
use serde::Serialize;
use serde_json::json;
use socketioxide::ParserError;
use socketioxide::extract::{AckSender, Event};
use socketioxide::handler::FromMessageParts;
use socketioxide::socket::Socket;

use crate::sockets::deliver;
use socketioxide_core::Value;

/// The event a client receives when an event it sent without an ack callback failed.
pub const ERROR_EVENT: &str = "error";

/// Extractor: everything needed to answer the event being handled.
pub struct Reply {
    socket: SocketRef,
    ack: AckSender<Adapter>,
    event: String,
    wants_ack: bool,
}

impl FromMessageParts<Adapter> for Reply {
    type Error = ParserError;

    fn from_message_parts(
        s: &Arc<Socket<Adapter>>,
        v: &mut Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, ParserError> {
        let Event(event) = Event::from_message_parts(s, v, ack_id)?;
        let Ok::<_, Infallible>(socket) = SocketRef::from_message_parts(s, v, ack_id);
        let Ok::<_, Infallible>(ack) = AckSender::from_message_parts(s, v, ack_id);
        Ok(Self {
            socket,
            ack,
            event,
            wants_ack: ack_id.is_some(),
        })
    }
}

impl Reply {
    pub fn socket(&self) -> &SocketRef {
        &self.socket
    }

    pub fn event(&self) -> &str {
        &self.event
    }

    pub fn wants_ack(&self) -> bool {
        self.wants_ack
    }

    /// Keeps only the first `bytes` of the event's name (plus `…`) for what is sent back.
    pub fn shorten_event(mut self, bytes: usize) -> Self {
        self.event = crate::model::shorten(&self.event, bytes);
        self
    }

    /// Acks `body` if the client asked for an ack; otherwise sends nothing.
    pub fn ok<T: Serialize + ?Sized>(self, body: &T) {
        if self.wants_ack {
            let result = self.ack.send(body);
            deliver(&self.socket, result);
        }
    }

    /// Acks `{success: false, error}`, or emits `error {event, error}` when there is no ack.
    pub fn fail(self, error: impl std::fmt::Display) {
        let error = error.to_string();
        tracing::debug!(sid = %self.socket.id, event = self.event, error, "client event refused");
        if self.wants_ack {
            let result = self.ack.send(&json!({ "success": false, "error": error }));
            deliver(&self.socket, result);
        } else {
            let result = self
                .socket
                .emit(ERROR_EVENT, &json!({ "event": self.event, "error": error }));
            deliver(&self.socket, result);
        }
    }
}
