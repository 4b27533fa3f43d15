//! `POST <strapi.webhook_path>`: Strapi's webhook. Authenticated by the shared secret
//! (`Authorization: Bearer <secret>`, compared in constant time); bodies that are not a known
//! event get a 400 with the reason; the same notification posted twice is delivered once.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::cluster::Io;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;
use subtle::ConstantTimeEq;

use super::content::{self, BodyError, Notice, WebhookBody};
use super::entities::{self, Entity};
use crate::config::Permission;
use crate::model::Args;
use crate::model::room_of_role;
use crate::server::SharedRef;
use crate::server::sockets::broadcast;

/// Webhooks received, by `event` and `result` (counter).
pub const WEBHOOKS: &str = "iohost_webhooks_total";

/// Webhook counts since start, for `/api/v1/stats` and the admin page.
#[derive(Debug, Default, serde::Serialize)]
pub struct WebhookStats {
    /// Delivered to clients (or to nobody, when no role may have it).
    pub delivered: std::sync::atomic::AtomicU64,
    /// Repeats of a notification already delivered.
    pub duplicates: std::sync::atomic::AtomicU64,
    /// Refused: wrong secret, not configured, or a body that is not a known event.
    pub refused: std::sync::atomic::AtomicU64,
    /// `trigger-test` calls.
    pub tests: std::sync::atomic::AtomicU64,
}

/// How long a notification is remembered to drop a repeat of it.
const REMEMBER: Duration = Duration::from_secs(600);
/// Most notifications remembered at once (the oldest are forgotten first).
const REMEMBER_AT_MOST: usize = 10_000;

#[derive(Clone)]
struct WebhookState {
    shared: SharedRef,
    io: Io,
    seen: std::sync::Arc<Seen>,
}

/// Notifications seen lately, by a hash of the raw body.
#[derive(Default)]
struct Seen(Mutex<HashMap<u64, Instant>>);

impl Seen {
    /// True the first time `body` is seen within [`REMEMBER`].
    fn first_time(&self, body: &[u8]) -> bool {
        let mut hasher = DefaultHasher::new();
        body.hash(&mut hasher);
        let key = hasher.finish();
        let now = Instant::now();
        let Ok(mut seen) = self.0.lock() else {
            return true;
        };
        if seen.len() >= REMEMBER_AT_MOST {
            seen.retain(|_, at| now.duration_since(*at) < REMEMBER);
            if seen.len() >= REMEMBER_AT_MOST
                && let Some(oldest) = seen.iter().min_by_key(|(_, at)| **at).map(|(k, _)| *k)
            {
                seen.remove(&oldest);
            }
        }
        match seen.get(&key) {
            Some(at) if now.duration_since(*at) < REMEMBER => false,
            _ => {
                seen.insert(key, now);
                true
            }
        }
    }
}

pub fn router(shared: SharedRef, io: Io) -> Router {
    let path = shared.config.strapi.webhook_path.clone();
    let state = WebhookState {
        shared,
        io,
        seen: Default::default(),
    };
    Router::new().route(&path, post(receive)).with_state(state)
}

fn refuse(status: StatusCode, code: &'static str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({ "error": { "code": code, "message": message.into() } })),
    )
        .into_response()
}

fn count(state: &WebhookState, event: &str, result: &'static str) {
    use std::sync::atomic::Ordering::Relaxed;
    let stats = &state.shared.webhooks;
    match result {
        "delivered" => stats.delivered.fetch_add(1, Relaxed),
        "duplicate" => stats.duplicates.fetch_add(1, Relaxed),
        "test" => stats.tests.fetch_add(1, Relaxed),
        _ => stats.refused.fetch_add(1, Relaxed),
    };
    // Event names are bounded here: only the ones iohost understands, else "other".
    let known = matches!(
        event,
        "entry.create"
            | "entry.update"
            | "entry.delete"
            | "entry.publish"
            | "entry.unpublish"
            | "media.create"
            | "media.update"
            | "media.delete"
            | "trigger-test"
    );
    let event = if known {
        event.to_owned()
    } else {
        "other".to_owned()
    };
    metrics::counter!(WEBHOOKS, "event" => event, "result" => result).increment(1);
}

async fn receive(State(state): State<WebhookState>, headers: HeaderMap, body: Bytes) -> Response {
    let config = &state.shared.config.strapi;
    if config.webhook_secret.is_empty() {
        count(&state, "", "not_configured");
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_configured",
            "the webhook is off: set strapi.webhook_secret",
        );
    }
    let expected = format!("Bearer {}", config.webhook_secret);
    let presented = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !bool::from(presented.ct_eq(expected.as_bytes())) {
        tracing::warn!("refused a webhook: missing or wrong secret (Authorization header)");
        count(&state, "", "unauthorized");
        return refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong webhook secret",
        );
    }
    let parsed: WebhookBody = match serde_json::from_slice(&body) {
        Ok(parsed) => parsed,
        Err(e) => {
            count(&state, "", "bad_request");
            return refuse(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("body is not a Strapi webhook: {e}"),
            );
        }
    };
    let event = parsed.event.clone();
    let notice = match content::understand(parsed) {
        Ok(notice) => notice,
        Err(e) => {
            count(&state, &event, "bad_request");
            let code = if matches!(e, BodyError::UnknownEvent(_)) {
                "unknown_event"
            } else {
                "bad_request"
            };
            return refuse(StatusCode::BAD_REQUEST, code, e.to_string());
        }
    };
    if !state.seen.first_time(&body) {
        count(&state, &event, "duplicate");
        return Json(json!({ "success": true, "duplicate": true })).into_response();
    }
    match notice {
        Notice::Test => {
            count(&state, &event, "test");
            Json(json!({ "success": true, "test": true })).into_response()
        }
        Notice::Change {
            action,
            model,
            uid,
            entry,
        } => {
            // Deleting a published document sends one entry.delete per row (draft and published,
            // different ids, one documentId): clients hear about the document once.
            if action == content::Action::Delete
                && let Some(document) = entry.get("documentId").and_then(|d| d.as_str())
                && !state
                    .seen
                    .first_time(format!("delete {model} {document}").as_bytes())
            {
                count(&state, &event, "duplicate");
                return Json(json!({ "success": true, "duplicate": true })).into_response();
            }
            let uid = uid.unwrap_or_else(|| format!("api::{model}.{model}"));
            let rooms = deliver(&state, action, &model, &uid, &entry).await;
            count(&state, &event, "delivered");
            Json(json!({ "success": true, "event": format!("{model}:{}", action.name()), "rooms": rooms })).into_response()
        }
    }
}

/// Emits `<model>:<action>` to the room of every role (and API token) that may receive it, or
/// else, when the role may read the type, to its followers of this document; each role with its
/// own fields. Returns the rooms it went to.
async fn deliver(
    state: &WebhookState,
    action: content::Action,
    model: &str,
    uid: &str,
    entry: &serde_json::Map<String, serde_json::Value>,
) -> Vec<String> {
    let config = &state.shared.config.strapi;
    let event = format!("{model}:{}", action.name());
    let followed = entry
        .get("documentId")
        .and_then(|d| d.as_str())
        .and_then(|id| Entity::from_room(&format!("{uid}:{id}")));
    let mut rooms = Vec::new();
    // The matrix is a run-time setting: read it as it is now.
    let matrix = super::effective_matrix(&state.shared);
    for role in matrix.keys() {
        let permissions = entities::permissions_of(&matrix, role, model);
        let room = if content::may_receive(config.delivery, &permissions, action) {
            room_of_role(role)
        } else if let Some(entity) = &followed
            && permissions.contains(&&Permission::Find)
        {
            entity.role_room(role)
        } else {
            continue;
        };
        let visible = content::visible_fields(entry, config.fields.get(model), role);
        let payload = content::payload(config.payload, action, visible);
        let args = Args(vec![match rmpv::ext::to_value(&payload) {
            Ok(value) => value,
            Err(e) => {
                tracing::error!("cannot encode a content event: {e}");
                continue;
            }
        }]);
        for ns in &config.namespaces {
            if let Err(e) = broadcast(&state.io, ns, vec![room.clone()], None, &event, &args).await
            {
                tracing::debug!("content event not sent: {e}");
            }
        }
        rooms.push(room);
    }
    tracing::debug!(event, ?rooms, "content event delivered");
    rooms
}
