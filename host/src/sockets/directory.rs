//! Every node's sockets, from any node: the list (with its room filter), whether sockets are
//! connected anywhere, actions on a socket another node holds, and the counts of `/stats`.
//! This node answers for its own sockets at once; the others answer over the cluster's
//! [`Exchange`] within `cluster.request_timeout_ms`. Every result carries its [`Coverage`], so
//! an answer that misses a node says so instead of passing for the whole cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{SOCKET_ROOM_PREFIX, find, identity_of, socket_view};
use crate::cluster::{Backplane, Exchange, Gathered, Io, SocketRef};
use crate::config::ClusterConfig;
use crate::model::SocketView;

/// A socket as its node describes it: its view, and its query (which handlers are told, and
/// views leave out).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Member {
    pub view: SocketView,
    pub query: Vec<(String, String)>,
}

/// What one node asks the others.
#[derive(Debug, Serialize, Deserialize)]
pub enum Question {
    /// Its sockets of namespace `ns` (of all namespaces when `None`), only those in `room` when
    /// set.
    List {
        ns: Option<String>,
        room: Option<String>,
    },
    /// Which of `ids` it holds in `ns`.
    Locate { ns: String, ids: Vec<String> },
    /// `act` on socket `id` of `ns`, if it holds it.
    Act { ns: String, id: String, act: Act },
    /// Its sockets, roles and room members, per namespace.
    Count,
}

/// An action on one socket.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Act {
    Join(String),
    Leave(String),
    Disconnect,
}

/// What a node answers, one variant per [`Question`].
#[derive(Debug, Serialize, Deserialize)]
pub enum Answer {
    List(Vec<Member>),
    Located(Vec<String>),
    Acted(bool),
    Counted(Vec<NamespaceCount>),
}

/// One namespace's figures.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NamespaceCount {
    pub name: String,
    pub sockets: usize,
    /// Sockets per role.
    pub roles: BTreeMap<String, usize>,
    /// Members per room (sockets' own rooms left out).
    pub rooms: BTreeMap<String, usize>,
}

/// How much of the cluster an answer covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Coverage {
    /// Nodes that should have answered, this one included.
    pub nodes: usize,
    /// Nodes that answered in time, this one included.
    pub answered: usize,
    /// Every node answered (false also while Redis is unreachable: nobody could be asked).
    pub complete: bool,
}

impl<A> From<&Gathered<A>> for Coverage {
    fn from(gathered: &Gathered<A>) -> Self {
        Self {
            nodes: gathered.nodes(),
            answered: gathered.answered(),
            complete: gathered.complete(),
        }
    }
}

/// Sockets of every node.
#[derive(Debug)]
pub struct Listed {
    /// Sorted by namespace, then id.
    pub members: Vec<Member>,
    pub coverage: Coverage,
}

impl Listed {
    pub fn views(self) -> Vec<SocketView> {
        self.members.into_iter().map(|m| m.view).collect()
    }
}

/// Which of the sockets asked about are connected to some node.
#[derive(Debug)]
pub struct Located {
    pub found: BTreeSet<String>,
    pub coverage: Coverage,
}

impl Located {
    /// The ids asked about that no node that answered holds.
    pub fn missing<'a>(&self, ids: &'a [String]) -> Vec<&'a String> {
        ids.iter().filter(|id| !self.found.contains(*id)).collect()
    }
}

/// Every node's namespaces, summed.
#[derive(Debug)]
pub struct Counted {
    pub namespaces: Vec<NamespaceCount>,
    pub coverage: Coverage,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActError {
    #[error("no socket `{id}` is connected to namespace `{ns}`")]
    NoSocket { ns: String, id: String },
    #[error(
        "socket `{id}` of namespace `{ns}` is on no node that answered; {silent} node(s) did not answer within {ms} ms (cluster.request_timeout_ms)"
    )]
    NoAnswer {
        ns: String,
        id: String,
        silent: usize,
        ms: u128,
    },
}

/// Every node's sockets, as seen from this one.
pub struct Directory {
    exchange: Arc<Exchange<Question, Answer>>,
    node: String,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("node", &self.node)
            .finish()
    }
}

impl Directory {
    pub fn new(backplane: Backplane, config: &ClusterConfig, node: &str) -> Self {
        Self {
            exchange: Arc::new(Exchange::new(
                backplane,
                &format!("{}:sockets", config.prefix),
                node,
                Duration::from_millis(config.request_timeout_ms),
            )),
            node: node.to_owned(),
        }
    }

    /// This node's id.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Answers the other nodes' questions about this node's sockets of `io`.
    pub async fn serve(&self, io: Io) -> Result<(), redis::RedisError> {
        let node = self.node.clone();
        self.exchange
            .clone()
            .serve(move |question| {
                let answer = answer(&io, &node, question);
                async move { answer }
            })
            .await
    }

    /// Sockets of `ns` (every namespace when `None`) on every node, only those in `room` when
    /// set.
    pub async fn list(&self, io: &Io, ns: Option<&str>, room: Option<&str>) -> Listed {
        let question = Question::List {
            ns: ns.map(str::to_owned),
            room: room.map(str::to_owned),
        };
        let gathered = self.exchange.ask(&question).await;
        let coverage = Coverage::from(&gathered);
        let mut members = members_here(io, &self.node, ns, room);
        for (_, answer) in gathered.answers {
            if let Answer::List(theirs) = answer {
                members.extend(theirs);
            }
        }
        members
            .sort_by(|a, b| (&a.view.namespace, &a.view.id).cmp(&(&b.view.namespace, &b.view.id)));
        Listed { members, coverage }
    }

    /// Which of `ids` are connected to namespace `ns` on some node. Asks the other nodes only
    /// about those this node does not hold.
    pub async fn locate(&self, io: &Io, ns: &str, ids: &[String]) -> Located {
        let (mut found, elsewhere): (BTreeSet<String>, Vec<String>) = (
            ids.iter()
                .filter(|id| find(io, ns, id).is_some())
                .cloned()
                .collect(),
            ids.iter()
                .filter(|id| find(io, ns, id).is_none())
                .cloned()
                .collect(),
        );
        if elsewhere.is_empty() {
            return Located {
                found,
                coverage: Coverage::from(&Gathered::<Answer>::alone()),
            };
        }
        let gathered = self
            .exchange
            .ask(&Question::Locate {
                ns: ns.to_owned(),
                ids: elsewhere,
            })
            .await;
        let coverage = Coverage::from(&gathered);
        for (_, answer) in gathered.answers {
            if let Answer::Located(theirs) = answer {
                found.extend(theirs.into_iter().filter(|id| ids.contains(id)));
            }
        }
        Located { found, coverage }
    }

    /// Carries out `act` on socket `id` of `ns`, on whichever node holds it.
    pub async fn act(&self, io: &Io, ns: &str, id: &str, act: Act) -> Result<(), ActError> {
        if let Some(socket) = find(io, ns, id) {
            apply(&socket, act);
            return Ok(());
        }
        let gathered = self
            .exchange
            .ask(&Question::Act {
                ns: ns.to_owned(),
                id: id.to_owned(),
                act,
            })
            .await;
        if gathered
            .answers
            .iter()
            .any(|(_, answer)| matches!(answer, Answer::Acted(true)))
        {
            return Ok(());
        }
        let coverage = Coverage::from(&gathered);
        if coverage.complete {
            Err(ActError::NoSocket {
                ns: ns.to_owned(),
                id: id.to_owned(),
            })
        } else {
            Err(ActError::NoAnswer {
                ns: ns.to_owned(),
                id: id.to_owned(),
                silent: coverage.nodes - coverage.answered,
                ms: self.exchange.deadline().as_millis(),
            })
        }
    }

    /// Sockets, roles and room members per namespace, summed over every node.
    pub async fn count(&self, io: &Io) -> Counted {
        let gathered = self.exchange.ask(&Question::Count).await;
        let coverage = Coverage::from(&gathered);
        let mut sums: BTreeMap<String, NamespaceCount> = counts_here(io)
            .into_iter()
            .map(|n| (n.name.clone(), n))
            .collect();
        for (_, answer) in gathered.answers {
            let Answer::Counted(theirs) = answer else {
                continue;
            };
            for count in theirs {
                let sum = sums
                    .entry(count.name.clone())
                    .or_insert_with(|| NamespaceCount {
                        name: count.name.clone(),
                        ..NamespaceCount::default()
                    });
                sum.sockets += count.sockets;
                for (role, n) in count.roles {
                    *sum.roles.entry(role).or_default() += n;
                }
                for (room, n) in count.rooms {
                    *sum.rooms.entry(room).or_default() += n;
                }
            }
        }
        Counted {
            namespaces: sums.into_values().collect(),
            coverage,
        }
    }
}

/// This node's answer to `question`, about its own sockets.
fn answer(io: &Io, node: &str, question: Question) -> Answer {
    match question {
        Question::List { ns, room } => {
            Answer::List(members_here(io, node, ns.as_deref(), room.as_deref()))
        }
        Question::Locate { ns, ids } => Answer::Located(
            ids.into_iter()
                .filter(|id| find(io, &ns, id).is_some())
                .collect(),
        ),
        Question::Act { ns, id, act } => match find(io, &ns, &id) {
            Some(socket) => {
                apply(&socket, act);
                Answer::Acted(true)
            }
            None => Answer::Acted(false),
        },
        Question::Count => Answer::Counted(counts_here(io)),
    }
}

/// This node's sockets of `ns` (every namespace when `None`), only those in `room` when set.
fn members_here(io: &Io, node: &str, ns: Option<&str>, room: Option<&str>) -> Vec<Member> {
    let namespaces = match ns {
        Some(ns) => io.of(ns).into_iter().collect(),
        None => io.nsps(),
    };
    namespaces
        .into_iter()
        .flat_map(|ns| match room {
            Some(room) => ns.within(room.to_owned()).sockets(),
            None => ns.sockets(),
        })
        .map(|socket| Member {
            view: socket_view(&socket, node),
            query: super::facts(&socket).query.clone(),
        })
        .collect()
}

/// This node's figures per namespace.
fn counts_here(io: &Io) -> Vec<NamespaceCount> {
    io.nsps()
        .into_iter()
        .map(|ns| {
            let sockets = ns.clone().sockets();
            let mut count = NamespaceCount {
                name: ns.ns_path().to_owned(),
                sockets: sockets.len(),
                ..NamespaceCount::default()
            };
            for socket in &sockets {
                *count.roles.entry(identity_of(socket).role).or_default() += 1;
                for room in socket.rooms() {
                    if !room.starts_with(SOCKET_ROOM_PREFIX) {
                        *count.rooms.entry(room.into_owned()).or_default() += 1;
                    }
                }
            }
            count
        })
        .collect()
}

fn apply(socket: &SocketRef, act: Act) {
    match act {
        Act::Join(room) => super::join(socket, room),
        Act::Leave(room) => super::leave(socket, room),
        Act::Disconnect => {
            let _ = socket.clone().disconnect();
        }
    }
}
