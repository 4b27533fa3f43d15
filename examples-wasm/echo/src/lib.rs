//! The echo events the official socket.io-protocol test suite expects: `auth` (the handshake
//! auth object) on connect, `message` -> `message-back` with every argument, and
//! `message-with-ack` acked with every argument. Binary attachments pass through untouched.

use iohost_guest::{Config, Connect, Event, Handler, Outcome, Registration, Socket};

pub struct Echo;

impl Handler for Echo {
    fn init(_config: &Config) -> Result<Registration, String> {
        Ok(Registration::events(["message", "message-with-ack"]).on_connect())
    }

    fn on_connect(socket: &Socket) -> Connect {
        let auth: serde_json::Value =
            serde_json::from_str(socket.auth_json()).unwrap_or_else(|_| serde_json::json!({}));
        socket.emit("auth", &auth);
        Connect::Accept
    }

    fn on_event(socket: &Socket, event: &Event) -> Outcome {
        match event.name() {
            "message" => {
                socket.emit_payload("message-back", event.payload());
                Outcome::done()
            }
            _ => Outcome::Handled(Some(event.payload().clone())),
        }
    }
}

iohost_guest::export_handler!(Echo);
