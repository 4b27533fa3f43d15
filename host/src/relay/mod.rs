//! The relay to socket listeners that live in Strapi: strapi-plugin-io's apps write
//! `strapi.$io.server.on('connection', socket => { socket.on(...); socket.use(...) })`, and the
//! iohost plugin runs those listeners in Strapi. Each Strapi process holds a stream of this
//! node's connections, the events its listeners want and the disconnects
//! (`GET /api/v1/relay`); it says which events each socket's listeners want, and answers
//! `socket.use` verdicts and listeners' acks by HTTP.
//!
//! Where it sits: after the handler chain passed an event, before the built-in events. Every
//! resource it holds is bounded: streams (`relay.max_streams`), messages waiting for each
//! (`relay.queue_size`), and each wait for Strapi (`relay.answer_timeout_ms`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};
use utoipa::ToSchema;

use crate::config::RelayConfig;
use crate::model::{Args, SocketView};

/// Events one socket's listeners may name at most.
pub const MAX_LISTENED_EVENTS: usize = 1000;

/// What a stream carries to Strapi.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Message {
    /// A socket connected: Strapi runs its connection listeners, then says what they listen
    /// to (`PUT /relay/sockets/{id}`).
    Connection { socket: SocketView },
    /// A client event for Strapi's listeners. When `answer` is true, iohost waits for
    /// `POST /relay/answers/{id}` (a `socket.use` verdict, or the ack the client asked for).
    #[serde(rename_all = "camelCase")]
    Event {
        id: u64,
        socket: String,
        namespace: String,
        event: String,
        /// The arguments (binary attachments as arrays of byte values).
        args: serde_json::Value,
        /// The client asked for an ack.
        ack: bool,
        answer: bool,
    },
    /// The socket is gone.
    Disconnect {
        socket: String,
        namespace: String,
        reason: String,
    },
}

/// What a socket's listeners in Strapi want.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Listeners {
    /// Events with a `socket.on` listener (`disconnect` needs none: it is always sent).
    #[serde(default)]
    pub events: Vec<String>,
    /// The socket has `socket.use` middleware: every event waits for its verdict.
    #[serde(default)]
    pub middleware: bool,
}

/// Strapi's answer to an event.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    /// `socket.use` refused the event (`next(new Error(message))`): the client gets this
    /// message as its ack's `error`, or an `error` event.
    pub error: Option<String>,
    /// The arguments a listener acked with.
    #[schema(value_type = Option<Vec<Value>>)]
    pub ack: Option<Vec<serde_json::Value>>,
}

/// What became of an event at Strapi.
#[derive(Debug, PartialEq)]
pub enum Relayed {
    /// Nothing in Strapi listens to it: iohost goes on as it would without the plugin.
    NotListened,
    /// A listener got it, and `socket.use` (if any) let it through.
    Listened,
    /// A listener acked it with these arguments.
    Acked(Args),
    /// Refused: by `socket.use`, or because Strapi did not answer.
    Refused(Refusal),
}

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    ByStrapi(String),
    #[error("Strapi did not answer within {0} ms (relay.answer_timeout_ms)")]
    TimedOut(u64),
    #[error("Strapi is not keeping up: its relay queue is full (relay.queue_size)")]
    QueueFull,
    #[error("Strapi's relay stream closed before it answered")]
    StreamClosed,
}

impl Refusal {
    /// The `reason` label of `iohost_events_refused_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::ByStrapi(_) => "strapi",
            _ => "relay",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("no socket `{0}` is relayed to a Strapi stream on this node")]
    NoSocket(String),
    #[error("no event {0} waits for an answer (it was answered, or its wait ended)")]
    NoQuestion(u64),
    #[error("this node already serves {0} Strapi streams (relay.max_streams)")]
    TooManyStreams(usize),
    #[error("a socket's listeners name at most {MAX_LISTENED_EVENTS} events")]
    TooManyEvents,
}

struct Stream {
    id: u64,
    namespaces: Vec<String>,
    sender: mpsc::Sender<Message>,
}

struct RelayedSocket {
    stream: u64,
    /// `None` until Strapi's connection listeners have run.
    listeners: watch::Sender<Option<Arc<Listeners>>>,
}

#[derive(Default)]
struct Inner {
    streams: Vec<Stream>,
    next_stream: u64,
    /// Round robin over the streams of a namespace.
    turn: usize,
    sockets: HashMap<String, RelayedSocket>,
    /// Events waiting for an answer, with the stream that must give it.
    questions: HashMap<u64, (u64, oneshot::Sender<Answer>)>,
    next_question: u64,
}

impl Inner {
    /// The socket, if relayed, and the stream it is relayed on.
    fn relayed(&self, socket: &str) -> Option<(&RelayedSocket, &Stream)> {
        let relayed = self.sockets.get(socket)?;
        let stream = self.streams.iter().find(|s| s.id == relayed.stream)?;
        Some((relayed, stream))
    }
}

/// This node's streams to Strapi and the sockets relayed on them.
pub struct Relay {
    config: RelayConfig,
    inner: Mutex<Inner>,
    /// Open streams, read without the lock: with none (no Strapi listeners), every event and
    /// connection passes by without touching `inner`.
    streams: AtomicUsize,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("config", &self.config)
            .finish()
    }
}

/// A stream held by one Strapi process; dropping it ends the stream and its sockets' relaying.
pub struct Subscription {
    relay: Arc<Relay>,
    pub id: u64,
    pub messages: mpsc::Receiver<Message>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.relay.close(self.id);
    }
}

impl Relay {
    pub fn new(config: RelayConfig) -> Arc<Self> {
        Arc::new(Self {
            config,
            inner: Mutex::default(),
            streams: AtomicUsize::new(0),
        })
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves nothing half-done that matters here.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.config.answer_timeout_ms)
    }

    /// Is any Strapi stream open (on any namespace)?
    pub fn is_active(&self) -> bool {
        self.streams.load(Ordering::Relaxed) > 0
    }

    /// Opens a stream for the connection listeners of `namespaces`.
    pub fn subscribe(
        self: &Arc<Self>,
        namespaces: Vec<String>,
    ) -> Result<Subscription, RelayError> {
        let mut inner = self.inner();
        if inner.streams.len() >= self.config.max_streams {
            return Err(RelayError::TooManyStreams(self.config.max_streams));
        }
        let (sender, messages) = mpsc::channel(self.config.queue_size);
        inner.next_stream += 1;
        let id = inner.next_stream;
        inner.streams.push(Stream {
            id,
            namespaces,
            sender,
        });
        self.streams.store(inner.streams.len(), Ordering::Relaxed);
        tracing::info!(stream = id, "a Strapi relay stream opened");
        Ok(Subscription {
            relay: self.clone(),
            id,
            messages,
        })
    }

    /// The stream ended: its sockets' events skip Strapi from now on, and events waiting for
    /// its answers are refused.
    fn close(&self, id: u64) {
        let mut inner = self.inner();
        inner.streams.retain(|s| s.id != id);
        self.streams.store(inner.streams.len(), Ordering::Relaxed);
        inner.sockets.retain(|_, s| s.stream != id);
        inner.questions.retain(|_, (stream, _)| *stream != id);
        tracing::info!(stream = id, "a Strapi relay stream closed");
    }

    /// Before the socket's CONNECT packet: gives it to a stream listening on its namespace, so
    /// that its first events wait for its listeners. False when no stream listens.
    pub fn admit(&self, socket: &str, namespace: &str) -> bool {
        if !self.is_active() {
            return false;
        }
        let mut inner = self.inner();
        let serving: Vec<u64> = inner
            .streams
            .iter()
            .filter(|s| s.namespaces.iter().any(|n| n == namespace))
            .map(|s| s.id)
            .collect();
        if serving.is_empty() {
            return false;
        }
        inner.turn = inner.turn.wrapping_add(1);
        let stream = serving[inner.turn % serving.len()];
        let (listeners, _) = watch::channel(None);
        inner
            .sockets
            .insert(socket.to_owned(), RelayedSocket { stream, listeners });
        true
    }

    /// A socket connected before any stream listened (or whose stream closed): given to a
    /// stream now, unless one already has it.
    pub fn adopt(&self, socket: &str, namespace: &str) -> bool {
        if self.inner().sockets.contains_key(socket) {
            return false;
        }
        self.admit(socket, namespace)
    }

    /// Once the socket is connected (API calls on it work): tells its stream. A full stream
    /// does not get it, and its events then skip Strapi.
    pub fn announce(&self, view: SocketView) {
        let id = view.id.clone();
        let Some(sender) = self.sender_of(&id) else {
            return;
        };
        if sender
            .try_send(Message::Connection { socket: view })
            .is_err()
        {
            tracing::warn!(
                sid = id,
                "Strapi's relay queue is full: this socket is not relayed"
            );
            self.inner().sockets.remove(&id);
        }
    }

    fn sender_of(&self, socket: &str) -> Option<mpsc::Sender<Message>> {
        if !self.is_active() {
            return None;
        }
        let inner = self.inner();
        inner
            .relayed(socket)
            .map(|(_, stream)| stream.sender.clone())
    }

    /// Strapi says what the socket's listeners want (again when they change).
    pub fn register(&self, socket: &str, listeners: Listeners) -> Result<(), RelayError> {
        if listeners.events.len() > MAX_LISTENED_EVENTS {
            return Err(RelayError::TooManyEvents);
        }
        let inner = self.inner();
        let relayed = inner
            .sockets
            .get(socket)
            .ok_or_else(|| RelayError::NoSocket(socket.to_owned()))?;
        relayed.listeners.send_replace(Some(Arc::new(listeners)));
        Ok(())
    }

    /// Strapi's answer to event `id`.
    pub fn answer(&self, id: u64, answer: Answer) -> Result<(), RelayError> {
        let waiting = self.inner().questions.remove(&id);
        waiting
            .and_then(|(_, w)| w.send(answer).ok())
            .ok_or(RelayError::NoQuestion(id))
    }

    pub fn disconnected(&self, socket: &str, namespace: &str, reason: &str) {
        let Some(sender) = self.sender_of(socket) else {
            return;
        };
        self.inner().sockets.remove(socket);
        let message = Message::Disconnect {
            socket: socket.to_owned(),
            namespace: namespace.to_owned(),
            reason: reason.to_owned(),
        };
        if sender.try_send(message).is_err() {
            metrics::counter!(crate::metrics::RELAY_DROPPED).increment(1);
        }
    }

    /// Hands the event to Strapi's listeners, waiting for their verdict or ack when needed.
    pub async fn on_event(
        &self,
        socket: &str,
        namespace: &str,
        event: &str,
        args: &Args,
        wants_ack: bool,
    ) -> Relayed {
        if !self.is_active() {
            return Relayed::NotListened;
        }
        let (stream_id, sender, mut registered) = {
            let inner = self.inner();
            let Some((relayed, stream)) = inner.relayed(socket) else {
                return Relayed::NotListened;
            };
            (
                stream.id,
                stream.sender.clone(),
                relayed.listeners.subscribe(),
            )
        };
        // A new socket's listeners are known once its connection listeners have run.
        let listeners = match tokio::time::timeout(
            self.timeout(),
            registered.wait_for(Option::is_some),
        )
        .await
        {
            Ok(Ok(listeners)) => listeners.clone(),
            _ => {
                tracing::warn!(
                    sid = socket,
                    "Strapi did not register this socket's listeners in time: its event skips Strapi"
                );
                None
            }
        };
        let Some(listeners) = listeners else {
            return Relayed::NotListened;
        };
        let listens = listeners.events.iter().any(|e| e == event);
        if !listens && !listeners.middleware {
            return Relayed::NotListened;
        }
        let answer = listeners.middleware || (listens && wants_ack);
        let (id, waiting) = match answer {
            true => {
                let (tx, rx) = oneshot::channel();
                let mut inner = self.inner();
                inner.next_question += 1;
                let id = inner.next_question;
                inner.questions.insert(id, (stream_id, tx));
                (id, Some(rx))
            }
            false => (0, None),
        };
        let message = Message::Event {
            id,
            socket: socket.to_owned(),
            namespace: namespace.to_owned(),
            event: event.to_owned(),
            args: serde_json::to_value(args).unwrap_or_default(),
            ack: wants_ack && listens,
            answer,
        };
        let sent = sender.try_send(message).is_ok();
        let Some(waiting) = waiting else {
            if !sent {
                // Nobody waits for it; the listener misses it, and that is counted.
                metrics::counter!(crate::metrics::RELAY_DROPPED).increment(1);
            }
            return Relayed::Listened;
        };
        if !sent {
            self.inner().questions.remove(&id);
            return Relayed::Refused(Refusal::QueueFull);
        }
        match tokio::time::timeout(self.timeout(), waiting).await {
            Ok(Ok(answer)) => match (answer.error, answer.ack) {
                (Some(error), _) => Relayed::Refused(Refusal::ByStrapi(error)),
                (None, Some(ack)) => Relayed::Acked(ack_args(ack)),
                (None, None) if listens && wants_ack => Relayed::Refused(Refusal::ByStrapi(
                    "Strapi's listener did not acknowledge the event".to_owned(),
                )),
                (None, None) if listens => Relayed::Listened,
                (None, None) => Relayed::NotListened,
            },
            Ok(Err(_)) => Relayed::Refused(Refusal::StreamClosed),
            Err(_) => {
                self.inner().questions.remove(&id);
                Relayed::Refused(Refusal::TimedOut(self.config.answer_timeout_ms))
            }
        }
    }
}

/// Ack arguments from JSON to what socketioxide sends (one ack argument each).
fn ack_args(values: Vec<serde_json::Value>) -> Args {
    Args(
        values
            .into_iter()
            .filter_map(|v| rmpv::ext::to_value(v).ok())
            .collect(),
    )
}

#[cfg(test)]
mod tests;
