//! What a handler asked iohost to do during a call, carried out in order once the call returns
//! (so no socket is touched while guest code runs).

use crate::cluster::Io;
use crate::model::Args;
use crate::sockets::deliver;
use crate::sockets::{broadcast, find};

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
}

/// Carries out `actions` in order. Actions on sockets or namespaces that are gone are skipped.
pub async fn apply(io: &Io, handler: &str, actions: Vec<Action>) {
    for action in actions {
        match action {
            Action::EmitToSocket {
                ns,
                sid,
                event,
                args,
            } => {
                if let Some(socket) = find(io, &ns, &sid) {
                    deliver(&socket, socket.emit(&event, &args));
                }
            }
            Action::EmitToRoom {
                ns,
                room,
                event,
                args,
                except,
            } => {
                let result = broadcast(io, &ns, vec![room], except.as_deref(), &event, &args).await;
                if let Err(e) = result {
                    tracing::debug!(handler, "emit skipped: {e}");
                }
            }
            Action::EmitToNamespace {
                ns,
                event,
                args,
                except,
            } => {
                let result = broadcast(io, &ns, Vec::new(), except.as_deref(), &event, &args).await;
                if let Err(e) = result {
                    tracing::debug!(handler, "emit skipped: {e}");
                }
            }
            Action::Join { ns, sid, room } => {
                if let Some(socket) = find(io, &ns, &sid) {
                    crate::sockets::join(&socket, room);
                }
            }
            Action::Leave { ns, sid, room } => {
                if let Some(socket) = find(io, &ns, &sid) {
                    crate::sockets::leave(&socket, room);
                }
            }
            Action::Disconnect { ns, sid } => {
                if let Some(socket) = find(io, &ns, &sid) {
                    let _ = socket.disconnect();
                }
            }
        }
    }
}
