//! `POST /api/v1/content-events`: content events from iohost's Strapi plugin. The plugin reads
//! each change from Strapi's document service and sends, for every role and API token that may
//! read the document, the payload Strapi's own content-API sanitiser made for it; iohost
//! delivers them as it delivers webhook events (same event names, shapes, rooms, draft rule
//! and delivery rule), but never shapes them itself. Authenticated with an API key; an event
//! id seen before (a retry of the plugin's outbox) is answered `duplicate` and not delivered.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{WebhookState, count, deliver, refuse};
use crate::strapi::content::Action;

pub const PATH: &str = "/api/v1/content-events";

/// How long an event id is remembered: longer than the plugin's retries of one event.
const REMEMBER_IDS: Duration = Duration::from_secs(24 * 3600);

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
    let event: PluginEvent = match serde_json::from_slice(&body) {
        Ok(event) => event,
        Err(e) => {
            count(&state, "", "bad_request");
            return refuse(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("body is not a content event: {e}"),
            );
        }
    };
    let action = match event.check() {
        Ok(action) => action,
        Err(reason) => {
            count(&state, "", "bad_request");
            return refuse(StatusCode::BAD_REQUEST, "bad_request", reason);
        }
    };
    let name = format!("{}:{}", event.model, action.name());
    if !first_time(&state, &event.id).await {
        count(&state, "plugin", "duplicate");
        return Json(json!({ "success": true, "duplicate": true, "event": name })).into_response();
    }
    let known = state.parts.catalog.ready().await;
    let rooms = deliver(
        &state,
        action,
        &event.model,
        &event.uid,
        &event.entry,
        known,
        Some(&event.payloads),
    )
    .await;
    count(&state, "plugin", "delivered");
    Json(json!({ "success": true, "event": name, "rooms": rooms })).into_response()
}

/// Is this the first time any node sees event `id`? Across the cluster through Redis; alone,
/// or while Redis is unreachable, by what this node remembers.
async fn first_time(state: &WebhookState, id: &str) -> bool {
    let key = format!("{}:content-event:{id}", state.parts.cluster_prefix);
    match state.parts.backplane.claim_once(&key, REMEMBER_IDS).await {
        Some(first) => first,
        None => state.seen.first_time(format!("plugin {id}").as_bytes()),
    }
}
