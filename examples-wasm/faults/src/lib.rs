//! A misbehaving handler for tests: `trap` panics, `spin` never returns, `hog` allocates until
//! the memory cap stops it; `flood` asks for emits to the caller without end and `join-flood`
//! joins it to room after room (iohost's action bounds stop both, and none of their actions is
//! carried out); `bad-ack` answers with an ack that is not a payload; `fine` is handled
//! normally (acked `"fine"`); `whoami` acks every field of its socket as the SDK reads it
//! (through the 0.1.2 socket handle), `in-room` asked before the rooms are read; `keep` keeps
//! a clone of its socket in the instance and `kept` acks that clone's id and role. Any other
//! event passes, so the host's other work goes on. As a content handler it panics on content
//! events of a `fault` type (`fault:update`, ...) and passes the others.

use iohost_guest::{
    Config, ContentEvent, ContentOutcome, Event, Handler, Outcome, Payload, Registration, Socket,
};

pub struct Faults;

/// What `keep` kept: instances are reused, so a later call on the same one can read it.
static KEPT: std::sync::Mutex<Option<Socket>> = std::sync::Mutex::new(None);

impl Handler for Faults {
    fn init(_config: &Config) -> Result<Registration, String> {
        Ok(Registration::events([
            "trap",
            "spin",
            "sleep",
            "nap",
            "handles",
            "random",
            "expand",
            "expand-ack",
            "hog",
            "flood",
            "join-flood",
            "bad-ack",
            "fine",
            "whoami",
            "keep",
            "kept",
        ]))
    }

    fn on_event(socket: &Socket, event: &Event) -> Outcome {
        match event.name() {
            "trap" => panic!("the faults handler panics on purpose"),
            "spin" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            // WASI's clock: `pollable.block` waits in iohost, outside the guest's own code.
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(30));
                Outcome::ack("woke")
            }
            "nap" => {
                std::thread::sleep(std::time::Duration::from_millis(20));
                Outcome::ack("rested")
            }
            // WASI handles never dropped: host memory outside the linear memory.
            "handles" => {
                for _ in 0..1_000_000 {
                    std::mem::forget(wasip2::clocks::monotonic_clock::subscribe_duration(
                        1_000_000_000,
                    ));
                }
                Outcome::ack("held a million")
            }
            // WASI's random bytes are made in iohost's memory before the guest's.
            "random" => {
                let small = wasip2::random::random::get_random_bytes(32);
                let _large = wasip2::random::random::get_random_bytes(1 << 20);
                Outcome::ack(&small.len())
            }
            // Small as text, large once read: two bytes a value as JSON, far more as values.
            "expand" => {
                socket.emit("expanded", &vec![0u8; 200_000]);
                Outcome::ack("sent")
            }
            "expand-ack" => Outcome::Handled(Some(Payload {
                json: format!("[[{}0]]", "0,".repeat(300_000)),
                attachments: Vec::new(),
            })),
            "hog" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
                }
            }
            "flood" => loop {
                socket.emit("flooded", &"x".repeat(1024));
            },
            "join-flood" => {
                for n in 0.. {
                    socket.join(&format!("flood-{n}"));
                }
                Outcome::ack("unreachable")
            }
            "bad-ack" => Outcome::Handled(Some(Payload {
                json: "{not a payload".to_owned(),
                attachments: Vec::new(),
            })),
            "fine" => Outcome::ack("fine"),
            "keep" => {
                *KEPT.lock().unwrap_or_else(|e| e.into_inner()) = Some(socket.clone());
                Outcome::ack("kept")
            }
            "kept" => match &*KEPT.lock().unwrap_or_else(|e| e.into_inner()) {
                Some(kept) => Outcome::ack(&[kept.id(), kept.role()]),
                None => Outcome::reject("nothing kept"),
            },
            "whoami" => {
                // Asked first, so that the host answers it without the rooms being copied.
                let in_room = [
                    socket.in_room("io-role-public"),
                    socket.in_room("no-such-room"),
                ];
                Outcome::ack(&serde_json::json!({
                    "inRoom": in_room,
                    "id": socket.id(),
                    "namespace": socket.namespace(),
                    "rooms": socket.rooms(),
                    "role": socket.role(),
                    "user": socket.user().map(|u| serde_json::json!({"id": u.id, "username": u.username})),
                    "address": socket.address(),
                    "query": [socket.query("room"), socket.query("absent")],
                    "auth": socket.auth_json(),
                    "displayName": socket.display_name(),
                }))
            }
            _ => Outcome::Pass,
        }
    }

    fn on_content(event: &ContentEvent) -> ContentOutcome {
        if event.name().starts_with("fault:") {
            panic!("the faults handler panics on content on purpose");
        }
        ContentOutcome::Pass
    }
}

iohost_guest::export_content_handler!(Faults);
