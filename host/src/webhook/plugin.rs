//! `POST /api/v1/content-events`: content events from iohost's Strapi plugin. The plugin reads
//! each change from Strapi's document service and sends, for every role and API token that may
//! read the document, the payload Strapi's own content-API sanitiser made for it; iohost
//! delivers them as it delivers webhook events (same event names, shapes, rooms, draft rule
//! and delivery rule), but never shapes them itself. Authenticated with an API key; an event
//! id delivered before (a retry of the plugin's outbox) is answered `duplicate` and not
//! delivered again; one being delivered is answered 503 `in_progress` (the plugin retries).
//! The body is one event, or a JSON array of up to [`MAX_BATCH`] taken in order (the
//! plugin's outbox sends them so).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{WebhookState, count, deliver, make_room, refuse};
use crate::cluster::Claim;
use crate::strapi::content::Action;

pub const PATH: &str = "/api/v1/content-events";

/// How long a delivered event id is remembered: longer than the plugin's retries of one event.
const REMEMBER_IDS: Duration = Duration::from_secs(24 * 3600);
/// How long an id stays claimed by a node that is delivering it: if that node dies meanwhile,
/// a retry after this delivers it (rather than being dropped as a repeat of what never went
/// out).
const DELIVERING: Duration = Duration::from_secs(10);
/// Events one request may carry at most (a JSON array of them).
pub const MAX_BATCH: usize = 100;
/// Ids this node remembers at most when it runs alone (the oldest are forgotten first).
const IDS_AT_MOST: usize = 100_000;

/// One change of one document.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginEvent {
    /// Unique per event (the plugin's outbox row): repeats are dropped.
    id: String,
    /// `create`, `update`, `delete`, `publish`, `unpublish` or `draft-discard`.
    event: String,
    /// e.g. `api::article.article`
    uid: String,
    /// The type's singular name: the event is `<model>:<event>`.
    model: String,
    /// `{id, documentId, publishedAt}` of the version the event is about.
    entry: Map<String, Value>,
    /// Role (lower-case type) or `token:<name>` -> what Strapi's REST API shows it.
    payloads: BTreeMap<String, Map<String, Value>>,
}

impl PluginEvent {
    fn check(&self) -> Result<Action, String> {
        if self.id.is_empty() || self.id.len() > 128 {
            return Err("`id` must have 1 to 128 characters".into());
        }
        let action = Action::parse(&self.event).ok_or_else(|| {
            format!(
                "`event` must be create, update, delete, publish, unpublish or draft-discard, not `{}`",
                self.event
            )
        })?;
        if crate::strapi::entities::Entity::from_room(&format!("{}:x", self.uid)).is_none() {
            return Err(format!("`uid` is not a content type uid: `{}`", self.uid));
        }
        let model_ok = !self.model.is_empty()
            && self.model.len() <= 128
            && self
                .model
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !model_ok {
            return Err(format!("`model` is not a singular name: `{}`", self.model));
        }
        if !self.entry.get("documentId").is_some_and(Value::is_string) {
            return Err("`entry.documentId` must be a string".into());
        }
        Ok(action)
    }
}

pub(super) async fn receive(
    State(state): State<WebhookState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let api = &state.parts.api;
    if api.keys.is_empty() {
        count(&state, "", "not_configured");
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_configured",
            "no API keys are configured (api.keys)",
        );
    }
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if !api.accepts(presented) {
        tracing::info!("content event refused: missing or wrong API key");
        count(&state, "", "unauthorized");
        return refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong API key",
        );
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(events)) => receive_batch(&state, events).await,
        Ok(event) => match take(&state, event).await {
            Ok(taken) => Json(taken).into_response(),
            Err(refusal) => refuse(refusal.status, refusal.code, refusal.message),
        },
        Err(e) => {
            count(&state, "", "bad_request");
            refuse(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("body is not a content event: {e}"),
            )
        }
    }
}

/// A list of events, taken in order: `{results: [...]}`, one per event up to and including
/// the first that may succeed later (`in_progress`, `shutting_down`); the sender sends the
/// rest again after it.
async fn receive_batch(state: &WebhookState, events: Vec<Value>) -> Response {
    if events.len() > MAX_BATCH {
        count(state, "", "bad_request");
        return refuse(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!(
                "at most {MAX_BATCH} content events at once, not {}",
                events.len()
            ),
        );
    }
    let mut results = Vec::with_capacity(events.len());
    for event in events {
        let id = event.get("id").cloned().unwrap_or(Value::Null);
        match take(state, event).await {
            Ok(taken) => results.push(taken),
            Err(refusal) => {
                let again = refusal.status.is_server_error();
                results.push(json!({
                    "id": id,
                    "success": false,
                    "error": { "code": refusal.code, "message": refusal.message },
                }));
                if again {
                    break;
                }
            }
        }
    }
    Json(json!({ "results": results })).into_response()
}

/// Why one event was not delivered; a 5xx `status` may succeed later.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
}

/// Delivers one event, unless it was delivered before: `{id, success, event, rooms}` or
/// `{id, success, duplicate, event}`.
async fn take(state: &WebhookState, body: Value) -> Result<Value, Refusal> {
    let event: PluginEvent = serde_json::from_value(body).map_err(|e| {
        count(state, "", "bad_request");
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("body is not a content event: {e}"),
        )
    })?;
    let action = event.check().map_err(|reason| {
        count(state, "", "bad_request");
        Refusal::new(StatusCode::BAD_REQUEST, "bad_request", reason)
    })?;
    let name = format!("{}:{}", event.model, action.name());
    // A stopping node closes its sockets: what it emitted now might reach nobody, and the
    // event would still count as delivered. One begun before holds the sockets open until it
    // is done (within a bound).
    let Some(_delivery) = state.parts.node.delivery().await else {
        count(state, "plugin", "shutting_down");
        return Err(Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "this node is stopping: send the event again (to another node, or to this one once it is back)",
        ));
    };
    match begin(state, &event.id).await {
        Seen::First => {}
        Seen::Delivered => {
            count(state, "plugin", "duplicate");
            return Ok(
                json!({ "id": event.id, "success": true, "duplicate": true, "event": name }),
            );
        }
        Seen::Delivering => {
            count(state, "plugin", "busy");
            return Err(Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "in_progress",
                "this event is being delivered (by this or another node): send it again later",
            ));
        }
    }
    let known = state.parts.catalog.ready().await;
    let rooms = deliver(
        state,
        action,
        &event.model,
        &event.uid,
        &event.entry,
        known,
        Some(&event.payloads),
    )
    .await;
    if state.parts.node.sockets_closing() {
        // The stop did not wait so long: the sockets may have closed before the emits went
        // out. Not marked delivered, so the plugin's retry delivers it (perhaps twice to a few).
        release(state, &event.id).await;
        count(state, "plugin", "shutting_down");
        return Err(Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "this node began stopping while delivering the event: send it again",
        ));
    }
    finish(state, &event.id).await;
    tracing::debug!(
        id = event.id,
        event = name,
        ?rooms,
        "plugin content event delivered"
    );
    count(state, "plugin", "delivered");
    Ok(json!({ "id": event.id, "success": true, "event": name, "rooms": rooms }))
}

/// Where an event id stands.
enum Seen {
    /// Not seen: this node delivers it now.
    First,
    /// Delivered before: a repeat.
    Delivered,
    /// Being delivered, here or by another node.
    Delivering,
}

/// Claims event `id` as being delivered: across the cluster through Redis (the claim lapses
/// after [`DELIVERING`] unless [`finish`] marks it delivered), alone or while Redis is
/// unreachable by what this node remembers.
async fn begin(state: &WebhookState, id: &str) -> Seen {
    let key = id_key(state, id);
    match state
        .parts
        .backplane
        .claim(&key, "delivering", DELIVERING)
        .await
    {
        Some(Claim::Mine) => Seen::First,
        Some(Claim::Taken(value)) if value == "delivered" => Seen::Delivered,
        Some(Claim::Taken(_)) => Seen::Delivering,
        None => state.plugin_ids.begin(id),
    }
}

/// Marks event `id` delivered, for [`REMEMBER_IDS`].
async fn finish(state: &WebhookState, id: &str) {
    let key = id_key(state, id);
    state.plugin_ids.finish(id);
    if !state
        .parts
        .backplane
        .overwrite(&key, "delivered", REMEMBER_IDS)
        .await
    {
        tracing::debug!(id, "content event delivered, but not marked so in Redis");
    }
}

/// Frees event `id` at once: it was not delivered after all.
async fn release(state: &WebhookState, id: &str) {
    state.plugin_ids.release(id);
    let key = id_key(state, id);
    state
        .parts
        .backplane
        .overwrite(&key, "released", Duration::from_millis(1))
        .await;
}

fn id_key(state: &WebhookState, id: &str) -> String {
    format!("{}:content-event:{id}", state.parts.cluster_prefix)
}

/// Event ids this node has seen: id -> (when, delivered).
#[derive(Default)]
pub(super) struct Ids(Mutex<HashMap<String, (Instant, bool)>>);

impl Ids {
    fn begin(&self, id: &str) -> Seen {
        let Ok(mut ids) = self.0.lock() else {
            return Seen::First;
        };
        let now = Instant::now();
        make_room(
            &mut ids,
            IDS_AT_MOST,
            |(at, _)| *at,
            |(at, done)| now.duration_since(*at) >= if *done { REMEMBER_IDS } else { DELIVERING },
        );
        match ids.get(id) {
            Some((_, true)) => Seen::Delivered,
            Some((at, false)) if now.duration_since(*at) < DELIVERING => Seen::Delivering,
            _ => {
                ids.insert(id.to_owned(), (now, false));
                Seen::First
            }
        }
    }

    fn release(&self, id: &str) {
        if let Ok(mut ids) = self.0.lock() {
            ids.remove(id);
        }
    }

    fn finish(&self, id: &str) {
        if let Ok(mut ids) = self.0.lock() {
            ids.insert(id.to_owned(), (Instant::now(), true));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_delivered_once_and_waits_while_delivering() {
        let ids = Ids::default();
        assert!(matches!(ids.begin("a"), Seen::First));
        // A retry while the first delivery is under way waits (503), it is not dropped.
        assert!(matches!(ids.begin("a"), Seen::Delivering));
        ids.finish("a");
        assert!(matches!(ids.begin("a"), Seen::Delivered));
        assert!(matches!(ids.begin("b"), Seen::First));
    }
}
