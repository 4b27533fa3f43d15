//! `POST <strapi.webhook_path>`: Strapi's webhook, the edge where content events come in. Authenticated by the shared secret
//! (`Authorization: Bearer <secret>`, compared in constant time); bodies that are not a known
//! event get a 400 with the reason; the same notification posted twice is delivered once.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
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

use std::collections::{BTreeMap, HashSet};

use serde_json::{Map, Value};

use crate::auth::Authenticator;
use crate::config::StrapiConfig;
use crate::handlers::{ContentDecision, ContentEvent};
use crate::metrics::{WEBHOOKS, WebhookStats};
use crate::model::Args;
use crate::rooms::role_room as room_of_role;
use crate::settings::LiveSettings;
use crate::sockets::broadcast;
use crate::strapi::Snapshot;
use crate::strapi::access::{Access, Grant};
use crate::strapi::catalog::{Catalog, Known};
use crate::strapi::content::{self, BodyError, Notice, WebhookBody};
use crate::strapi::entities::Entity;
use crate::strapi::schema::{MEDIA_MODEL, MEDIA_UID};
use crate::strapi::shape::{Findings, Shaper};

mod plugin;
mod users;
pub use users::UserChanges;

/// How long a notification is remembered to drop a repeat of it.
const REMEMBER: Duration = Duration::from_secs(600);
/// Most notifications remembered at once (the oldest are forgotten first).
const REMEMBER_AT_MOST: usize = 10_000;

/// What the receiver reads and where it delivers.
#[derive(Clone)]
pub struct Parts {
    pub config: Arc<StrapiConfig>,
    /// `webhook_secret` at each request: it may change while iohost runs.
    pub credentials: crate::strapi::credentials::LiveCredentials,
    /// The API keys the io plugin sends its content events with.
    pub api: Arc<crate::config::ApiConfig>,
    /// Repeats of a plugin event are dropped across the cluster through Redis.
    pub backplane: crate::cluster::Backplane,
    /// The cluster's key prefix.
    pub cluster_prefix: String,
    /// This node: a stopping one takes no more plugin events (its sockets are closing).
    pub node: Arc<crate::node::Node>,
    pub stats: Arc<WebhookStats>,
    pub catalog: Arc<Catalog>,
    pub settings: Arc<LiveSettings>,
    pub auth: Arc<Authenticator>,
    pub io: Io,
    /// Handlers that export `on-content` see each audience's event before it is sent.
    pub handlers: Arc<crate::handlers::Runtime>,
    /// Every node's sockets, for events a handler narrowed to some rooms.
    pub directory: Arc<crate::sockets::Directory>,
    /// News of changed users for every node.
    pub users: Arc<UserChanges>,
}

#[derive(Clone)]
struct WebhookState {
    parts: Parts,
    seen: std::sync::Arc<Seen>,
    /// The plugin's event ids, when this node cannot share them through Redis.
    plugin_ids: std::sync::Arc<plugin::Ids>,
    /// Messages already logged (events delivered to nobody, entries that do not fit the
    /// schema): each once, not once per webhook.
    logged: std::sync::Arc<Mutex<HashSet<String>>>,
}

/// Distinct messages remembered by [`WebhookState::log_once`] at most.
const LOGGED_AT_MOST: usize = 1_000;

impl WebhookState {
    fn log_once(&self, message: String) {
        let Ok(mut logged) = self.logged.lock() else {
            return;
        };
        if logged.len() >= LOGGED_AT_MOST {
            logged.clear();
        }
        if logged.insert(message.clone()) {
            tracing::info!("{message}");
        }
    }
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
        make_room(
            &mut seen,
            REMEMBER_AT_MOST,
            |at| *at,
            |at| now.duration_since(*at) >= REMEMBER,
        );
        match seen.get(&key) {
            Some(at) if now.duration_since(*at) < REMEMBER => false,
            _ => {
                seen.insert(key, now);
                true
            }
        }
    }
}

/// Keeps `map` under `at_most` entries before one more goes in: drops the stale ones, then,
/// if that was not enough, the oldest (`since` says when an entry was written).
fn make_room<K: Clone + Eq + Hash, V>(
    map: &mut HashMap<K, V>,
    at_most: usize,
    since: impl Fn(&V) -> Instant,
    stale: impl Fn(&V) -> bool,
) {
    if map.len() < at_most {
        return;
    }
    map.retain(|_, v| !stale(v));
    if map.len() >= at_most
        && let Some(oldest) = map
            .iter()
            .min_by_key(|(_, v)| since(v))
            .map(|(k, _)| k.clone())
    {
        map.remove(&oldest);
    }
}

pub fn router(parts: Parts) -> Router {
    let path = parts.config.webhook_path.clone();
    let state = WebhookState {
        parts,
        seen: Default::default(),
        plugin_ids: Default::default(),
        logged: Default::default(),
    };
    Router::new()
        .route(&path, post(receive))
        .route(plugin::PATH, post(plugin::receive))
        .with_state(state)
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
    let stats = &state.parts.stats;
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
            | "plugin"
    );
    let event = if known {
        event.to_owned()
    } else {
        "other".to_owned()
    };
    metrics::counter!(WEBHOOKS, "event" => event, "result" => result).increment(1);
}

async fn receive(State(state): State<WebhookState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refusal) = authorize(&state, &headers) {
        return *refusal;
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
            let answer = change(&state, action, &model, uid, &entry).await;
            count(&state, &event, "delivered");
            Json(answer).into_response()
        }
    }
}

/// The shared secret, compared in constant time; a refusal is counted and answered.
fn authorize(state: &WebhookState, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let credentials = state.parts.credentials.now();
    if credentials.webhook_secret.is_empty() {
        count(state, "", "not_configured");
        return Err(Box::new(refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_configured",
            "the webhook is off: set strapi.webhook_secret",
        )));
    }
    let expected = format!("Bearer {}", credentials.webhook_secret);
    let presented = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !bool::from(presented.ct_eq(expected.as_bytes())) {
        tracing::warn!("refused a webhook: missing or wrong secret (Authorization header)");
        count(state, "", "unauthorized");
        return Err(Box::new(refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong webhook secret",
        )));
    }
    Ok(())
}

/// Delivers a change of a document to whoever may read it; the webhook's answer: the event,
/// the rooms, and what of the entry did not fit Strapi's schema (removed, logged once).
async fn change(
    state: &WebhookState,
    action: content::Action,
    model: &str,
    uid: Option<String>,
    entry: &Map<String, Value>,
) -> Value {
    let catalog = &state.parts.catalog;
    let mut known = catalog.ready().await;
    if known.schemas.is_none() {
        state.log_once(
            "Strapi's content types are not known (set strapi.admin_email, or run `iohost strapi setup`): content events carry only each document's own single values, nothing nested".to_owned(),
        );
    }
    let uid = uid.unwrap_or_else(|| uid_of(&known, model));
    // A type or field iohost does not know: Strapi's schema changed; read it again.
    let mut found = check(&known, &uid, entry);
    if !found.unknown.is_empty() && catalog.enabled() {
        known = catalog.refresh().await;
        found = check(&known, &uid, entry);
    }
    let rooms = deliver(state, action, model, &uid, entry, known, None).await;
    let removed: Vec<String> = found
        .unknown
        .iter()
        .map(|path| format!("{path}: not in Strapi's schema"))
        .chain(found.mismatched.iter().cloned())
        .collect();
    if !removed.is_empty() {
        state.log_once(format!(
            "{model}:{}: removed what does not fit Strapi's schema: {}",
            action.name(),
            removed.join("; ")
        ));
    }
    let mut answer = json!({
        "success": true,
        "event": format!("{model}:{}", action.name()),
        "rooms": rooms,
    });
    if !removed.is_empty() {
        answer["removed"] = json!(removed);
    }
    answer
}

/// `payload` as the one argument of a content event; none (logged) if it cannot be encoded.
fn encode(payload: &Value) -> Option<Args> {
    match rmpv::ext::to_value(payload) {
        Ok(value) => Some(Args(vec![value])),
        Err(e) => {
            tracing::error!("cannot encode a content event: {e}");
            None
        }
    }
}

/// Sends `payload` as `event` to `room` in every content namespace; false if it could not be
/// encoded (logged).
async fn emit(state: &WebhookState, room: &str, event: &str, payload: &Value) -> bool {
    let Some(args) = encode(payload) else {
        return false;
    };
    for ns in &state.parts.config.namespaces {
        let sent = broadcast(
            &state.parts.io,
            ns,
            vec![room.to_owned()],
            &[],
            event,
            &args,
        )
        .await;
        if let Err(e) = sent {
            tracing::debug!("content event not sent: {e}");
        }
    }
    true
}

/// [`emit`], but with `within` (handlers narrowed the event) only to the sockets of `room`
/// that are also in one room of each list, on every node. Never to anyone outside `room`.
/// False when it reached nobody (or could not be encoded).
async fn emit_within(
    state: &WebhookState,
    room: &str,
    within: &[Vec<String>],
    event: &str,
    payload: &Value,
) -> bool {
    let Some((first, others)) = within.split_first() else {
        return emit(state, room, event, payload).await;
    };
    let Some(args) = encode(payload) else {
        return false;
    };
    let io = &state.parts.io;
    let mut reached = false;
    for ns in &state.parts.config.namespaces {
        let mut chosen = std::collections::BTreeSet::new();
        for narrow in first {
            let listed = state.parts.directory.list(io, Some(ns), Some(narrow)).await;
            if !listed.coverage.complete {
                tracing::warn!(
                    event,
                    room = narrow,
                    "a narrowed content event reaches only the nodes that answered ({} of {})",
                    listed.coverage.answered,
                    listed.coverage.nodes
                );
            }
            for member in listed.members {
                let rooms = &member.view.rooms;
                let inside = rooms.iter().any(|r| r == room)
                    && others
                        .iter()
                        .all(|any| any.iter().any(|r| rooms.contains(r)));
                if inside {
                    chosen.insert(crate::sockets::socket_room(&member.view.id));
                }
            }
        }
        if chosen.is_empty() {
            continue;
        }
        reached = true;
        let sent = broadcast(io, ns, chosen.into_iter().collect(), &[], event, &args).await;
        if let Err(e) = sent {
            tracing::debug!("content event not sent: {e}");
        }
    }
    reached
}

/// The uid of the type a webhook's `model` names, when Strapi left it out.
fn uid_of(known: &Known, model: &str) -> String {
    if model == MEDIA_MODEL {
        return MEDIA_UID.to_owned();
    }
    known
        .schemas
        .as_ref()
        .and_then(|s| s.by_key(model))
        .map_or_else(|| format!("api::{model}.{model}"), |m| m.uid.clone())
}

/// What in the entry does not fit Strapi's schema, whoever receives it (nothing to say
/// while no schema is known).
fn check(known: &Known, uid: &str, entry: &Map<String, Value>) -> Findings {
    if known.schemas.is_none() {
        return Findings::default();
    }
    const EVERYONE: &str = "token:(everything)";
    let none = Default::default();
    let access = Access {
        rule: crate::config::DeliveryRule::Find,
        configured: &none,
        roles: None,
        tokens: BTreeMap::from([(EVERYONE.to_owned(), Grant::Everything)]),
        schemas: known.schemas.as_ref(),
        drafts: &[],
    };
    let mut found = Findings::default();
    Shaper {
        schemas: known.schemas.as_ref(),
        access: &access,
        fields: &BTreeMap::new(),
        role: EVERYONE,
    }
    .document(uid, entry, &mut found);
    found
}

/// Is this row a draft (its type has draft & publish and it is not the published version)?
/// Without a schema, any row that is not published counts as one.
fn is_draft(known: &Known, uid: &str, entry: &Map<String, Value>) -> bool {
    let unpublished = entry.get("publishedAt").is_none_or(Value::is_null);
    match known.schemas.as_ref().and_then(|s| s.get(uid)) {
        Some(model) => model.draft_and_publish && unpublished,
        None => unpublished,
    }
}

/// Why an event reached nobody, for the log.
#[derive(Default)]
struct Misses {
    readers: usize,
    drafts: usize,
    /// Audiences content handlers dropped it for, or narrowed it to nobody online.
    handled: usize,
}

impl Misses {
    /// Why an event reached nobody, for the log: no role known, none may find the type, it is
    /// a draft nobody may read, or the delivery rule.
    fn why(&self, nobody_known: bool, strapi_roles_read: bool, model: &str) -> String {
        if nobody_known {
            "no role is known: let iohost read Strapi's roles (strapi.admin_email) or name roles in [strapi.permissions]".to_owned()
        } else if self.readers == 0 {
            let source = if strapi_roles_read {
                "in Strapi (narrowed by [strapi.permissions])"
            } else {
                "in [strapi.permissions] (Strapi's roles are not read)"
            };
            format!("no role may `find` {model} {source}")
        } else if self.drafts == self.readers {
            format!(
                "it is a draft, and no role that may read {model} may read drafts ([strapi.drafts] roles)"
            )
        } else if self.handled > 0 {
            "content handlers ([handlers.content]) dropped it, or narrowed it to rooms nobody of its audience is in".to_owned()
        } else {
            "no role's delivery rule asks for it (strapi.delivery = \"action\")".to_owned()
        }
    }
}

/// Emits `<model>:<action>` to the room of every role (and API token) that may read the
/// document and whose delivery rule wants the action, or else to its followers of this
/// document; each with what [`Shaper`] lets it see. A draft goes only to roles that may read
/// drafts. With `given` (the io plugin's event), each role's payload is Strapi's own and a role
/// without one gets nothing. Returns the rooms it went to.
async fn deliver(
    state: &WebhookState,
    action: content::Action,
    model: &str,
    uid: &str,
    entry: &Map<String, Value>,
    known: std::sync::Arc<Known>,
    given: Option<&BTreeMap<String, Map<String, Value>>>,
) -> Vec<String> {
    users::watch(state, uid, action, entry);
    let config = &*state.parts.config;
    let event = format!("{model}:{}", action.name());
    let document = entry.get("documentId").and_then(Value::as_str);
    let followed = document.and_then(|id| Entity::from_room(&format!("{uid}:{id}")));
    let draft = is_draft(&known, uid, entry);
    // Deleting a published document sends one entry.delete per row (draft and published,
    // different ids, one documentId). Roles that read drafts hear of it once, from the first
    // row; the others only from the published row.
    let first_delete = action != content::Action::Delete
        || document.is_none_or(|d| {
            state
                .seen
                .first_time(format!("delete {model} {d}").as_bytes())
        });
    // Permissions and tokens change at run time: read them as they are now.
    let snapshot = Snapshot::new(
        state.parts.settings.now().permissions.clone(),
        state.parts.auth.tokens.fresh().await,
        known,
    );
    let access = snapshot.access(config);
    let mut rooms = Vec::new();
    let mut misses = Misses::default();
    let audience = access.audience();
    let content_handlers = state.parts.handlers.takes_content();
    for role in &audience {
        if !access.readable(role, uid) {
            continue;
        }
        misses.readers += 1;
        let reads_drafts = access.sees_drafts(role);
        if (draft && !reads_drafts) || (reads_drafts && !first_delete) {
            misses.drafts += usize::from(draft && !reads_drafts);
            continue;
        }
        let room = if access.wants(role, uid, action.permission()) {
            room_of_role(role)
        } else if let Some(entity) = &followed {
            entity.role_room(role)
        } else {
            continue;
        };
        let visible = match given {
            Some(payloads) => match payloads.get(role) {
                Some(payload) => payload.clone(),
                None => continue,
            },
            None => Shaper {
                schemas: snapshot.known.schemas.as_ref(),
                access: &access,
                fields: &config.fields,
                role,
            }
            .document(uid, entry, &mut Findings::default()),
        };
        let payload = content::payload(config.payload, action, visible);
        if !content_handlers {
            if emit(state, &room, &event, &payload).await {
                rooms.push(room);
            }
            continue;
        }
        let seen = ContentEvent {
            name: event.clone(),
            uid: uid.to_owned(),
            action: action.name().to_owned(),
            audience: role.clone(),
            room: room.clone(),
            data: payload.to_string(),
        };
        match state.parts.handlers.on_content(seen).await {
            ContentDecision::Drop => {
                misses.handled += 1;
                tracing::debug!(event, role, "a handler dropped it");
            }
            ContentDecision::Deliver { within, data } => {
                let payload = match data.map(|d| serde_json::from_str::<Value>(&d)) {
                    None => payload,
                    Some(Ok(changed)) => changed,
                    Some(Err(_)) => continue,
                };
                if emit_within(state, &room, &within, &event, &payload).await {
                    rooms.push(room);
                } else {
                    misses.handled += 1;
                }
            }
        }
    }
    if rooms.is_empty() && first_delete {
        let why = misses.why(audience.is_empty(), snapshot.known.roles.is_some(), model);
        state.log_once(format!("{event} was delivered to nobody: {why}"));
    }
    tracing::debug!(event, ?rooms, "content event delivered");
    rooms
}
