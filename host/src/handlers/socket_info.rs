//! What a handler is told about a socket (the WIT `socket-info`).

use axum::extract::ConnectInfo;
use socketioxide::extract::SocketRef;
use std::net::SocketAddr;

use super::bindings::iohost::handler::types::{SocketInfo, User};
use crate::model::Handshake;
use crate::server::identity_of;

/// Query parameters that are transport details or secrets, never shown to handlers.
const HIDDEN_QUERY: &[&str] = &["EIO", "transport", "sid", "t", "j", "b64", "token"];

pub fn socket_info(socket: &SocketRef) -> SocketInfo {
    let identity = identity_of(socket);
    let parts = socket.req_parts();
    let address = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.to_string())
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
    SocketInfo {
        id: socket.id.to_string(),
        namespace: socket.ns().to_owned(),
        rooms: socket.rooms().into_iter().map(|r| r.into_owned()).collect(),
        role: identity.role,
        user: identity.user.map(|u| User {
            id: u.id,
            username: u.username,
        }),
        address,
        query,
        auth: socket
            .extensions
            .get::<Handshake>()
            .map_or_else(|| "{}".to_owned(), |h| h.0.to_string()),
    }
}
