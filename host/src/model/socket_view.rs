//! A connected socket as the outside sees it: the HTTP API, the admin page and handlers.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::User;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SocketView {
    /// Socket id, unique per connection and namespace.
    pub id: String,
    pub namespace: String,
    /// The rooms it is in (not its own `io-socket-<id>`, as socket.io leaves out its own id).
    pub rooms: Vec<String>,
    /// Lower-case role: `public` without a token.
    pub role: String,
    pub user: Option<User>,
    /// Remote address of the handshake (`ip:port`).
    pub address: String,
    /// `polling` or `websocket`.
    pub transport: String,
    /// The iohost node it is connected to (its id, as in `/api/v1/stats`' `cluster.nodes`).
    pub node: String,
    /// Handshake query parameters, minus Engine.IO's own and any `token`.
    #[serde(skip)]
    pub query: Vec<(String, String)>,
    /// The handshake `auth` object as JSON text.
    #[serde(skip)]
    pub auth: String,
}
