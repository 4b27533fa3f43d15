//! Looking at sockets (queries; emits are in [`emit`](crate::emit)).

use crate::bindings::iohost::handler::sockets;

/// The sockets in `room` of `namespace` right now (before this call's own joins and leaves).
/// Another socket's `auth` is not a handler's to read: it shows as `{}`.
pub fn in_room(namespace: &str, room: &str) -> Vec<crate::Socket> {
    sockets::sockets_in_room(namespace, room)
        .into_iter()
        .map(crate::Socket::from)
        .collect()
}
