//! Benchmark fixture: receives `bench` and passes it on. Measures the cost of the handler path
//! itself (host to guest and back) with no logic inside.

use iohost_guest::{Config, Event, Handler, Outcome, Registration, Socket};

struct Noop;

impl Handler for Noop {
    fn init(_config: &Config) -> Result<Registration, String> {
        Ok(Registration::events(["bench"]))
    }

    fn on_event(_socket: &Socket, _event: &Event) -> Outcome {
        Outcome::Pass
    }
}

iohost_guest::export_handler!(Noop);
