//! Hot-reload fixture, version "a": acks `probe` with `{version: "a"}`.

use iohost_guest::{Config, Event, Handler, Outcome, Registration, Socket};

struct ProbeA;

impl Handler for ProbeA {
    fn init(_config: &Config) -> Result<Registration, String> {
        Ok(Registration::events(["probe"]))
    }

    fn on_event(_socket: &Socket, _event: &Event) -> Outcome {
        Outcome::ack(&serde_json::json!({ "version": "a" }))
    }
}

iohost_guest::export_handler!(ProbeA);
