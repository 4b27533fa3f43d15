//! A misbehaving handler for tests: `trap` panics, `spin` never returns, `hog` allocates until
//! the memory cap stops it; `fine` is handled normally (acked `"fine"`). Any other event
//! passes, so the host's other work goes on.

use iohost_guest::{Config, Event, Handler, Outcome, Registration, Socket};

pub struct Faults;

impl Handler for Faults {
    fn init(_config: &Config) -> Result<Registration, String> {
        Ok(Registration::events(["trap", "spin", "hog", "fine"]))
    }

    fn on_event(_socket: &Socket, event: &Event) -> Outcome {
        match event.name() {
            "trap" => panic!("the faults handler panics on purpose"),
            "spin" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "hog" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
                }
            }
            "fine" => Outcome::ack("fine"),
            _ => Outcome::Pass,
        }
    }
}

iohost_guest::export_handler!(Faults);
