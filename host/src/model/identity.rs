//! Who is behind a socket. Set once when the socket connects and kept in its extensions.

use serde::{Deserialize, Serialize};

/// The role every socket without a token gets, as in Strapi's users-permissions.
pub const PUBLIC_ROLE: &str = "public";

/// The role users-permissions gives every new user; a user's role when it cannot be read and
/// Strapi has no other (see [`UNKNOWN_ROLE`]).
pub const AUTHENTICATED_ROLE: &str = "authenticated";

/// The role of a user whose real role iohost cannot read (no `strapi.api_token`: the user's own
/// `/api/users/me` does not show it) while Strapi has roles besides Public and Authenticated:
/// no content event goes to it. The parentheses keep it apart from every Strapi role type.
pub const UNKNOWN_ROLE: &str = "(unknown)";

/// The role of a socket that connected with a Strapi API token is `token:<name>` (name in lower
/// case, spaces as `-`): it can be named in access rules, the permission matrix and field rules
/// like any role.
pub const TOKEN_ROLE_PREFIX: &str = "token:";

/// A Strapi end user, as much as clients and handlers may see of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    pub id: u64,
    pub username: String,
}

/// The identity a socket connected with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// Lower-case role type, e.g. `public` or `authenticated`; `token:<name>` for API tokens.
    pub role: String,
    /// The user, when the socket connected with a users-permissions JWT.
    pub user: Option<User>,
}

impl Identity {
    /// A socket that brought no token.
    pub fn public() -> Self {
        Self {
            role: PUBLIC_ROLE.to_owned(),
            user: None,
        }
    }

    /// A socket that connected with the API token named `name`.
    pub fn token(name: &str) -> Self {
        Self {
            role: format!("{TOKEN_ROLE_PREFIX}{name}"),
            user: None,
        }
    }
}

/// The auth object the client sent with its CONNECT packet (`{}` when it sent none).
#[derive(Debug, Clone)]
pub struct Handshake(pub serde_json::Value);

/// Rides on the head of the request that opened an Engine.IO session, which socketioxide keeps
/// for the socket's whole life: who opened the session, worked out once as the request came in
/// (the kept head holds none of the headers a trusted proxy named the client in), and whether
/// the session has asked to join a namespace yet.
#[derive(Debug, Clone)]
pub struct SessionOpening {
    pub client: Option<ClientAddress>,
    joined: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl SessionOpening {
    pub fn new(client: Option<ClientAddress>) -> Self {
        Self {
            client,
            joined: std::sync::Arc::default(),
        }
    }

    /// True the first time only: the session stops counting as one that waits to join a
    /// namespace the first time it asks to join one, however many namespaces it asks for after.
    pub fn first_join(&self) -> bool {
        !self.joined.swap(true, std::sync::atomic::Ordering::AcqRel)
    }
}

/// Where a socket's client connects from: the peer's address and port, or the address a
/// trusted proxy forwarded (no port then).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress {
    pub ip: std::net::IpAddr,
    pub port: Option<u16>,
}

impl ClientAddress {
    /// The client `ip` of a connection from `peer`: the peer itself (with its port) unless a
    /// trusted proxy forwarded another address.
    pub fn of(peer: std::net::SocketAddr, ip: std::net::IpAddr) -> Self {
        Self {
            ip,
            port: (ip == peer.ip().to_canonical()).then_some(peer.port()),
        }
    }
}

impl std::fmt::Display for ClientAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}", std::net::SocketAddr::new(self.ip, port)),
            None => write!(f, "{}", self.ip),
        }
    }
}
