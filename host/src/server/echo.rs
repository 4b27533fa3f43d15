//! The echo events the official socket.io-protocol test suite expects (`[conformance] echo`):
//! `auth` on connect, `message` -> `message-back`, `message-with-ack` acked with its arguments.
//! Native for now; the handler runtime will serve them from a WASM component instead.

use socketioxide::extract::{AckSender, Data, SocketRef};

use crate::model::{Args, Handshake};

pub fn register(socket: &SocketRef) {
    let auth = socket
        .extensions
        .get::<Handshake>()
        .map(|h| h.0)
        .unwrap_or_else(|| serde_json::json!({}));
    if let Err(e) = socket.emit("auth", &auth) {
        tracing::debug!("echo: could not emit auth: {e}");
    }
    socket.on(
        "message",
        async |socket: SocketRef, Data(args): Data<Args>| {
            if let Err(e) = socket.emit("message-back", &args) {
                tracing::debug!("echo: could not emit message-back: {e}");
            }
        },
    );
    socket.on(
        "message-with-ack",
        async |ack: AckSender, Data(args): Data<Args>| {
            if let Err(e) = ack.send(&args) {
                tracing::debug!("echo: could not ack: {e}");
            }
        },
    );
}
