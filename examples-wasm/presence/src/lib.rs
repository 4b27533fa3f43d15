//! Presence (the usage guide's pattern 1): who is online, correct when a user has several
//! sockets (tabs, devices).
//!
//! - A user's first socket connecting broadcasts `friend:online {userId, username}` to the
//!   namespace; their last socket leaving broadcasts `friend:offline {userId, username}`.
//! - `user:online` (with an ack) answers `{success: true, online: [{userId, username}]}`.
//! - `presence:join (room)` / `presence:leave (room)` join or leave a room under `room_prefix`
//!   and send every member `presence:list {room, users}`; members leaving by disconnecting
//!   update it too. `presence:list (room)` acks the list.
//!
//! Users are Strapi users (`userId` = their id) or, without a token, guests named by the
//! handshake `auth.name` (`userId` = `guest:<name>`). A handler sees only its own caller's
//! handshake, so each guest's name is kept in KV when it connects (for a day at most), where
//! the member lists find it. Counts live in KV too, so they survive handler reloads.
//!
//! With `update_strapi = true` a Strapi user's `isOnline` and `lastSeen` follow too (the usage
//! guide's `PUT /api/users/:id`), through the `strapi` import: the operator must grant it
//! (`[handlers.strapi] allow = ["presence"]`) and the user type must have those two fields.
//!
//! Sidecar `presence.toml`:
//! ```toml
//! [config]
//! room_prefix = "chat-room-"
//! update_strapi = false
//! ```

use std::collections::BTreeMap;

use iohost_guest::{
    Config, Connect, Event, Handler, Outcome, Registration, Settings, Socket, emit, kv, strapi,
};
use serde_json::{Value, json};

pub struct Presence;

/// The sidecar's `[config]`.
#[derive(Debug, serde::Deserialize)]
#[serde(default)]
struct Options {
    room_prefix: String,
    update_strapi: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            room_prefix: "chat-room-".into(),
            update_strapi: false,
        }
    }
}

static PRESENCE: Settings<Options> = Settings::new();

/// A room's member list, as `presence:list` sends it to the room.
#[derive(serde::Serialize)]
struct Members<'a> {
    room: &'a str,
    users: &'a [Value],
}

/// The ack of `presence:join`, `presence:leave` and `presence:list`: the list the room got.
/// A struct rather than `json!`: serialised as it is, with no map of copied keys to build.
#[derive(serde::Serialize)]
struct MembersAck<'a> {
    success: bool,
    room: &'a str,
    users: &'a [Value],
}

/// How long a guest's name is kept for other sockets' member lists.
const GUEST_NAME_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);

fn guest_key(socket: &Socket) -> String {
    format!("guest:{}", socket.id())
}

/// Who a socket belongs to: `(userId, username)`. A guest's name is the one kept when it
/// connected (another socket's handshake is not visible here), else its own handshake's.
pub fn person(socket: &Socket) -> (Value, String) {
    match socket.user() {
        Some(user) => (json!(user.id), user.username.clone()),
        None => {
            let name = kv::get(&guest_key(socket))
                .ok()
                .flatten()
                .unwrap_or_else(|| socket.display_name());
            (json!(format!("guest:{name}")), name)
        }
    }
}

fn online_key(socket: &Socket) -> String {
    format!("online:{}:{}", socket.namespace(), person(socket).0)
}

/// The distinct people among `sockets`, except socket `leaving`, sorted by name.
pub fn people(sockets: &[Socket], leaving: Option<&str>) -> Vec<Value> {
    let mut by_id = BTreeMap::new();
    for s in sockets.iter().filter(|s| Some(s.id()) != leaving) {
        let (id, name) = person(s);
        by_id.insert(id.to_string(), (name, id));
    }
    let mut list: Vec<(String, Value)> = by_id.into_values().collect();
    list.sort_by(|a, b| a.0.cmp(&b.0));
    list.into_iter()
        .map(|(username, id)| json!({ "userId": id, "username": username }))
        .collect()
}

fn room_arg(event: &Event) -> Result<String, String> {
    let prefix = &PRESENCE.get().room_prefix;
    let room = event.json(0).and_then(Value::as_str).unwrap_or_default();
    let valid = room.starts_with(prefix.as_str())
        && room.len() <= 128
        && room
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(room.to_owned())
    } else {
        Err(format!(
            "presence rooms are named {prefix}<letters, digits, - or _>"
        ))
    }
}

/// Sends the room's member list to the room; `joining` is counted in (its join is carried out
/// just before this emit), `leaving` is counted out.
fn publish(socket: &Socket, room: &str, joining: bool, leaving: bool) -> Vec<Value> {
    let mut sockets = emit::sockets_in_room(socket.namespace(), room);
    if joining && !sockets.iter().any(|s| s.id() == socket.id()) {
        sockets.push(socket.clone());
    }
    let users = people(&sockets, leaving.then(|| socket.id()));
    emit::to_room(
        socket.namespace(),
        room,
        "presence:list",
        &Members {
            room,
            users: &users,
        },
    );
    users
}

fn online_people(namespace: &str) -> Vec<Value> {
    let prefix = format!("online:{namespace}:");
    let mut list: Vec<Value> = kv::keys(&prefix)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|key| {
            let id: Value = serde_json::from_str(&key[prefix.len()..]).ok()?;
            let name = kv::get(&format!("name:{id}")).ok().flatten()?;
            Some(json!({ "userId": id, "username": name }))
        })
        .collect();
    list.sort_by(|a, b| a["username"].as_str().cmp(&b["username"].as_str()));
    list
}

/// Sets a Strapi user's `isOnline` and `lastSeen` (sent after the call; not waited for).
fn update_strapi(socket: &Socket, online: bool) {
    let Some(user) = socket.user() else { return };
    if !PRESENCE.get().update_strapi {
        return;
    }
    let now = std::time::UNIX_EPOCH + std::time::Duration::from_millis(iohost_guest::now_ms());
    let body = json!({
        "isOnline": online,
        "lastSeen": humantime::format_rfc3339_millis(now).to_string(),
    });
    if let Err(e) = strapi::send_json("PUT", &format!("/api/users/{}", user.id), &body) {
        iohost_guest::warn!("cannot update user {} in Strapi: {e}", user.id);
    }
}

impl Handler for Presence {
    fn init(config: &Config) -> Result<Registration, String> {
        PRESENCE.init(config)?;
        Ok(Registration::events([
            "user:online",
            "presence:join",
            "presence:leave",
            "presence:list",
        ])
        .on_connect()
        .on_disconnect())
    }

    fn on_connect(socket: &Socket) -> Connect {
        let (id, name) = person(socket);
        if socket.user().is_none() {
            let _ = kv::set(&guest_key(socket), &name, Some(GUEST_NAME_TTL));
        }
        let _ = kv::set(&format!("name:{id}"), &name, None);
        if let Ok(1) = kv::incr(&online_key(socket), 1, None) {
            socket.broadcast("friend:online", &json!({ "userId": id, "username": name }));
            update_strapi(socket, true);
        }
        Connect::Accept
    }

    fn on_disconnect(socket: &Socket, _reason: &str) {
        let prefix = &PRESENCE.get().room_prefix;
        for room in socket
            .rooms()
            .iter()
            .filter(|r| r.starts_with(prefix.as_str()))
        {
            publish(socket, room, false, true);
        }
        let key = online_key(socket);
        if let Ok(left) = kv::incr(&key, -1, None)
            && left <= 0
        {
            let _ = kv::delete(&key);
            let (id, name) = person(socket);
            emit::to_namespace(
                socket.namespace(),
                "friend:offline",
                &json!({ "userId": id, "username": name }),
            );
            update_strapi(socket, false);
        }
        let _ = kv::delete(&guest_key(socket));
    }

    fn on_event(socket: &Socket, event: &Event) -> Outcome {
        match event.name() {
            "user:online" => Outcome::ack(
                &json!({ "success": true, "online": online_people(socket.namespace()) }),
            ),
            name => {
                let room = match room_arg(event) {
                    Ok(room) => room,
                    Err(e) => return Outcome::reject(e),
                };
                let users = match name {
                    "presence:join" => {
                        socket.join(&room);
                        publish(socket, &room, true, false)
                    }
                    "presence:leave" => {
                        socket.leave(&room);
                        publish(socket, &room, false, true)
                    }
                    _ => people(&emit::sockets_in_room(socket.namespace(), &room), None),
                };
                Outcome::ack(&MembersAck {
                    success: true,
                    room: &room,
                    users: &users,
                })
            }
        }
    }
}

iohost_guest::export_handler!(Presence);
