//! What a handler asked iohost to do during a call, carried out in order once the call returns
//! (so no socket is touched while guest code runs).

use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;
use socketioxide_core::Sid;

use crate::model::Args;
use crate::server::deliver;

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

fn find(io: &SocketIo, ns: &str, sid: &str) -> Option<SocketRef> {
    let sid: Sid = sid.parse().ok()?;
    io.of(ns)?.get_socket(sid)
}

/// Carries out `actions` in order. Actions on sockets or namespaces that are gone are skipped.
pub async fn apply(io: &SocketIo, handler: &str, actions: Vec<Action>) {
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
                let sender = except.and_then(|sid| find(io, &ns, &sid));
                let result = match (sender, io.of(&ns)) {
                    (Some(sender), _) => sender.to(room).emit(&event, &args).await,
                    (None, Some(ns)) => ns.to(room).emit(&event, &args).await,
                    (None, None) => Ok(()),
                };
                if let Err(e) = result {
                    tracing::debug!(handler, "room emit partly failed: {e}");
                }
            }
            Action::EmitToNamespace {
                ns,
                event,
                args,
                except,
            } => {
                let sender = except.and_then(|sid| find(io, &ns, &sid));
                let result = match (sender, io.of(&ns)) {
                    (Some(sender), _) => sender.broadcast().emit(&event, &args).await,
                    (None, Some(ns)) => ns.emit(&event, &args).await,
                    (None, None) => Ok(()),
                };
                if let Err(e) = result {
                    tracing::debug!(handler, "namespace emit partly failed: {e}");
                }
            }
            Action::Join { ns, sid, room } => {
                if let Some(socket) = find(io, &ns, &sid) {
                    socket.join(room);
                }
            }
            Action::Leave { ns, sid, room } => {
                if let Some(socket) = find(io, &ns, &sid) {
                    socket.leave(room);
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
