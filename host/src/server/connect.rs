//! Joining a namespace: admission (identity, handlers' `on-connect`, connection limit), the
//! rooms every socket is put in, and the one entry point for its events.

use std::sync::{Arc, Mutex};

use crate::cluster::Io;
use crate::cluster::SocketRef;
use socketioxide::extract::{State, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;

use super::{SharedRef, dispatch};
use crate::auth::AuthError;
use crate::config::Config;
use crate::handlers::Action;
use crate::model::{Handshake, Identity};
use crate::rooms::USER_ROOM_PREFIX;

pub async fn register_namespaces(io: &Io, config: &Config) -> anyhow::Result<()> {
    for ns in config.server.all_namespaces() {
        // Middlewares run outermost first: identify, ask the handlers, take a connection slot
        // (a refused socket never holds one), then get the socket ready.
        // With a cluster adapter the namespace subscribes to its channels here.
        io.ns(
            ns.clone(),
            on_connect
                .with(prepare)
                .with(take_slot)
                .with(ask_handlers)
                .with(identify),
        )
        .await
        .map_err(|e| anyhow::anyhow!("cannot open namespace {ns} on the cluster: {e}"))?;
    }
    Ok(())
}

/// Decides who the socket is (see [`crate::auth`]); a refusal is the client's `connect_error`.
async fn identify(
    socket: SocketRef,
    State(shared): State<SharedRef>,
    TryData(auth): TryData<serde_json::Value>,
) -> Result<(), AuthError> {
    let mut auth = auth.unwrap_or_else(|_| serde_json::json!({}));
    let query_token = socket.req_parts().uri.query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
    });
    let identity = shared
        .auth
        .identify(&auth, query_token.as_deref())
        .await
        .and_then(|identity| {
            crate::auth::admit(&shared.live.load().access, &identity, socket.ns())
                .map(|()| identity)
        })
        .inspect_err(|e| tracing::info!(ns = socket.ns(), "refused a connection: {e}"))?;
    if identity.user.is_some()
        && let Some(fields) = auth.as_object_mut()
    {
        // A verified token is iohost's business: handlers get the rest of the auth object.
        fields.remove("token");
    }
    socket.extensions.insert(Handshake(auth));
    socket.extensions.insert(identity);
    Ok(())
}

/// Actions handlers asked for in `on-connect`, carried out once the socket is connected.
#[derive(Clone, Default)]
struct PendingActions(Arc<Mutex<Vec<Action>>>);

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(String);

async fn ask_handlers(socket: SocketRef, State(shared): State<SharedRef>) -> Result<(), Refused> {
    let actions = shared.runtime.on_connect(&socket).await.map_err(|reason| {
        tracing::info!(ns = socket.ns(), "a handler refused a connection: {reason}");
        metrics::counter!(crate::metrics::CONNECTIONS_REFUSED, "reason" => "handler").increment(1);
        Refused(reason)
    })?;
    if !actions.is_empty() {
        socket
            .extensions
            .insert(PendingActions(Arc::new(Mutex::new(actions))));
    }
    Ok(())
}

async fn take_slot(
    socket: SocketRef,
    State(shared): State<SharedRef>,
) -> Result<(), super::limits::Full> {
    let slot = shared.connections.try_acquire().inspect_err(|e| {
        tracing::warn!(ns = socket.ns(), "refused a connection: {e}");
        metrics::counter!(crate::metrics::CONNECTIONS_REFUSED, "reason" => "full").increment(1);
    })?;
    socket.extensions.insert(Arc::new(slot));
    Ok(())
}

/// Rooms and event handlers are set up here, before socketioxide sends the CONNECT packet:
/// the connect handler runs as its own task after that packet, so a client that emits at once
/// could otherwise race it and have its first events dropped.
async fn prepare(socket: SocketRef) -> Result<(), std::convert::Infallible> {
    let identity = identity_of(&socket);
    super::sockets::join(&socket, identity.role_room());
    if let Some(user) = &identity.user {
        // The private room only this user's sockets are in (join-room refuses it to others).
        super::sockets::join(&socket, format!("{USER_ROOM_PREFIX}{}", user.id));
    }
    socket.on_fallback(dispatch::on_event);
    socket.on_disconnect(on_disconnect);
    Ok(())
}

async fn on_connect(socket: SocketRef, State(shared): State<SharedRef>) {
    let identity = identity_of(&socket);
    connections_gauge(&socket, &identity).increment(1.0);
    tracing::debug!(ns = socket.ns(), sid = %socket.id, role = identity.role, "socket connected");

    // Emits to the socket itself need it connected: handlers' `on-connect` actions wait for here.
    if let Some(PendingActions(pending)) = socket.extensions.remove::<PendingActions>() {
        let actions = pending
            .lock()
            .map(|mut a| std::mem::take(&mut *a))
            .unwrap_or_default();
        shared.runtime.apply_connect_actions(actions).await;
    }
}

fn connections_gauge(socket: &SocketRef, identity: &Identity) -> metrics::Gauge {
    metrics::gauge!(
        crate::metrics::CONNECTIONS,
        "namespace" => socket.ns().to_owned(),
        "role" => identity.role.clone()
    )
}

async fn on_disconnect(
    socket: SocketRef,
    reason: DisconnectReason,
    State(shared): State<SharedRef>,
) {
    connections_gauge(&socket, &identity_of(&socket)).decrement(1.0);
    shared
        .runtime
        .on_disconnect(&socket, &reason.to_string())
        .await;
}

/// The identity `identify` stored; Public if it is somehow missing.
pub fn identity_of(socket: &SocketRef) -> Identity {
    socket
        .extensions
        .get::<Identity>()
        .unwrap_or_else(Identity::public)
}
