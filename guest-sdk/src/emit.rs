//! Emitting to sockets, rooms and namespaces. Emits are carried out, in order, when the
//! current call returns. For the calling socket, see the methods on [`Socket`](crate::Socket).

use serde::Serialize;

use crate::args::one;
use crate::bindings::iohost::handler::sockets;
use crate::bindings::iohost::handler::types::Payload;
pub use crate::bindings::iohost::handler::types::{Ack, Acks, Target};

/// Emit `data` (one argument) to everyone in `room` of `namespace`.
pub fn to_room<T: Serialize + ?Sized>(namespace: &str, room: &str, event: &str, data: &T) {
    sockets::emit_to_room(namespace, room, event, &one(data), None);
}

/// Emit `data` to everyone in `room` of `namespace` except socket `except`.
pub fn to_room_except<T: Serialize + ?Sized>(
    namespace: &str,
    room: &str,
    except: &str,
    event: &str,
    data: &T,
) {
    sockets::emit_to_room(namespace, room, event, &one(data), Some(except));
}

/// Emit `data` to a whole namespace.
pub fn to_namespace<T: Serialize + ?Sized>(namespace: &str, event: &str, data: &T) {
    sockets::emit_to_namespace(namespace, event, &one(data), None);
}

/// Emit `data` to one socket.
pub fn to_socket<T: Serialize + ?Sized>(namespace: &str, socket_id: &str, event: &str, data: &T) {
    sockets::emit_to_socket(namespace, socket_id, event, &one(data));
}

/// Emit any arguments (several, binary) to everyone in a room, except one socket if given.
pub fn payload_to_room(
    namespace: &str,
    room: &str,
    event: &str,
    args: &Payload,
    except: Option<&str>,
) {
    sockets::emit_to_room(namespace, room, event, args, except);
}

/// The sockets in `room` of `namespace` right now: see [`crate::sockets::in_room`] (a query,
/// kept here for handlers written before it moved).
pub fn sockets_in_room(namespace: &str, room: &str) -> Vec<crate::Socket> {
    crate::sockets::in_room(namespace, room)
}

/// Emit `data` to `target` of `namespace` as a volatile packet: a client that is not ready to
/// receive it misses it (for updates the next one replaces: positions, typing).
pub fn volatile<T: Serialize + ?Sized>(namespace: &str, target: &Target, event: &str, data: &T) {
    sockets::emit_volatile(namespace, target, event, &one(data), None);
}

/// Emit `data` to `target` of `namespace` now (before this call's other actions) and wait up
/// to `timeout_ms` (1 to 10000) for each socket's ack: who answered what, and who did not.
/// The wait does not count against the call's time limit; one call's waits together are
/// bounded by iohost's `ack_wait_ms`.
pub fn with_ack<T: Serialize + ?Sized>(
    namespace: &str,
    target: &Target,
    event: &str,
    data: &T,
    timeout_ms: u32,
) -> Result<Acks, crate::Error> {
    sockets::emit_with_ack(namespace, target, event, &one(data), timeout_ms)
        .map_err(crate::Error::Refused)
}
