//! What a handler is told about a socket (the WIT `socket-info`).

use crate::cluster::SocketRef;

use super::bindings::iohost::handler::types::{SocketInfo, User};
use crate::server::sockets::socket_view;

pub fn socket_info(socket: &SocketRef) -> SocketInfo {
    let view = socket_view(socket);
    SocketInfo {
        id: view.id,
        namespace: view.namespace,
        rooms: view.rooms,
        role: view.role,
        user: view.user.map(|u| User {
            id: u.id,
            username: u.username,
        }),
        address: view.address,
        query: view.query,
        auth: view.auth,
    }
}
