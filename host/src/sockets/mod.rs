//! Finding, describing, emitting to and moving sockets: the transport's built-in events, the
//! handlers' actions, the HTTP API and content delivery all go through here, so they behave
//! the same. This module works on this node's sockets and on the adapter, whose emits reach
//! every node; [`directory`] asks the other nodes about theirs.

pub mod directory;

pub use directory::{Directory, Listed, Located};

use std::sync::Arc;

use crate::cluster::{Adapter, Io, SocketRef};
use crate::model::Args;
use socketioxide::operators::BroadcastOperators;
use socketioxide_core::Sid;

use crate::model::{Handshake, Identity, SocketView, User};
use socketioxide::TransportType;
use socketioxide::{SendError, SocketError};

/// Query parameters that are transport details or secrets, never shown.
const HIDDEN_QUERY: &[&str] = &["EIO", "transport", "sid", "t", "j", "b64", "token"];

/// What does not change while a socket is connected, worked out once: handlers are told it on
/// every event, where parsing the query and printing the address each time showed in profiles.
#[derive(Debug)]
pub struct SocketFacts {
    pub id: String,
    pub namespace: String,
    pub role: String,
    pub user: Option<User>,
    pub address: String,
    pub query: Vec<(String, String)>,
    pub auth: String,
}

/// The socket's [`SocketFacts`] (kept in its extensions after the first call).
pub fn facts(socket: &SocketRef) -> Arc<SocketFacts> {
    if let Some(facts) = socket.extensions.get::<Arc<SocketFacts>>() {
        return facts;
    }
    let identity = identity_of(socket);
    let parts = socket.req_parts();
    // Worked out once, as the session opened (see `SessionOpening`).
    let address = parts
        .extensions
        .get::<crate::model::SessionOpening>()
        .and_then(|opening| opening.client)
        .map(|client| client.to_string())
        .unwrap_or_default();
    let query = parts
        .uri
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .filter(|(k, _)| !HIDDEN_QUERY.contains(&k.as_ref()))
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let facts = Arc::new(SocketFacts {
        id: socket.id.to_string(),
        namespace: socket.ns().to_owned(),
        role: identity.role,
        user: identity.user,
        address,
        query,
        auth: socket
            .extensions
            .get::<Handshake>()
            .map_or_else(|| "{}".to_owned(), |h| h.0.to_string()),
    });
    socket.extensions.insert(facts.clone());
    facts
}

/// Every socket is in a room of its own, `io-socket-<id>` (under iohost's reserved `io-`
/// prefix, so no client, API call or handler can join it). Emits to one socket then go through
/// the adapter like room emits and reach it on whichever node holds it: socket.io's rule that a
/// socket's id is a room, which socketioxide does not follow by itself.
pub const SOCKET_ROOM_PREFIX: &str = "io-socket-";

/// The room only socket `id` is in.
pub fn socket_room(id: &str) -> String {
    format!("{SOCKET_ROOM_PREFIX}{id}")
}

/// When a socket connected, in ms since the Unix epoch.
#[derive(Debug, Clone, Copy)]
struct ConnectedAt(u64);

/// Puts a new socket in its own room and notes when it connected; called once, as it connects.
pub fn enter_own_room(socket: &SocketRef) {
    socket
        .extensions
        .insert(ConnectedAt(crate::model::now_ms()));
    socket.join(socket_room(&socket.id.to_string()));
}

/// The rooms the socket is in now, but its own room (as socket.io leaves out the socket's id).
pub fn rooms(socket: &SocketRef) -> Vec<String> {
    socket
        .rooms()
        .into_iter()
        .filter(|r| !r.starts_with(SOCKET_ROOM_PREFIX))
        .map(|r| r.into_owned())
        .collect()
}

/// How `socket` looks from outside; `node` is the id of the node that holds it (this one).
pub fn socket_view(socket: &SocketRef, node: &str) -> SocketView {
    let facts = facts(socket);
    SocketView {
        id: facts.id.clone(),
        namespace: facts.namespace.clone(),
        rooms: rooms(socket),
        role: facts.role.clone(),
        user: facts.user.clone(),
        address: facts.address.clone(),
        transport: match socket.transport_type() {
            TransportType::Polling => "polling",
            TransportType::Websocket => "websocket",
        }
        .to_owned(),
        node: node.to_owned(),
        connected_at: socket
            .extensions
            .get::<ConnectedAt>()
            .map_or(0, |ConnectedAt(at)| at),
        query: facts.query.clone(),
        auth: facts.auth.clone(),
    }
}

/// The socket `id` of namespace `ns`, if connected here.
pub fn find(io: &Io, ns: &str, id: &str) -> Option<SocketRef> {
    let sid: Sid = id.parse().ok()?;
    io.of(ns)?.get_socket(sid)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmitError {
    #[error("no namespace `{0}`")]
    NoNamespace(String),
}

/// Emits to the sockets in any of `rooms` of namespace `ns` (all of the namespace when `rooms`
/// is empty), except socket `except`, on every node: each socket gets it once, whatever rooms
/// it shares. A socket's own room ([`socket_room`]) targets that socket. Packets for clients
/// whose queue is full are dropped (the slow-client policy); that is logged, not an error of
/// the emit.
pub async fn broadcast<T: serde::Serialize + ?Sized + Sync>(
    io: &Io,
    ns: &str,
    rooms: Vec<String>,
    except: &[String],
    event: &str,
    args: &T,
) -> Result<(), EmitError> {
    let result = targets(io, ns, rooms, except)?.emit(event, args).await;
    if let Err(e) = result {
        tracing::debug!(ns, event, "emit partly failed: {e}");
    }
    Ok(())
}

/// The sockets [`broadcast`] reaches, as socketioxide's operator (to add `volatile`, `timeout`
/// or acks).
pub fn targets(
    io: &Io,
    ns: &str,
    rooms: Vec<String>,
    except: &[String],
) -> Result<BroadcastOperators<Adapter>, EmitError> {
    let namespace = io
        .of(ns)
        .ok_or_else(|| EmitError::NoNamespace(ns.to_owned()))?;
    let targets = match rooms.is_empty() {
        true => namespace.broadcast(),
        false => namespace.to(rooms),
    };
    // Alone, a broadcast is marked local: the cluster adapter would otherwise encode every
    // one for other nodes (msgpack, ~1.3% of the CPU at the handler path's top rate) only for
    // the local backplane to drop it (docs/upstream.md).
    let targets = match io.is_single_node() {
        true => targets.local(),
        false => targets,
    };
    // As in socket.io, where a socket id is a room: each entry leaves out the socket with
    // that id (through its own room, on any node) and the members of a room of that name.
    Ok(match except.is_empty() {
        true => targets,
        false => targets.except(
            except
                .iter()
                .flat_map(|name| [socket_room(name), name.clone()])
                .collect::<Vec<_>>(),
        ),
    })
}

/// What the sockets an event reached answered (socket.io's `timeout(ms).emitWithAck`).
#[derive(Debug, Default)]
pub struct Acks {
    /// Each socket that acked, with its ack's arguments, in the order they came.
    pub answered: Vec<(String, Args)>,
    /// Sockets that gave no ack in time (or were gone before they could).
    pub silent: Vec<String>,
    /// Sockets whose answer or id was not kept: past the caller's [`AckCaps`].
    pub left_out: usize,
}

/// How much of the answers [`emit_with_ack`] keeps: clients choose what they answer.
#[derive(Debug, Clone, Copy)]
pub struct AckCaps {
    /// Bytes of ack arguments (as [`Args::size`] counts them).
    pub bytes: usize,
    /// Sockets named, answered and silent together.
    pub sockets: usize,
}

impl AckCaps {
    pub const NONE: Self = Self {
        bytes: usize::MAX,
        sockets: usize::MAX,
    };
}

/// Emits through `targets` and waits (at most `timeout`, on every node) for each socket's ack.
/// An error: the event could not be sent (its arguments, or the other nodes unreachable).
pub async fn emit_with_ack<T: serde::Serialize + ?Sized + Sync>(
    targets: BroadcastOperators<Adapter>,
    event: &str,
    args: &T,
    timeout: std::time::Duration,
    caps: AckCaps,
) -> Result<Acks, String> {
    use futures_util::stream::{FusedStream, Stream};
    let mut acks = Acks::default();
    let mut kept = 0usize;
    let stream = targets
        .timeout(timeout)
        .emit_with_ack::<_, Args>(event, args)
        .await
        .map_err(|e| format!("the event could not be sent to every node: {e}"))?;
    let mut stream = std::pin::pin!(stream);
    loop {
        // socketioxide-core 0.20 leaves the stream pending, though it is over, when the last
        // thing it reads is another node's count of 0 sockets: it would end only at its
        // timeout. Over is over (docs/upstream.md).
        let next = std::future::poll_fn(|cx| match stream.as_mut().poll_next(cx) {
            std::task::Poll::Pending if stream.is_terminated() => std::task::Poll::Ready(None),
            other => other,
        })
        .await;
        let Some((sid, answer)) = next else {
            return Ok(acks);
        };
        if acks.answered.len() + acks.silent.len() >= caps.sockets {
            acks.left_out += 1;
            continue;
        }
        match answer {
            Ok(args) => {
                kept = kept.saturating_add(sid.as_str().len() + args.size());
                if kept > caps.bytes {
                    acks.left_out += 1;
                    continue;
                }
                acks.answered.push((sid.to_string(), args));
            }
            Err(_) => acks.silent.push(sid.to_string()),
        }
    }
}

/// The rooms a socket is in, as iohost put it there. socketioxide can drop a socket's rooms
/// before its disconnect handler runs (when the client's namespace disconnect and its transport
/// close race), so disconnect handling reads this copy instead.
///
/// Sorted, each room once: a socket is in a few rooms, and a vector of them is a fifth of
/// the memory of a set's first node.
#[derive(Debug, Clone, Default)]
pub struct RoomCopy(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

fn copy_of(socket: &SocketRef) -> RoomCopy {
    match socket.extensions.get::<RoomCopy>() {
        Some(copy) => copy,
        None => {
            let copy = RoomCopy::default();
            socket.extensions.insert(copy.clone());
            copy
        }
    }
}

/// Puts `socket` in `room` (every join in iohost goes through here). Sockets' own rooms are
/// never joined: whoever asks, the callers' checks already refuse `io-` names.
pub fn join(socket: &SocketRef, room: String) {
    if room.starts_with(SOCKET_ROOM_PREFIX) {
        tracing::warn!(sid = %socket.id, room, "refused to put a socket in another's own room");
        return;
    }
    if let Ok(mut rooms) = copy_of(socket).0.lock()
        && let Err(at) = rooms.binary_search(&room)
    {
        rooms.insert(at, room.clone());
    }
    socket.join(room);
}

/// Takes `socket` out of `room`; never out of its own.
pub fn leave(socket: &SocketRef, room: String) {
    if room.starts_with(SOCKET_ROOM_PREFIX) {
        return;
    }
    if let Ok(mut rooms) = copy_of(socket).0.lock()
        && let Ok(at) = rooms.binary_search(&room)
    {
        rooms.remove(at);
    }
    socket.leave(room);
}

/// The rooms `socket` was put in, also after socketioxide dropped them on disconnect.
pub fn joined_rooms(socket: &SocketRef) -> Vec<String> {
    copy_of(socket)
        .0
        .lock()
        .map(|rooms| rooms.clone())
        .unwrap_or_default()
}

/// The identity `identify` stored; Public if it is somehow missing.
pub fn identity_of(socket: &SocketRef) -> Identity {
    socket
        .extensions
        .get::<Identity>()
        .unwrap_or_else(Identity::public)
}

/// Applies the slow-client policy to a packet iohost sent to one socket. A full queue
/// (`server.socket_queue_size` packets) means the client stopped reading: the packet is dropped
/// and logged, never queued without bound. The engine cannot queue its next heartbeat ping
/// either, so a client still stuck then is disconnected within one `server.ping_interval_ms`.
pub fn deliver(socket: &SocketRef, result: Result<(), SendError>) {
    match result {
        Ok(()) | Err(SendError::Socket(SocketError::Closed)) => {}
        Err(SendError::Socket(SocketError::InternalChannelFull)) => {
            tracing::warn!(sid = %socket.id, "slow client: outgoing queue full, packet dropped");
            metrics::counter!(crate::metrics::PACKETS_DROPPED).increment(1);
        }
        Err(SendError::Serialize(e)) => {
            tracing::error!(sid = %socket.id, "could not encode a packet: {e}");
        }
    }
}
