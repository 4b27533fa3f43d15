//! Who is behind a socket. Set once when the socket connects and kept in its extensions.

use serde::Serialize;

/// The role every socket without a token gets, as in Strapi's users-permissions.
pub const PUBLIC_ROLE: &str = "public";

/// A Strapi end user, as much as clients and handlers may see of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: u64,
    pub username: String,
}

/// The identity a socket connected with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// Lower-case role type, e.g. `public` or `authenticated`.
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

    /// The room every socket of this role is in: `io-role-<role>`.
    pub fn role_room(&self) -> String {
        format!("{}{}", crate::rooms::ROLE_ROOM_PREFIX, self.role)
    }
}

/// The auth object the client sent with its CONNECT packet (`{}` when it sent none).
#[derive(Debug, Clone)]
pub struct Handshake(pub serde_json::Value);
