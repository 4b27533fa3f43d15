//! Hot-reload fixture, version "b": acks `probe` with `{version: "b", args}` (its arguments),
//! and registers one more event, so the two versions differ in code as well as in answers.

use iohost_guest::{Config, Event, Handler, Outcome, Registration, Socket};

struct ProbeB;

impl Handler for ProbeB {
    fn init(_config: &Config) -> Result<Registration, String> {
        Ok(Registration::events(["probe", "probe:b-only"]))
    }

    fn on_event(_socket: &Socket, event: &Event) -> Outcome {
        let args: Vec<_> = (0..event.len())
            .filter_map(|i| event.json(i).cloned())
            .collect();
        Outcome::ack(&serde_json::json!({ "version": "b", "args": args }))
    }
}

iohost_guest::export_handler!(ProbeB);
