//! A connected socket as the outside sees it: the HTTP API, the admin page and handlers.

use serde::Serialize;
use utoipa::ToSchema;

use super::User;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SocketView {
    /// Socket id, unique per connection and namespace.
    pub id: String,
    pub namespace: String,
    pub rooms: Vec<String>,
    /// Lower-case role: `public` without a token.
    pub role: String,
    pub user: Option<User>,
    /// Remote address of the handshake (`ip:port`).
    pub address: String,
    /// `polling` or `websocket`.
    pub transport: String,
    /// Handshake query parameters, minus Engine.IO's own and any `token`.
    #[serde(skip)]
    pub query: Vec<(String, String)>,
    /// The handshake `auth` object as JSON text.
    #[serde(skip)]
    pub auth: String,
}
