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
use crate::model::{
    AUTHENTICATED_ROLE, Handshake, Identity, PUBLIC_ROLE, SessionOpening, TOKEN_ROLE_PREFIX,
    UNKNOWN_ROLE,
};
use crate::rooms::USER_ROOM_PREFIX;
use crate::sockets::identity_of;

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
    let opening = socket.req_parts().extensions.get::<SessionOpening>();
    let client = opening.and_then(|o| o.client);
    if let (Some(client), Some(opening)) = (client, opening)
        && opening.first_join()
    {
        // The session asked to join: it no longer merely waits (however the checks go).
        shared.gate.session_joined(client.ip);
    }
    let from = client.map(|c| c.ip);
    let identified = async {
        let identity = shared
            .auth
            .identify(&auth, query_token.as_deref(), from)
            .await?;
        let identity = narrowed(identity, &shared).await;
        crate::auth::admit(&shared.settings.now().access, &identity, socket.ns())?;
        Ok::<_, AuthError>(identity)
    };
    let identity = identified
        .await
        .inspect_err(|e| tracing::info!(ns = socket.ns(), "refused a connection: {e}"))?;
    let verified = identity.user.is_some() || identity.role.starts_with(TOKEN_ROLE_PREFIX);
    if verified && let Some(fields) = auth.as_object_mut() {
        // A verified credential (a user's JWT, an API token's key) is iohost's business:
        // handlers and the HTTP API get the rest of the auth object, never the secret.
        fields.remove("token");
    }
    socket.extensions.insert(Handshake(auth));
    socket.extensions.insert(identity);
    Ok(())
}

/// A user whose role could not be read is `authenticated` only where that is what Strapi would
/// say: when Strapi has no other role for users, or when iohost does not read Strapi's roles at
/// all (then `[strapi.permissions]` alone decides, and names what `authenticated` gets).
/// Otherwise the user may be in a narrower role, and gets [`UNKNOWN_ROLE`], which receives no
/// content event.
async fn narrowed(mut identity: Identity, shared: &SharedRef) -> Identity {
    if identity.user.is_none() || shared.auth.reads_roles() || !shared.catalog.enabled() {
        return identity;
    }
    // Not read yet (iohost just started): read now rather than fix the socket's role wrongly.
    let mut known = shared.catalog.now();
    if known.roles.is_none() {
        known = shared.catalog.refresh().await;
    }
    let others = known.roles.as_ref().map(|roles| {
        roles
            .keys()
            .any(|r| r != AUTHENTICATED_ROLE && r != PUBLIC_ROLE)
    });
    if others != Some(false) {
        static WARNED: std::sync::Once = std::sync::Once::new();
        WARNED.call_once(|| {
            tracing::warn!(
                "strapi.api_token is not set, so users' roles cannot be read, and Strapi has roles besides Public and Authenticated (or they cannot be read): users connect as `{UNKNOWN_ROLE}` and get no role's content events; set strapi.api_token"
            );
        });
        identity.role = UNKNOWN_ROLE.to_owned();
    }
    identity
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
) -> Result<(), crate::node::Full> {
    let slot = shared.node.connections.try_acquire().inspect_err(|e| {
        tracing::warn!(ns = socket.ns(), "refused a connection: {e}");
        metrics::counter!(crate::metrics::CONNECTIONS_REFUSED, "reason" => "full").increment(1);
    })?;
    socket.extensions.insert(Arc::new(slot));
    Ok(())
}

/// Rooms and event handlers are set up here, before socketioxide sends the CONNECT packet:
/// the connect handler runs as its own task after that packet, so a client that emits at once
/// could otherwise race it and have its first events dropped.
async fn prepare(
    socket: SocketRef,
    State(shared): State<SharedRef>,
) -> Result<(), std::convert::Infallible> {
    let identity = identity_of(&socket);
    crate::sockets::enter_own_room(&socket);
    crate::sockets::join(&socket, crate::rooms::role_room(&identity.role));
    if let Some(user) = &identity.user {
        // The private room only this user's sockets are in (join-room refuses it to others).
        crate::sockets::join(&socket, format!("{USER_ROOM_PREFIX}{}", user.id));
    }
    // Only here, before the socket's first event: socketioxide calls `Events` with the
    // socket's handlers read-locked, so setting a handler while an event runs would deadlock.
    socket.on_fallback(dispatch::Events);
    socket.on_disconnect(on_disconnect);
    // Its first events wait for Strapi's listeners, if Strapi has any here.
    shared.relay.admit(socket.id.as_str(), socket.ns());
    Ok(())
}

async fn on_connect(socket: SocketRef, State(shared): State<SharedRef>) {
    let identity = identity_of(&socket);
    connections_gauge(&shared, &socket, &identity).increment(1.0);
    tracing::debug!(ns = socket.ns(), sid = %socket.id, role = identity.role, "socket connected");

    // Emits to the socket itself need it connected: handlers' `on-connect` actions wait for here.
    if let Some(PendingActions(pending)) = socket.extensions.remove::<PendingActions>() {
        let actions = pending
            .lock()
            .map(|mut a| std::mem::take(&mut *a))
            .unwrap_or_default();
        shared.runtime.apply_connect_actions(actions).await;
    }
    shared
        .relay
        .announce(crate::sockets::socket_view(&socket, &shared.node.id));
}

/// The connections gauge of the socket's namespace and role. API tokens are all `token`
/// unless `metrics.name_tokens` (their names are the operator's business).
fn connections_gauge(
    shared: &SharedRef,
    socket: &SocketRef,
    identity: &Identity,
) -> metrics::Gauge {
    let role = if identity.role.starts_with(TOKEN_ROLE_PREFIX) && !shared.config.metrics.name_tokens
    {
        "token".to_owned()
    } else {
        identity.role.clone()
    };
    metrics::gauge!(
        crate::metrics::CONNECTIONS,
        "namespace" => socket.ns().to_owned(),
        "role" => role
    )
}

async fn on_disconnect(
    socket: SocketRef,
    reason: DisconnectReason,
    State(shared): State<SharedRef>,
) {
    connections_gauge(&shared, &socket, &identity_of(&socket)).decrement(1.0);
    let reason = reason.to_string();
    shared
        .relay
        .disconnected(socket.id.as_str(), socket.ns(), &reason);
    shared.runtime.on_disconnect(&socket, &reason).await;
}
