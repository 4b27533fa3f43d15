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
    /// When it connected, in ms since the Unix epoch.
    pub connected_at: u64,
    /// Handshake query parameters, minus Engine.IO's own and any `token` (a repeated name
    /// shows its last value).
    #[serde(with = "query_map")]
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub query: Vec<(String, String)>,
    /// The handshake `auth` object as JSON text.
    #[serde(skip)]
    pub auth: String,
}

/// The query as a JSON object, as socket.io's `handshake.query`.
mod query_map {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(query: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(
            query
                .iter()
                .map(|(k, v)| (k, v))
                .collect::<BTreeMap<_, _>>(),
        )
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
        Ok(BTreeMap::<String, String>::deserialize(d)?
            .into_iter()
            .collect())
    }
}
