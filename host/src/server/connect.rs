//! Joining a namespace: admission (identity, connection limit), the rooms every socket is put in,
//! and the events each socket listens to.

use std::sync::Arc;

use socketioxide::SocketIo;
use socketioxide::extract::{SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler;

use super::{SharedRef, builtins, echo};
use crate::config::Config;
use crate::model::Handshake;
use crate::model::Identity;

pub fn register_namespaces(io: &SocketIo, config: &Config) {
    for ns in config.server.all_namespaces() {
        // Middlewares run outermost first: identify, then take a connection slot last so that a
        // refused socket never holds one.
        io.ns(ns, on_connect.with(take_slot).with(identify));
    }
}

/// Decides who the socket is. Until Strapi authentication lands every socket is Public.
async fn identify(
    socket: SocketRef,
    TryData(auth): TryData<serde_json::Value>,
) -> Result<(), std::convert::Infallible> {
    socket
        .extensions
        .insert(Handshake(auth.unwrap_or_else(|_| serde_json::json!({}))));
    socket.extensions.insert(Identity::public());
    Ok(())
}

async fn take_slot(
    socket: SocketRef,
    State(shared): State<SharedRef>,
) -> Result<(), super::limits::Full> {
    let slot = shared.connections.try_acquire().inspect_err(|e| {
        tracing::warn!(ns = socket.ns(), "refused a connection: {e}");
    })?;
    socket.extensions.insert(Arc::new(slot));
    Ok(())
}

async fn on_connect(socket: SocketRef, State(shared): State<SharedRef>) {
    let identity = identity_of(&socket);
    socket.join(identity.role_room());
    tracing::debug!(ns = socket.ns(), sid = %socket.id, role = identity.role, "socket connected");

    builtins::register(&socket);
    if shared.config.conformance.echo {
        echo::register(&socket);
    }
}

/// The identity `identify` stored; Public if it is somehow missing.
pub fn identity_of(socket: &SocketRef) -> Identity {
    socket
        .extensions
        .get::<Identity>()
        .unwrap_or_else(Identity::public)
}
