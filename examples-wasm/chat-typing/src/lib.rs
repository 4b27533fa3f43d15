//! Typing indicators (the usage guide's chat): `chat:typing {roomId}` from a member of
//! `chat-room-<roomId>` reaches the other members as `chat:typing {username, roomId}`, at most
//! once per `throttle_ms` per socket and room. Non-members are refused.
//!
//! Sidecar `chat-typing.toml`:
//! ```toml
//! [config]
//! room_prefix = "chat-room-"
//! throttle_ms = 1000
//! ```

use std::time::Duration;

use iohost_guest::{Config, Error, Event, Handler, Outcome, Registration, Settings, Socket, kv};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub struct ChatTyping;

/// The sidecar's `[config]`.
#[derive(Debug, Deserialize)]
#[serde(default)]
struct Typing {
    room_prefix: String,
    throttle_ms: u64,
}

impl Default for Typing {
    fn default() -> Self {
        Self {
            room_prefix: "chat-room-".into(),
            throttle_ms: 1_000,
        }
    }
}

static TYPING: Settings<Typing> = Settings::new();

/// The ack: `{"success": true}`, with `"throttled": true` when no one was told. A struct,
/// written straight out (a `json!` map is built first, then written: ~5% of an event).
#[derive(Serialize)]
struct Ack {
    success: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    throttled: bool,
}

impl Ack {
    const SENT: Self = Self {
        success: true,
        throttled: false,
    };
    const THROTTLED: Self = Self {
        success: true,
        throttled: true,
    };
}

/// The room id of a `chat:typing` argument: `{roomId: "7"}` or `{roomId: 7}`.
pub fn room_id(arg: Option<&Value>) -> Option<String> {
    match arg?.get("roomId")? {
        Value::String(s) if !s.is_empty() && s.len() <= 100 => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Handler for ChatTyping {
    fn init(config: &Config) -> Result<Registration, String> {
        TYPING.init(config)?;
        Ok(Registration::events(["chat:typing"]))
    }

    fn handle_event(socket: &Socket, event: &Event) -> Result<Outcome, Error> {
        let id = room_id(event.json(0)).ok_or("chat:typing needs {roomId}")?;
        let typing = TYPING.get();
        // Joined, not `format!`: its formatting machinery was ~5% of an event.
        let room = [typing.room_prefix.as_str(), &id].concat();
        if !socket.in_room(&room) {
            return Err(format!("join {room} before typing in it").into());
        }
        // The first event in each throttle window wins the key; the rest are dropped quietly.
        // A socket's id is unique across namespaces (socketioxide draws a random one for each).
        let key = ["typing:", socket.id(), ":", &room].concat();
        let window = Some(Duration::from_millis(typing.throttle_ms));
        if !kv::compare_and_set(&key, None, "1", window)? {
            return Ok(Outcome::ack(&Ack::THROTTLED));
        }
        let typed = json!({ "username": socket.display_name(), "roomId": id });
        socket.broadcast_to_room(&room, "chat:typing", &typed);
        Ok(Outcome::ack(&Ack::SENT))
    }
}

iohost_guest::export_handler!(ChatTyping);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_ids_are_strings_or_numbers() {
        assert_eq!(
            room_id(Some(&json!({"roomId": "lobby"}))),
            Some("lobby".into())
        );
        assert_eq!(room_id(Some(&json!({"roomId": 7}))), Some("7".into()));
        assert_eq!(room_id(Some(&json!({"roomId": ""}))), None);
        assert_eq!(room_id(Some(&json!({"room": "x"}))), None);
        assert_eq!(room_id(Some(&json!("lobby"))), None);
        assert_eq!(room_id(None), None);
    }
}
