//! The socket an event came from, and what a handler can do with it.

use std::mem::ManuallyDrop;
use std::sync::OnceLock;

use serde::Serialize;

use crate::args::one;
use crate::bindings::iohost::handler::sockets;
use crate::bindings::iohost::handler::types::{self as wit, Payload, SocketInfo};

pub use crate::bindings::iohost::handler::types::User;

/// A connected socket, as it was when the call was made. A clone is a full copy: it may be
/// kept past the call (the socket it was, not whichever a later call is for).
#[derive(Debug)]
pub struct Socket {
    source: Source,
}

#[derive(Debug)]
enum Source {
    /// All of it at once (`on-connect`, `on-disconnect`, hosts before 0.1.2).
    Info(SocketInfo),
    /// A handle lent for one `on-socket-event` call: each field is asked for the first time it
    /// is read, so an event pays only for what its handler reads.
    Handle(Lazy),
}

#[derive(Debug)]
struct Lazy {
    handle: u32,
    id: OnceLock<String>,
    namespace: OnceLock<String>,
    rooms: OnceLock<Vec<String>>,
    role: OnceLock<String>,
    user: OnceLock<Option<User>>,
    address: OnceLock<String>,
    query: OnceLock<Vec<(String, String)>>,
    auth: OnceLock<String>,
}

impl Lazy {
    fn new(socket: &wit::Socket) -> Self {
        Self {
            handle: socket.handle(),
            id: OnceLock::new(),
            namespace: OnceLock::new(),
            rooms: OnceLock::new(),
            role: OnceLock::new(),
            user: OnceLock::new(),
            address: OnceLock::new(),
            query: OnceLock::new(),
            auth: OnceLock::new(),
        }
    }

    /// The borrowed handle, never dropped here: the host ends the borrow with the call.
    #[allow(unsafe_code)]
    fn socket(&self) -> ManuallyDrop<wit::Socket> {
        // SAFETY: `handle` came from the `wit::Socket` the host lent for this call, and
        // `ManuallyDrop` keeps this copy from giving it back. A `Lazy` lives only as long as
        // the call's `Socket`, which user code gets by reference; a clone copies every field
        // out instead of the handle (see `Clone for Socket`).
        ManuallyDrop::new(unsafe { wit::Socket::from_handle(self.handle) })
    }

    fn read<'a, T>(&self, cell: &'a OnceLock<T>, field: impl FnOnce(&wit::Socket) -> T) -> &'a T {
        cell.get_or_init(|| field(&self.socket()))
    }
}

impl Clone for Socket {
    /// Every field, read now: a handle is good for its own call only, and a later call's
    /// handle may have the same number.
    fn clone(&self) -> Self {
        Self::new(SocketInfo {
            id: self.id().to_owned(),
            namespace: self.namespace().to_owned(),
            rooms: self.rooms().to_vec(),
            role: self.role().to_owned(),
            user: self.user().cloned(),
            address: self.address().to_owned(),
            query: self.query_pairs().to_vec(),
            auth: self.auth_json().to_owned(),
        })
    }
}

impl From<SocketInfo> for Socket {
    fn from(info: SocketInfo) -> Self {
        Self::new(info)
    }
}

impl Socket {
    /// Builds a socket, for tests of handler logic.
    pub fn new(info: SocketInfo) -> Self {
        Self {
            source: Source::Info(info),
        }
    }

    /// The socket behind a handle the host lent for this call.
    pub(crate) fn borrowed(socket: &wit::Socket) -> Self {
        Self {
            source: Source::Handle(Lazy::new(socket)),
        }
    }

    pub fn id(&self) -> &str {
        match &self.source {
            Source::Info(info) => &info.id,
            Source::Handle(lazy) => lazy.read(&lazy.id, wit::Socket::id).as_str(),
        }
    }

    pub fn namespace(&self) -> &str {
        match &self.source {
            Source::Info(info) => &info.namespace,
            Source::Handle(lazy) => lazy.read(&lazy.namespace, wit::Socket::namespace).as_str(),
        }
    }

    pub fn rooms(&self) -> &[String] {
        match &self.source {
            Source::Info(info) => &info.rooms,
            Source::Handle(lazy) => lazy.read(&lazy.rooms, wit::Socket::rooms).as_slice(),
        }
    }

    pub fn in_room(&self, room: &str) -> bool {
        match &self.source {
            Source::Handle(lazy) if lazy.rooms.get().is_none() => lazy.socket().in_room(room),
            _ => self.rooms().iter().any(|r| r == room),
        }
    }

    /// Lower-case role: `public` for sockets without a token.
    pub fn role(&self) -> &str {
        match &self.source {
            Source::Info(info) => &info.role,
            Source::Handle(lazy) => lazy.read(&lazy.role, wit::Socket::role).as_str(),
        }
    }

    /// The Strapi user, when the socket connected with a user's JWT.
    pub fn user(&self) -> Option<&User> {
        match &self.source {
            Source::Info(info) => info.user.as_ref(),
            Source::Handle(lazy) => lazy.read(&lazy.user, wit::Socket::user).as_ref(),
        }
    }

    pub fn address(&self) -> &str {
        match &self.source {
            Source::Info(info) => &info.address,
            Source::Handle(lazy) => lazy.read(&lazy.address, wit::Socket::address).as_str(),
        }
    }

    /// A handshake query parameter.
    pub fn query(&self, key: &str) -> Option<&str> {
        self.query_pairs()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every handshake query parameter, in order.
    pub fn query_pairs(&self) -> &[(String, String)] {
        match &self.source {
            Source::Info(info) => &info.query,
            Source::Handle(lazy) => lazy.read(&lazy.query, wit::Socket::query).as_slice(),
        }
    }

    /// The handshake `auth` object (JSON text).
    pub fn auth_json(&self) -> &str {
        match &self.source {
            Source::Info(info) => &info.auth,
            Source::Handle(lazy) => lazy.read(&lazy.auth, wit::Socket::auth).as_str(),
        }
    }

    /// A name to show for this socket: the Strapi username, else a `name` string from the
    /// handshake auth (trimmed, at most 32 characters), else `guest-` and the socket id's start.
    pub fn display_name(&self) -> String {
        if let Some(user) = self.user() {
            return user.username.clone();
        }
        let from_auth = serde_json::from_str::<serde_json::Value>(self.auth_json())
            .ok()
            .and_then(|auth| {
                auth.get("name")?
                    .as_str()
                    .map(|n| n.trim().chars().take(32).collect::<String>())
            })
            .filter(|n| !n.is_empty());
        from_auth
            .unwrap_or_else(|| format!("guest-{}", self.id().chars().take(6).collect::<String>()))
    }

    /// Emit `data` (one argument) to this socket.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) {
        self.emit_payload(event, &one(data));
    }

    /// Emit `data` to this socket as a volatile packet: missed if the client is not ready.
    pub fn emit_volatile<T: Serialize + ?Sized>(&self, event: &str, data: &T) {
        let target = crate::emit::Target::Socket(self.id().to_owned());
        crate::emit::volatile(self.namespace(), &target, event, data);
    }

    /// Emit `data` to this socket now and wait up to `timeout_ms` for its ack: `None` when it
    /// gave none in time.
    pub fn emit_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
        timeout_ms: u32,
    ) -> Result<Option<Payload>, crate::Error> {
        let target = crate::emit::Target::Socket(self.id().to_owned());
        let acks = crate::emit::with_ack(self.namespace(), &target, event, data, timeout_ms)?;
        Ok(acks.answered.into_iter().next().map(|ack| ack.args))
    }

    /// Emit any arguments (several, binary) to this socket.
    pub fn emit_payload(&self, event: &str, args: &Payload) {
        sockets::emit_to_socket(self.namespace(), self.id(), event, args);
    }

    /// Emit `data` to everyone in `room` but this socket.
    pub fn broadcast_to_room<T: Serialize + ?Sized>(&self, room: &str, event: &str, data: &T) {
        sockets::emit_to_room(self.namespace(), room, event, &one(data), Some(self.id()));
    }

    /// Emit `data` to everyone in the namespace but this socket.
    pub fn broadcast<T: Serialize + ?Sized>(&self, event: &str, data: &T) {
        sockets::emit_to_namespace(self.namespace(), event, &one(data), Some(self.id()));
    }

    pub fn join(&self, room: &str) {
        sockets::join_room(self.namespace(), self.id(), room);
    }

    pub fn leave(&self, room: &str) {
        sockets::leave_room(self.namespace(), self.id(), room);
    }

    pub fn disconnect(&self) {
        sockets::disconnect(self.namespace(), self.id());
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
