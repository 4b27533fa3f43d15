//! A Strapi user changed after their sockets connected. Strapi answers each REST request as
//! the user stands then, so their sockets must not go on as they connected: when a webhook or
//! the plugin tells of a users-permissions user updated or deleted, iohost reads the user again
//! and disconnects, on every node, those of their sockets whose identity no longer holds
//! (deleted, blocked, unconfirmed, another role). The client connects again as the user now is,
//! or is refused with the reason.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::WebhookState;
use crate::auth::{AuthError, Authenticator};
use crate::cluster::{Backplane, Exchange};
use crate::rooms::USER_ROOM_PREFIX;
use crate::sockets::directory::Act;
use crate::strapi::content::Action;

/// users-permissions' user type.
pub const USER_UID: &str = "plugin::users-permissions.user";

/// Tells every node that a user changed, so that none lets them connect again on what its
/// cache remembers of them (a client disconnected here may come back through another node).
pub struct UserChanges {
    exchange: Arc<Exchange<u64, ()>>,
    auth: Arc<Authenticator>,
}

impl UserChanges {
    /// Answers the other nodes' news of changed users by forgetting them here.
    pub async fn serve(
        backplane: Backplane,
        prefix: &str,
        node: &str,
        deadline: Duration,
        auth: Arc<Authenticator>,
    ) -> Result<Arc<Self>, redis::RedisError> {
        let exchange = Arc::new(Exchange::new(
            backplane,
            &format!("{prefix}:users"),
            node,
            deadline,
        ));
        let forgets = auth.clone();
        exchange
            .clone()
            .serve(move |user: u64| {
                forgets.forget(user);
                async {}
            })
            .await?;
        Ok(Arc::new(Self { exchange, auth }))
    }

    /// Forgets user `id` here and on every node that answers within the cluster's deadline.
    async fn forget_everywhere(&self, id: u64) {
        self.auth.forget(id);
        let gathered = self.exchange.ask(&id).await;
        if !gathered.complete() {
            tracing::warn!(
                user = id,
                answered = gathered.answered(),
                nodes = gathered.nodes(),
                "nodes did not confirm forgetting a changed user: they may admit them as they were for up to strapi.identity_cache_ms"
            );
        }
    }
}

impl std::fmt::Debug for UserChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserChanges").finish_non_exhaustive()
    }
}

/// What the change means for the user's sockets.
#[derive(Debug, PartialEq)]
enum Verdict {
    /// None of their sockets may go on (why).
    Gone(String),
    /// Only sockets of this role may go on.
    Role(String),
}

/// Looks into a content event: a user's update or deletion rechecks their sockets, in the
/// background (the event's delivery does not wait for Strapi or the cluster).
pub(super) fn watch(state: &WebhookState, uid: &str, action: Action, entry: &Map<String, Value>) {
    if uid != USER_UID || !matches!(action, Action::Update | Action::Delete) {
        return;
    }
    let Some(id) = entry.get("id").and_then(Value::as_u64) else {
        return;
    };
    // What the entry itself says, for when iohost cannot read the user (no API token).
    let flagged = entry.get("blocked") == Some(&Value::Bool(true))
        || entry.get("confirmed") == Some(&Value::Bool(false));
    let state = state.clone();
    tokio::spawn(async move { recheck(&state, id, action, flagged).await });
}

async fn recheck(state: &WebhookState, id: u64, action: Action, flagged: bool) {
    // Before anything is disconnected: a client that connects again, through any node, is
    // looked up afresh.
    state.parts.users.forget_everywhere(id).await;
    let verdict = if action == Action::Delete {
        Verdict::Gone("deleted in Strapi".to_owned())
    } else {
        match state.parts.auth.recheck(id).await {
            Some(Ok(identity)) => Verdict::Role(identity.role),
            Some(Err(AuthError::Unavailable)) if flagged => {
                Verdict::Gone("blocked or unconfirmed in Strapi".to_owned())
            }
            Some(Err(AuthError::Unavailable)) => {
                tracing::warn!(
                    user = id,
                    "a user changed in Strapi but cannot be read again now: their sockets stay as they are"
                );
                return;
            }
            Some(Err(e)) => Verdict::Gone(e.to_string()),
            None if flagged => Verdict::Gone("blocked or unconfirmed in Strapi".to_owned()),
            None => return,
        }
    };
    let (io, directory) = (&state.parts.io, &state.parts.directory);
    let room = format!("{USER_ROOM_PREFIX}{id}");
    let mut dropped = 0;
    for member in directory.list(io, None, Some(&room)).await.members {
        let view = member.view;
        let holds = match &verdict {
            Verdict::Gone(_) => false,
            Verdict::Role(role) => &view.role == role,
        };
        if holds || view.user.as_ref().is_none_or(|u| u.id != id) {
            continue;
        }
        match directory
            .act(io, &view.namespace, &view.id, Act::Disconnect)
            .await
        {
            Ok(()) => dropped += 1,
            Err(e) => tracing::warn!(
                user = id,
                "cannot disconnect a socket of a changed user: {e}"
            ),
        }
    }
    if dropped > 0 {
        tracing::info!(
            user = id,
            sockets = dropped,
            ?verdict,
            "disconnected a changed user's sockets"
        );
    }
}
