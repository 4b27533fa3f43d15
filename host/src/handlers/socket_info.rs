//! What a handler is told about a socket (the WIT `socket-info`), and the socket an event
//! call is for ([`CallSocket`]).

use std::sync::{Arc, OnceLock};

use crate::cluster::SocketRef;

use super::bindings::iohost::handler::types::{SocketInfo, User};
use crate::sockets::directory::Member;
use crate::sockets::{SocketFacts, facts, rooms};

/// The socket an event's calls are for. Handlers of 0.1.2 read it field by field through a
/// `socket` handle, so a live socket's fields come from its facts (made once per socket) as
/// they are asked for, and its rooms are listed on first read (the chain lists them before
/// any handler's joins or leaves take effect); the whole [`SocketInfo`] is made only for
/// handlers of earlier worlds, which take it as a parameter. One value serves one event:
/// [`Self::renewed`] makes the next one's.
pub enum CallSocket {
    Live {
        socket: SocketRef,
        facts: Arc<SocketFacts>,
        /// Listed once per event, on first read: its calls see one list, as with `socket-info`.
        rooms: OnceLock<Vec<String>>,
        info: OnceLock<SocketInfo>,
    },
    /// A socket described in full (tests, benchmarks, `iohost handlers test`).
    Given(SocketInfo),
}

/// Who a call acted for, for the reserved-room checks of its actions.
#[derive(Debug, Clone, Copy)]
pub struct Acting<'a> {
    pub id: &'a str,
    pub namespace: &'a str,
    pub user: Option<u64>,
}

impl<'a> From<&'a SocketInfo> for Acting<'a> {
    fn from(info: &'a SocketInfo) -> Self {
        Self {
            id: &info.id,
            namespace: &info.namespace,
            user: info.user.as_ref().map(|u| u.id),
        }
    }
}

impl From<SocketInfo> for CallSocket {
    fn from(info: SocketInfo) -> Self {
        Self::Given(info)
    }
}

impl CallSocket {
    pub fn live(socket: &SocketRef) -> Self {
        Self::Live {
            socket: socket.clone(),
            facts: facts(socket),
            rooms: OnceLock::new(),
            info: OnceLock::new(),
        }
    }

    /// The same socket for another event: its rooms are listed again when asked.
    pub fn renewed(&self) -> Self {
        match self {
            Self::Live { socket, facts, .. } => Self::Live {
                socket: socket.clone(),
                facts: facts.clone(),
                rooms: OnceLock::new(),
                info: OnceLock::new(),
            },
            Self::Given(info) => Self::Given(info.clone()),
        }
    }

    /// The whole `socket-info`, made on first use.
    pub fn info(&self) -> &SocketInfo {
        match self {
            Self::Live { facts, info, .. } => {
                info.get_or_init(|| info_from(facts, self.rooms().to_vec()))
            }
            Self::Given(info) => info,
        }
    }

    pub fn acting(&self) -> Acting<'_> {
        match self {
            Self::Live { facts, .. } => Acting {
                id: &facts.id,
                namespace: &facts.namespace,
                user: facts.user.as_ref().map(|u| u.id),
            },
            Self::Given(info) => info.into(),
        }
    }

    pub fn id(&self) -> &str {
        self.field(|f| &f.id, |i| &i.id)
    }

    pub fn namespace(&self) -> &str {
        self.field(|f| &f.namespace, |i| &i.namespace)
    }

    pub fn role(&self) -> &str {
        self.field(|f| &f.role, |i| &i.role)
    }

    pub fn address(&self) -> &str {
        self.field(|f| &f.address, |i| &i.address)
    }

    pub fn auth(&self) -> &str {
        self.field(|f| &f.auth, |i| &i.auth)
    }

    pub fn query(&self) -> &[(String, String)] {
        match self {
            Self::Live { facts, .. } => &facts.query,
            Self::Given(info) => &info.query,
        }
    }

    pub fn user(&self) -> Option<User> {
        match self {
            Self::Live { facts, .. } => facts.user.as_ref().map(|u| User {
                id: u.id,
                username: u.username.clone(),
            }),
            Self::Given(info) => info.user.clone(),
        }
    }

    pub fn rooms(&self) -> &[String] {
        match self {
            Self::Live { socket, rooms, .. } => rooms.get_or_init(|| crate::sockets::rooms(socket)),
            Self::Given(info) => &info.rooms,
        }
    }

    fn field<'s>(
        &'s self,
        live: impl Fn(&'s SocketFacts) -> &'s String,
        given: impl Fn(&'s SocketInfo) -> &'s String,
    ) -> &'s str {
        match self {
            Self::Live { facts, .. } => live(facts),
            Self::Given(info) => given(info),
        }
    }
}

pub fn socket_info(socket: &SocketRef) -> SocketInfo {
    info_from(&facts(socket), rooms(socket))
}

fn info_from(facts: &SocketFacts, rooms: Vec<String>) -> SocketInfo {
    SocketInfo {
        id: facts.id.clone(),
        namespace: facts.namespace.clone(),
        rooms,
        role: facts.role.clone(),
        user: facts.user.as_ref().map(|u| User {
            id: u.id,
            username: u.username.clone(),
        }),
        address: facts.address.clone(),
        query: facts.query.clone(),
        auth: facts.auth.clone(),
    }
}

/// What a handler is told about a socket another query listed (on any node). Its `auth` is
/// left out: only the socket a call is for shows its own.
pub fn member_info(member: Member) -> SocketInfo {
    let view = member.view;
    SocketInfo {
        id: view.id,
        namespace: view.namespace,
        rooms: view.rooms,
        role: view.role,
        user: view.user.map(|u| User {
            id: u.id,
            username: u.username,
        }),
        address: view.address,
        query: member.query,
        auth: "{}".to_owned(),
    }
}
