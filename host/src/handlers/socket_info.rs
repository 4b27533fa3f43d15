//! What a handler is told about a socket (the WIT `socket-info`).

use crate::cluster::SocketRef;

use super::bindings::iohost::handler::types::{SocketInfo, User};
use crate::sockets::directory::Member;
use crate::sockets::{facts, rooms};

pub fn socket_info(socket: &SocketRef) -> SocketInfo {
    let facts = facts(socket);
    SocketInfo {
        id: facts.id.clone(),
        namespace: facts.namespace.clone(),
        rooms: rooms(socket),
        role: facts.role.clone(),
        user: facts.user.as_ref().map(|u| User {
            id: u.id,
            username: u.username.clone(),
        }),
        address: facts.address.clone(),
        query: facts.query.clone(),
        auth: facts.auth.clone(),
    }
}

/// What a handler is told about a socket another query listed (on any node). Its `auth` is
/// left out: only the socket a call is for shows its own.
pub fn member_info(member: Member) -> SocketInfo {
    let view = member.view;
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
        query: member.query,
        auth: "{}".to_owned(),
    }
}
