//! Chat messages for the members of a room: `chat:message {roomId, text}` from a member of
//! `chat-room-<roomId>` reaches every member (the sender too) as
//! `chat:message {id, roomId, text, author: {userId, username}, timestamp}`. The usage guide
//! sends messages through a Strapi controller; this handler lets the demo chat without one.
//!
//! Sidecar `chat-messages.toml`:
//! ```toml
//! [config]
//! room_prefix = "chat-room-"
//! max_length = 500
//! ```

use iohost_guest::{
    Config, Error, Event, Handler, Outcome, Registration, Settings, Socket, emit, kv, now_ms,
};
use serde::Deserialize;
use serde_json::{Value, json};

pub struct ChatMessages;

#[derive(Debug, Deserialize)]
pub struct Message {
    #[serde(rename = "roomId")]
    pub room_id: Value,
    pub text: String,
}

/// The sidecar's `[config]`.
#[derive(Debug, Deserialize)]
#[serde(default)]
struct Chat {
    room_prefix: String,
    max_length: usize,
}

impl Default for Chat {
    fn default() -> Self {
        Self {
            room_prefix: "chat-room-".into(),
            max_length: 500,
        }
    }
}

static CHAT: Settings<Chat> = Settings::new();

/// Checks a message; returns the room id as text and the trimmed text.
pub fn check(message: &Message, max_length: usize) -> Result<(String, String), String> {
    let room_id = match &message.room_id {
        Value::String(s) if !s.is_empty() && s.len() <= 100 => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err("roomId must be a non-empty string or a number".into()),
    };
    let text = message.text.trim();
    let length = text.chars().count();
    if length == 0 || length > max_length {
        return Err(format!("text must have 1 to {max_length} characters"));
    }
    Ok((room_id, text.to_owned()))
}

impl Handler for ChatMessages {
    fn init(config: &Config) -> Result<Registration, String> {
        CHAT.init(config)?;
        Ok(Registration::events(["chat:message"]))
    }

    fn handle_event(socket: &Socket, event: &Event) -> Result<Outcome, Error> {
        let message = event
            .arg::<Message>(0)
            .map_err(|_| "chat:message needs {roomId, text}")?;
        let chat = CHAT.get();
        let (room_id, text) = check(&message, chat.max_length)?;
        let room = format!("{}{room_id}", chat.room_prefix);
        if !socket.in_room(&room) {
            return Err(format!("join {room} before writing in it").into());
        }
        let id = kv::incr("message-id", 1, None).unwrap_or_default();
        let author = match socket.user() {
            Some(user) => json!({ "userId": user.id, "username": user.username }),
            None => json!({ "userId": null, "username": socket.display_name() }),
        };
        let body = json!({ "id": id, "roomId": room_id, "text": text, "author": author, "timestamp": now_ms() });
        emit::to_room(socket.namespace(), &room, "chat:message", &body);
        Ok(Outcome::ack(&json!({ "success": true, "id": id })))
    }
}

iohost_guest::export_handler!(ChatMessages);

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(room_id: Value, text: &str) -> Message {
        Message {
            room_id,
            text: text.into(),
        }
    }

    #[test]
    fn messages_are_checked() {
        assert_eq!(
            check(&msg(json!("lobby"), " hi "), 10),
            Ok(("lobby".into(), "hi".into()))
        );
        assert_eq!(check(&msg(json!(3), "x"), 10), Ok(("3".into(), "x".into())));
        assert!(check(&msg(json!(""), "x"), 10).is_err());
        assert!(check(&msg(json!("r"), "   "), 10).is_err());
        assert!(check(&msg(json!("r"), "12345678901"), 10).is_err());
    }
}
