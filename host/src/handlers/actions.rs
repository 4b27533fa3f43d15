//! What a handler asked iohost to do during a call, carried out in order once the call returns
//! (so no socket is touched while guest code runs). Each reaches its socket on whichever node
//! holds it.

use super::bindings::iohost::handler::types::Target;
use crate::cluster::Io;
use crate::model::Args;
use crate::sockets::directory::Act;
use crate::sockets::{Directory, broadcast, deliver, find, socket_room};

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    EmitToSocket {
        ns: String,
        sid: String,
        event: String,
        args: Args,
    },
    EmitToRoom {
        ns: String,
        room: String,
        event: String,
        args: Args,
        except: Option<String>,
    },
    EmitToNamespace {
        ns: String,
        event: String,
        args: Args,
        except: Option<String>,
    },
    Join {
        ns: String,
        sid: String,
        room: String,
    },
    Leave {
        ns: String,
        sid: String,
        room: String,
    },
    Disconnect {
        ns: String,
        sid: String,
    },
    /// A volatile emit: a client that is not ready misses it.
    Volatile {
        ns: String,
        target: Target,
        event: String,
        args: Args,
        except: Option<String>,
    },
}

impl Action {
    /// Does it join or leave a room (change what a socket's rooms list says)?
    pub fn changes_rooms(&self) -> bool {
        matches!(self, Self::Join { .. } | Self::Leave { .. })
    }
}

/// Carries out `actions` in order. Actions on sockets or namespaces that are gone are skipped.
pub async fn apply(io: &Io, directory: &Directory, handler: &str, actions: Vec<Action>) {
    for action in actions {
        let (ns, sid, act) = match action {
            Action::EmitToSocket {
                ns,
                sid,
                event,
                args,
            } => {
                match find(io, &ns, &sid) {
                    Some(socket) => deliver(&socket, socket.emit(&event, &args)),
                    None => {
                        emit(
                            io,
                            handler,
                            &ns,
                            vec![socket_room(&sid)],
                            None,
                            &event,
                            &args,
                        )
                        .await
                    }
                }
                continue;
            }
            Action::EmitToRoom {
                ns,
                room,
                event,
                args,
                except,
            } => {
                emit(
                    io,
                    handler,
                    &ns,
                    vec![room],
                    except.as_deref(),
                    &event,
                    &args,
                )
                .await;
                continue;
            }
            Action::EmitToNamespace {
                ns,
                event,
                args,
                except,
            } => {
                emit(
                    io,
                    handler,
                    &ns,
                    Vec::new(),
                    except.as_deref(),
                    &event,
                    &args,
                )
                .await;
                continue;
            }
            Action::Volatile {
                ns,
                target,
                event,
                args,
                except,
            } => {
                let except: Vec<String> = except.into_iter().collect();
                let sent = match crate::sockets::targets(io, &ns, target_rooms(target), &except) {
                    Ok(targets) => targets
                        .volatile()
                        .emit(&event, &args)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                if let Err(e) = sent {
                    tracing::debug!(handler, "volatile emit skipped: {e}");
                }
                continue;
            }
            Action::Join { ns, sid, room } => (ns, sid, Act::Join(room)),
            Action::Leave { ns, sid, room } => (ns, sid, Act::Leave(room)),
            Action::Disconnect { ns, sid } => (ns, sid, Act::Disconnect),
        };
        if let Err(e) = directory.act(io, &ns, &sid, act).await {
            tracing::debug!(handler, "action skipped: {e}");
        }
    }
}

async fn emit(
    io: &Io,
    handler: &str,
    ns: &str,
    rooms: Vec<String>,
    except: Option<&str>,
    event: &str,
    args: &Args,
) {
    let except: Vec<String> = except.into_iter().map(str::to_owned).collect();
    if let Err(e) = broadcast(io, ns, rooms, &except, event, args).await {
        tracing::debug!(handler, "emit skipped: {e}");
    }
}

/// The rooms a target names for [`crate::sockets::targets`] (none: the whole namespace).
pub(super) fn target_rooms(target: Target) -> Vec<String> {
    match target {
        Target::Socket(sid) => vec![socket_room(&sid)],
        Target::Room(room) => vec![room],
        Target::Namespace => Vec::new(),
    }
}
