//! The socket an event came from, and what a handler can do with it.

use serde::Serialize;

use crate::args::one;
use crate::bindings::iohost::handler::sockets;
use crate::bindings::iohost::handler::types::{Payload, SocketInfo};

pub use crate::bindings::iohost::handler::types::User;

/// A connected socket, as it was when the call was made.
#[derive(Debug, Clone)]
pub struct Socket {
    info: SocketInfo,
}

impl From<SocketInfo> for Socket {
    fn from(info: SocketInfo) -> Self {
        Self { info }
    }
}

impl Socket {
    /// Builds a socket, for tests of handler logic.
    pub fn new(info: SocketInfo) -> Self {
        Self { info }
    }

    pub fn id(&self) -> &str {
        &self.info.id
    }

    pub fn namespace(&self) -> &str {
        &self.info.namespace
    }

    pub fn rooms(&self) -> &[String] {
        &self.info.rooms
    }

    pub fn in_room(&self, room: &str) -> bool {
        self.info.rooms.iter().any(|r| r == room)
    }

    /// Lower-case role: `public` for sockets without a token.
    pub fn role(&self) -> &str {
        &self.info.role
    }

    /// The Strapi user, when the socket connected with a user's JWT.
    pub fn user(&self) -> Option<&User> {
        self.info.user.as_ref()
    }

    pub fn address(&self) -> &str {
        &self.info.address
    }

    /// A handshake query parameter.
    pub fn query(&self, key: &str) -> Option<&str> {
        self.info
            .query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The handshake `auth` object (JSON text).
    pub fn auth_json(&self) -> &str {
        &self.info.auth
    }

    /// A name to show for this socket: the Strapi username, else a `name` string from the
    /// handshake auth (trimmed, at most 32 characters), else `guest-` and the socket id's start.
    pub fn display_name(&self) -> String {
        if let Some(user) = &self.info.user {
            return user.username.clone();
        }
        let from_auth = serde_json::from_str::<serde_json::Value>(&self.info.auth)
            .ok()
            .and_then(|auth| {
                auth.get("name")?
                    .as_str()
                    .map(|n| n.trim().chars().take(32).collect::<String>())
            })
            .filter(|n| !n.is_empty());
        from_auth.unwrap_or_else(|| {
            format!("guest-{}", self.info.id.chars().take(6).collect::<String>())
        })
    }

    /// Emit `data` (one argument) to this socket.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) {
        self.emit_payload(event, &one(data));
    }

    /// Emit `data` to this socket as a volatile packet: missed if the client is not ready.
    pub fn emit_volatile<T: Serialize + ?Sized>(&self, event: &str, data: &T) {
        let target = crate::emit::Target::Socket(self.info.id.clone());
        crate::emit::volatile(&self.info.namespace, &target, event, data);
    }

    /// Emit `data` to this socket now and wait up to `timeout_ms` for its ack: `None` when it
    /// gave none in time.
    pub fn emit_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
        timeout_ms: u32,
    ) -> Result<Option<Payload>, crate::Error> {
        let target = crate::emit::Target::Socket(self.info.id.clone());
        let acks = crate::emit::with_ack(&self.info.namespace, &target, event, data, timeout_ms)?;
        Ok(acks.answered.into_iter().next().map(|ack| ack.args))
    }

    /// Emit any arguments (several, binary) to this socket.
    pub fn emit_payload(&self, event: &str, args: &Payload) {
        sockets::emit_to_socket(&self.info.namespace, &self.info.id, event, args);
    }

    /// Emit `data` to everyone in `room` but this socket.
    pub fn broadcast_to_room<T: Serialize + ?Sized>(&self, room: &str, event: &str, data: &T) {
        sockets::emit_to_room(
            &self.info.namespace,
            room,
            event,
            &one(data),
            Some(&self.info.id),
        );
    }

    /// Emit `data` to everyone in the namespace but this socket.
    pub fn broadcast<T: Serialize + ?Sized>(&self, event: &str, data: &T) {
        sockets::emit_to_namespace(&self.info.namespace, event, &one(data), Some(&self.info.id));
    }

    pub fn join(&self, room: &str) {
        sockets::join_room(&self.info.namespace, &self.info.id, room);
    }

    pub fn leave(&self, room: &str) {
        sockets::leave_room(&self.info.namespace, &self.info.id, room);
    }

    pub fn disconnect(&self) {
        sockets::disconnect(&self.info.namespace, &self.info.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket(user: Option<User>, auth: &str) -> Socket {
        Socket::new(SocketInfo {
            id: "AbCdEfGh".into(),
            namespace: "/".into(),
            rooms: vec!["io-role-public".into()],
            role: "public".into(),
            user,
            address: String::new(),
            query: vec![("room".into(), "lobby".into())],
            auth: auth.into(),
        })
    }

    #[test]
    fn display_names() {
        let user = User {
            id: 1,
            username: "ada".into(),
        };
        assert_eq!(socket(Some(user), r#"{"name":"x"}"#).display_name(), "ada");
        assert_eq!(socket(None, r#"{"name":"  Bob "}"#).display_name(), "Bob");
        assert_eq!(
            socket(None, r#"{"name":""}"#).display_name(),
            "guest-AbCdEf"
        );
        assert_eq!(socket(None, "{}").display_name(), "guest-AbCdEf");
    }

    #[test]
    fn rooms_and_query() {
        let s = socket(None, "{}");
        assert!(s.in_room("io-role-public"));
        assert!(!s.in_room("lobby"));
        assert_eq!(s.query("room"), Some("lobby"));
        assert_eq!(s.role(), "public");
    }
}
