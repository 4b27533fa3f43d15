//! What a handler answers: its registration, and its verdict on connects and events.

use serde::Serialize;

use crate::args::one;
use crate::bindings::iohost::handler::types::{self as wit, Payload};

/// Which calls a handler wants. Built from [`Registration::events`] or [`Registration::none`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    events: Vec<String>,
    namespaces: Vec<String>,
    priority: i32,
    on_connect: bool,
    on_disconnect: bool,
    tick_ms: Option<u32>,
}

impl Registration {
    /// Receive these events in `on_event` (`"*"` for every event).
    pub fn events<I: IntoIterator<Item = S>, S: Into<String>>(events: I) -> Self {
        Self {
            events: events.into_iter().map(Into::into).collect(),
            ..Self::none()
        }
    }

    /// No events (for a handler that only uses connect, disconnect or ticks).
    pub fn none() -> Self {
        Self {
            events: Vec::new(),
            namespaces: Vec::new(),
            priority: 0,
            on_connect: false,
            on_disconnect: false,
            tick_ms: None,
        }
    }

    /// Only these namespaces (default: all).
    pub fn namespaces<I: IntoIterator<Item = S>, S: Into<String>>(mut self, namespaces: I) -> Self {
        self.namespaces = namespaces.into_iter().map(Into::into).collect();
        self
    }

    /// Higher runs first (default 0). A rate limiter wants to run before the rest.
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Also call `on_connect` for new sockets.
    pub fn on_connect(mut self) -> Self {
        self.on_connect = true;
        self
    }

    /// Also call `on_disconnect` when sockets leave.
    pub fn on_disconnect(mut self) -> Self {
        self.on_disconnect = true;
        self
    }

    /// Call `on_tick` every `ms` milliseconds (at least 100).
    pub fn tick_every_ms(mut self, ms: u32) -> Self {
        self.tick_ms = Some(ms);
        self
    }
}

impl From<Registration> for wit::Registration {
    fn from(r: Registration) -> Self {
        Self {
            events: r.events,
            namespaces: r.namespaces,
            priority: r.priority,
            on_connect: r.on_connect,
            on_disconnect: r.on_disconnect,
            tick_ms: r.tick_ms,
        }
    }
}

/// The answer to a connecting socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connect {
    Accept,
    /// The client gets `connect_error` with this message.
    Reject(String),
}

impl From<Connect> for wit::ConnectResult {
    fn from(c: Connect) -> Self {
        match c {
            Connect::Accept => Self::Accept,
            Connect::Reject(reason) => Self::Reject(reason),
        }
    }
}

/// The answer to an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Not handled here: the next handler, then the built-in events, get it.
    Pass,
    /// Handled: nothing after this handler sees it; the payload, if any, is the ack.
    Handled(Option<Payload>),
    /// Refused: the client's ack gets `{success: false, error}` (or an `error` event).
    Reject(String),
}

impl Outcome {
    /// Handled, acking `data` as one argument (if the client asked for an ack).
    pub fn ack<T: Serialize + ?Sized>(data: &T) -> Self {
        Self::Handled(Some(one(data)))
    }

    /// Handled, with no ack arguments.
    pub fn done() -> Self {
        Self::Handled(None)
    }

    pub fn reject(reason: impl Into<String>) -> Self {
        Self::Reject(reason.into())
    }
}

impl From<Outcome> for wit::EventResult {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Pass => Self::Pass,
            Outcome::Handled(ack) => Self::Handled(ack),
            Outcome::Reject(reason) => Self::Reject(reason),
        }
    }
}
