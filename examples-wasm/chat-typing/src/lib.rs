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

use iohost_guest::{Config, Event, Handler, Outcome, Registration, Socket, config, kv};
use serde_json::{Value, json};

pub struct ChatTyping;

/// The room id of a `chat:typing` argument: `{roomId: "7"}` or `{roomId: 7}`.
pub fn room_id(arg: Option<&Value>) -> Option<String> {
    match arg?.get("roomId")? {
        Value::String(s) if !s.is_empty() && s.len() <= 100 => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Handler for ChatTyping {
    fn init(_config: &Config) -> Result<Registration, String> {
        Ok(Registration::events(["chat:typing"]))
    }

    fn on_event(socket: &Socket, event: &Event) -> Outcome {
        let Some(id) = room_id(event.json(0)) else {
            return Outcome::reject("chat:typing needs {roomId}");
        };
        let prefix: String = config().get_or("room_prefix", "chat-room-".to_owned());
        let room = format!("{prefix}{id}");
        if !socket.in_room(&room) {
            return Outcome::reject(format!("join {room} before typing in it"));
        }
        let throttle = Duration::from_millis(config().get_or("throttle_ms", 1_000u64));
        let key = format!("typing:{}:{}:{room}", socket.namespace(), socket.id());
        // The first event in each throttle window wins the key; the rest are dropped quietly.
        match kv::compare_and_set(&key, None, "1", Some(throttle)) {
            Ok(true) => {
                socket.broadcast_to_room(
                    &room,
                    "chat:typing",
                    &json!({ "username": socket.display_name(), "roomId": id }),
                );
                Outcome::ack(&json!({ "success": true }))
            }
            Ok(false) => Outcome::ack(&json!({ "success": true, "throttled": true })),
            Err(e) => Outcome::reject(format!("typing unavailable: {e:?}")),
        }
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
