//! `iohost handlers test FILE.wasm [SCRIPT]`: runs one handler component in-process, as iohost
//! would (same loader, limits, imports), against a script of sockets and steps, with an
//! in-memory KV store and no server: each step's outcome (accept or reject, pass, handled
//! with its ack, reject) and the actions it asked for (emits, joins, leaves, disconnects) are
//! compared with what the script expects, and the KV store's contents at the end. Joins and
//! leaves the handler asks for change the scripted sockets' rooms for the next steps.
//!
//! A script (TOML):
//!
//! ```toml
//! config = { throttle_ms = 1000 }    # over the sidecar's [config]
//!
//! [[socket]]
//! id = "ann"
//! role = "authenticated"             # default "public"
//! user = { id = 1, username = "ann" }
//! rooms = ["chat-room-7"]
//!
//! [[step]]
//! socket = "ann"
//! event = "chat:typing"
//! args = [{ roomId = "7" }]
//! expect = { ack = [{ success = true }] }    # or "pass", "handled", { reject = "why" }
//! actions = [{ emit = "chat:typing", to = "room:chat-room-7", except = "ann", args = [{ username = "ann", roomId = "7" }] }]
//!
//! [kv]
//! "typing:ann:chat-room-7" = "1"
//! ```
//!
//! Steps: `connect = "<socket>"` (expect "accept" or `{ reject = "..." }`), an `event` from
//! `socket`, `tick = N` (on-tick N times), `disconnect = "<socket>"` (with `reason`), and
//! `content = { uid, action, audience, data }` (on-content; expect "pass", "drop" or
//! `{ deliver = { within = [...], data = ... } }`). A step without `expect` or `actions` does
//! not check them.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use super::actions::Action;
use super::bindings::iohost::handler::types::{
    ConnectResult, ContentEvent, ContentResult, Event, EventResult, Payload, SocketInfo, Target,
    User,
};
use super::{CallError, Handler, HandlersConfig, LoadError};
use crate::model::Args;
use crate::store::{Kv, MemoryStore, Space};

#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path} is not a test script: {reason}")]
    Parse { path: String, reason: String },
    #[error("step {step}: {reason}")]
    Step { step: usize, reason: String },
    #[error("the handler does not load: {0}")]
    Load(#[from] LoadError),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// Handler settings over its sidecar's `[config]`.
    #[serde(default)]
    config: serde_json::Map<String, Value>,
    #[serde(default, rename = "socket")]
    sockets: Vec<ScriptSocket>,
    #[serde(rename = "step")]
    steps: Vec<Step>,
    /// Expected KV values at the end (keys not listed are not checked).
    #[serde(default)]
    kv: BTreeMap<String, String>,
    /// Keys expected absent at the end.
    #[serde(default)]
    kv_absent: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptSocket {
    id: String,
    #[serde(default = "root")]
    namespace: String,
    #[serde(default = "public")]
    role: String,
    user: Option<ScriptUser>,
    #[serde(default)]
    rooms: Vec<String>,
    #[serde(default)]
    query: BTreeMap<String, String>,
    /// The handshake's `auth` object.
    #[serde(default)]
    auth: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptUser {
    id: u64,
    username: String,
}

fn root() -> String {
    "/".to_owned()
}

fn public() -> String {
    "public".to_owned()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    connect: Option<String>,
    event: Option<String>,
    socket: Option<String>,
    #[serde(default)]
    args: Vec<Value>,
    tick: Option<u32>,
    disconnect: Option<String>,
    reason: Option<String>,
    content: Option<ScriptContent>,
    expect: Option<Value>,
    actions: Option<Vec<Value>>,
}

/// A content event for `on-content`, as one audience would get it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptContent {
    /// Default `<model>:<action>`, the model being the uid's last part.
    name: Option<String>,
    uid: String,
    action: String,
    #[serde(default = "public")]
    audience: String,
    /// Default the audience's room, `io-role-<audience>`.
    room: Option<String>,
    data: Value,
}

impl ScriptContent {
    fn event(&self) -> ContentEvent {
        let model = self.uid.rsplit('.').next().unwrap_or(&self.uid);
        ContentEvent {
            name: self
                .name
                .clone()
                .unwrap_or_else(|| format!("{model}:{}", self.action)),
            uid: self.uid.clone(),
            action: self.action.clone(),
            audience: self.audience.clone(),
            room: self
                .room
                .clone()
                .unwrap_or_else(|| crate::rooms::role_room(&self.audience)),
            data: self.data.to_string(),
        }
    }
}

/// One step's result, for the report.
pub struct StepResult {
    pub title: String,
    /// `None`: as expected; `Some`: what differed, readable.
    pub failure: Option<String>,
}

pub struct Report {
    pub steps: Vec<StepResult>,
    /// Differences in the KV store at the end.
    pub kv: Vec<String>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.steps.iter().all(|s| s.failure.is_none()) && self.kv.is_empty()
    }
}

pub fn read_script(path: &Path) -> Result<Script, ScriptError> {
    let text = std::fs::read_to_string(path).map_err(|e| ScriptError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    toml::from_str(&text).map_err(|e| ScriptError::Parse {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// Loads handler `name` from `config.dir` (with its sidecar, and the script's config over it)
/// and runs `script` against it.
pub async fn run(
    config: &HandlersConfig,
    name: &str,
    script: &Script,
) -> Result<Report, ScriptError> {
    let kv = Arc::new(MemoryStore::new());
    // Baseline code: a test run compiles once and runs a few calls.
    let overrides = (!script.config.is_empty()).then_some(&script.config);
    let handler = super::load_alone(config, Kv::Memory(kv.clone()), name, overrides, true).await?;
    let mut sockets: BTreeMap<String, ScriptSocket> = script
        .sockets
        .iter()
        .map(|s| (s.id.clone(), s.clone()))
        .collect();
    let mut steps = Vec::new();
    for (i, step) in script.steps.iter().enumerate() {
        let number = i + 1;
        let done = run_step(&handler, &mut sockets, step)
            .await
            .map_err(|reason| ScriptError::Step {
                step: number,
                reason,
            })?;
        steps.push(done);
    }
    let space = Space::of_handler(name, super::kv_quota(&handler.limits));
    let mut kv_failures = Vec::new();
    for (key, expected) in &script.kv {
        let found = kv.get(&space, key).ok().flatten();
        if found.as_deref() != Some(expected.as_str()) {
            kv_failures.push(format!(
                "kv `{key}`: expected {expected:?}, found {}",
                shown(&found)
            ));
        }
    }
    for key in &script.kv_absent {
        let found = kv.get(&space, key).ok().flatten();
        if found.is_some() {
            kv_failures.push(format!(
                "kv `{key}`: expected absent, found {}",
                shown(&found)
            ));
        }
    }
    Ok(Report {
        steps,
        kv: kv_failures,
    })
}

fn shown(value: &Option<String>) -> String {
    value
        .as_ref()
        .map_or("nothing".to_owned(), |v| format!("{v:?}"))
}

/// What a step did, as the script writes expectations.
struct Observed {
    outcome: Value,
    actions: Vec<Action>,
}

async fn run_step(
    handler: &Handler,
    sockets: &mut BTreeMap<String, ScriptSocket>,
    step: &Step,
) -> Result<StepResult, String> {
    let socket_named = |sockets: &BTreeMap<String, ScriptSocket>, id: &str| {
        sockets
            .get(id)
            .cloned()
            .ok_or_else(|| format!("no socket `{id}` in the script (or it disconnected)"))
    };
    let kinds = [
        step.connect.is_some(),
        step.event.is_some(),
        step.tick.is_some(),
        step.disconnect.is_some(),
        step.content.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        return Err(
            "a step is exactly one of `connect`, `event`, `tick`, `disconnect`, `content`".into(),
        );
    }
    let (title, observed) = if let Some(content) = &step.content {
        let event = content.event();
        let (result, actions) = outcome(handler.on_content(&event).await);
        let outcome = match result {
            Ok(ContentResult::Pass) => json!("pass"),
            Ok(ContentResult::Drop) => json!("drop"),
            Ok(ContentResult::Deliver(delivery)) => {
                let mut deliver = serde_json::Map::new();
                if let Some(within) = delivery.within {
                    deliver.insert("within".into(), json!(within));
                }
                if let Some(data) = delivery.data {
                    let data = serde_json::from_str(&data).unwrap_or(Value::String(data));
                    deliver.insert("data".into(), data);
                }
                json!({ "deliver": deliver })
            }
            Err(e) => json!({ "fault": e }),
        };
        let title = format!("content {} for {}", event.name, event.audience);
        (title, Observed { outcome, actions })
    } else if let Some(id) = &step.connect {
        let socket = socket_named(sockets, id)?;
        let observed = match handler.registration.on_connect && handler.serves(&socket.namespace) {
            false => Observed {
                outcome: json!("accept"),
                actions: Vec::new(),
            },
            true => {
                let (result, actions) = outcome(handler.on_connect(&info(&socket)).await);
                let outcome = match result {
                    Ok(ConnectResult::Accept) => json!("accept"),
                    Ok(ConnectResult::Reject(reason)) => json!({ "reject": reason }),
                    Err(e) => json!({ "fault": e }),
                };
                Observed { outcome, actions }
            }
        };
        if observed.outcome != json!("accept") {
            sockets.remove(id);
        }
        (format!("connect {id}"), observed)
    } else if let Some(name) = &step.event {
        let id = step
            .socket
            .as_deref()
            .ok_or("an `event` step needs `socket`")?;
        let socket = socket_named(sockets, id)?;
        let title = format!("event {name} from {id}");
        if !handler.wants_event(&socket.namespace, name) {
            (
                title,
                Observed {
                    outcome: json!("pass"),
                    actions: Vec::new(),
                },
            )
        } else {
            let args: Args = serde_json::from_value(Value::Array(step.args.clone()))
                .map_err(|e| format!("`args`: {e}"))?;
            let event = Event {
                name: name.clone(),
                args: Payload::from_args(&args),
            };
            let (result, actions) = outcome(
                handler
                    .on_event(&Arc::new(info(&socket).into()), &event)
                    .await,
            );
            let outcome = match result {
                Ok(EventResult::Pass) => json!("pass"),
                Ok(EventResult::Handled(None)) => json!("handled"),
                Ok(EventResult::Handled(Some(ack))) => json!({ "ack": payload_json(ack) }),
                Ok(EventResult::Reject(reason)) => json!({ "reject": reason }),
                Err(e) => json!({ "fault": e }),
            };
            (title, Observed { outcome, actions })
        }
    } else if let Some(times) = step.tick {
        let mut all = Vec::new();
        let mut ticked = json!("ticked");
        for _ in 0..times {
            if handler.registration.tick_ms.is_none() {
                ticked = json!({ "fault": "the handler did not ask for ticks (tick-ms)" });
                break;
            }
            let (result, actions) = outcome(handler.on_tick().await);
            all.extend(actions);
            if let Err(e) = result {
                ticked = json!({ "fault": e });
                break;
            }
        }
        (
            format!("tick x{times}"),
            Observed {
                outcome: ticked,
                actions: all,
            },
        )
    } else {
        let id = step.disconnect.as_deref().unwrap_or_default();
        let socket = socket_named(sockets, id)?;
        sockets.remove(id);
        let reason = step
            .reason
            .as_deref()
            .unwrap_or("client namespace disconnect");
        let observed = match handler.registration.on_disconnect && handler.serves(&socket.namespace)
        {
            false => Observed {
                outcome: json!("disconnected"),
                actions: Vec::new(),
            },
            true => {
                let (result, actions) =
                    outcome(handler.on_disconnect(&info(&socket), reason).await);
                let outcome = match result {
                    Ok(()) => json!("disconnected"),
                    Err(e) => json!({ "fault": e }),
                };
                Observed { outcome, actions }
            }
        };
        (format!("disconnect {id}"), observed)
    };
    // Joins and leaves change the scripted sockets' rooms for the next steps.
    for action in &observed.actions {
        apply(sockets, action);
    }
    let actions: Vec<Value> = observed.actions.iter().map(action_json).collect();
    let mut failures = Vec::new();
    if let Some(expected) = &step.expect
        && *expected != observed.outcome
    {
        failures.push(difference("outcome", expected, &observed.outcome));
    }
    if let Some(expected) = &step.actions {
        let expected = Value::Array(expected.clone());
        let actual = Value::Array(actions);
        if expected != actual {
            failures.push(difference("actions", &expected, &actual));
        }
    }
    Ok(StepResult {
        title,
        failure: (!failures.is_empty()).then(|| failures.join("\n")),
    })
}

/// A call's result and actions, with a fault as its message.
fn outcome<T>(result: Result<(T, Vec<Action>), CallError>) -> (Result<T, String>, Vec<Action>) {
    match result {
        Ok((value, actions)) => (Ok(value), actions),
        Err(e) => (Err(e.to_string()), Vec::new()),
    }
}

/// A line diff of the two as pretty JSON: `-` expected, `+` actual, unchanged lines as context.
fn difference(what: &str, expected: &Value, actual: &Value) -> String {
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default() + "\n";
    let (expected, actual) = (pretty(expected), pretty(actual));
    let diff = similar::TextDiff::from_lines(&expected, &actual);
    let mut out = format!("{what} differ (- expected, + actual):\n");
    for change in diff.iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Delete => '-',
            similar::ChangeTag::Insert => '+',
            similar::ChangeTag::Equal => ' ',
        };
        out.push_str(&format!("  {sign} {}", change.value()));
    }
    out.trim_end().to_owned()
}

fn info(socket: &ScriptSocket) -> SocketInfo {
    SocketInfo {
        id: socket.id.clone(),
        namespace: socket.namespace.clone(),
        rooms: socket.rooms.clone(),
        role: socket.role.clone(),
        user: socket.user.as_ref().map(|u| User {
            id: u.id,
            username: u.username.clone(),
        }),
        address: "127.0.0.1:40000".to_owned(),
        query: socket
            .query
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        auth: Value::Object(socket.auth.clone()).to_string(),
    }
}

fn payload_json(payload: Payload) -> Value {
    serde_json::from_str(&payload.json).unwrap_or(Value::Null)
}

fn args_json(args: &Args) -> Value {
    payload_json(Payload::from_args(args))
}

/// An action as a script writes it.
fn action_json(action: &Action) -> Value {
    let in_ns = |mut v: Value, ns: &str| {
        if ns != "/"
            && let Some(fields) = v.as_object_mut()
        {
            fields.insert("namespace".into(), json!(ns));
        }
        v
    };
    let with_except = |mut v: Value, except: &Option<String>| {
        if let (Some(except), Some(fields)) = (except, v.as_object_mut()) {
            fields.insert("except".into(), json!(except));
        }
        v
    };
    match action {
        Action::EmitToSocket {
            ns,
            sid,
            event,
            args,
        } => in_ns(
            json!({ "emit": event, "to": format!("socket:{sid}"), "args": args_json(args) }),
            ns,
        ),
        Action::EmitToRoom {
            ns,
            room,
            event,
            args,
            except,
        } => in_ns(
            with_except(
                json!({ "emit": event, "to": format!("room:{room}"), "args": args_json(args) }),
                except,
            ),
            ns,
        ),
        Action::EmitToNamespace {
            ns,
            event,
            args,
            except,
        } => with_except(
            json!({ "emit": event, "to": format!("namespace:{ns}"), "args": args_json(args) }),
            except,
        ),
        Action::Volatile {
            ns,
            target,
            event,
            args,
            except,
        } => {
            let to = match target {
                Target::Socket(sid) => format!("socket:{sid}"),
                Target::Room(room) => format!("room:{room}"),
                Target::Namespace => format!("namespace:{ns}"),
            };
            let emit =
                json!({ "emit": event, "to": to, "args": args_json(args), "volatile": true });
            in_ns(with_except(emit, except), ns)
        }
        Action::Join { ns, sid, room } => in_ns(json!({ "join": room, "socket": sid }), ns),
        Action::Leave { ns, sid, room } => in_ns(json!({ "leave": room, "socket": sid }), ns),
        Action::Disconnect { ns, sid } => in_ns(json!({ "disconnect": sid }), ns),
    }
}

fn apply(sockets: &mut BTreeMap<String, ScriptSocket>, action: &Action) {
    match action {
        Action::Join { sid, room, .. } => {
            if let Some(s) = sockets.get_mut(sid)
                && !s.rooms.contains(room)
            {
                s.rooms.push(room.clone());
            }
        }
        Action::Leave { sid, room, .. } => {
            if let Some(s) = sockets.get_mut(sid) {
                s.rooms.retain(|r| r != room);
            }
        }
        Action::Disconnect { sid, .. } => {
            sockets.remove(sid);
        }
        _ => {}
    }
}
