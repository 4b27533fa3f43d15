//! A handler that tries what an untrusted one would, for the hostile-handler suite. Each event
//! asks for one thing iohost must refuse or bound, and acks what the handler saw:
//! - `hostile:join (room)` puts the caller in `room` (iohost's reserved rooms are refused);
//! - `hostile:emit ({room, event})` emits a fake `event` into `room`;
//! - `hostile:peek (room)` acks the `auth` objects of the sockets in `room` (on every node);
//! - `hostile:whisper ({to, text})` emits `hostile:whisper {from, text}` to socket `to`, on
//!   whichever node holds it;
//! - `hostile:pull ({to, room})` puts socket `to` (any node) in `room` (reserved rooms refused);
//! - `hostile:kv ({count, bytes})` stores `count` values of `bytes` bytes, acks how many it
//!   could and the first error;
//! - `hostile:hold (ms)` keeps its instance busy for `ms` milliseconds;
//! - `hostile:grow (mb)` grows its linear memory by `mb` MiB and writes to every page of it;
//! - `hostile:ask ({room, to, event, timeoutMs, times})` emits `event` with an ack request to
//!   `room` (or socket `to`, or the namespace) `times` times and acks the acks or the first
//!   error (reserved rooms, bad timeouts and the call's ack wait budget are refused);
//! - `hostile:volatile ({room, event})` emits `event` volatile to `room` (reserved refused);
//! - `hostile:fanout (mb)` emits to the caller one `mb` MiB attachment referred to from 100000
//!   places (a payload that would expand to terabytes: refused, nothing sent);
//!
//! and on connect it sends the socket its own `auth` object back (`hostile:auth`).

use iohost_guest::{Config, Event, Handler, Outcome, Registration, Socket, emit, kv, monotonic_ns};
use serde_json::{Value, json};

pub struct Hostile;

impl Handler for Hostile {
    fn init(_config: &Config) -> Result<Registration, String> {
        Ok(Registration::events([
            "hostile:join",
            "hostile:emit",
            "hostile:peek",
            "hostile:whisper",
            "hostile:pull",
            "hostile:kv",
            "hostile:hold",
            "hostile:grow",
            "hostile:ask",
            "hostile:volatile",
            "hostile:fanout",
        ])
        .on_connect())
    }

    fn on_connect(socket: &Socket) -> iohost_guest::Connect {
        let auth: Value = serde_json::from_str(socket.auth_json()).unwrap_or(Value::Null);
        socket.emit("hostile:auth", &auth);
        iohost_guest::Connect::Accept
    }

    fn on_event(socket: &Socket, event: &Event) -> Outcome {
        let arg = event.json(0).cloned().unwrap_or(Value::Null);
        match event.name() {
            "hostile:join" => {
                let room = arg.as_str().unwrap_or_default();
                socket.join(room);
                Outcome::ack(&json!({ "asked": room }))
            }
            "hostile:emit" => {
                let room = arg["room"].as_str().unwrap_or_default();
                let name = arg["event"].as_str().unwrap_or("hostile:fake");
                emit::to_room(
                    socket.namespace(),
                    room,
                    name,
                    &json!({ "data": { "id": 1, "attributes": { "title": "forged" } } }),
                );
                Outcome::ack(&json!({ "asked": room }))
            }
            "hostile:peek" => {
                let room = arg.as_str().unwrap_or_default();
                let seen: Vec<Value> = emit::sockets_in_room(socket.namespace(), room)
                    .iter()
                    .map(|s| serde_json::from_str(s.auth_json()).unwrap_or(Value::Null))
                    .collect();
                Outcome::ack(&json!({ "auth": seen }))
            }
            "hostile:whisper" => {
                // Emits to any socket by id, wherever it is connected.
                let to = arg["to"].as_str().unwrap_or_default();
                emit::to_socket(
                    socket.namespace(),
                    to,
                    "hostile:whisper",
                    &json!({ "from": socket.id(), "text": arg["text"] }),
                );
                Outcome::ack(&json!({ "asked": to }))
            }
            "hostile:pull" => {
                // Puts another socket in a room (or tries to: reserved rooms are refused).
                let to = arg["to"].as_str().unwrap_or_default();
                let room = arg["room"].as_str().unwrap_or_default();
                iohost_guest::bindings::iohost::handler::sockets::join_room(
                    socket.namespace(),
                    to,
                    room,
                );
                Outcome::ack(&json!({ "asked": room }))
            }
            "hostile:kv" => {
                let count = arg["count"].as_u64().unwrap_or(1);
                let value = "x".repeat(arg["bytes"].as_u64().unwrap_or(1) as usize);
                let mut stored = 0;
                let mut error = None;
                for i in 0..count {
                    match kv::set(&format!("fill:{i}"), &value, None) {
                        Ok(()) => stored += 1,
                        Err(e) => {
                            error = Some(format!("{e:?}"));
                            break;
                        }
                    }
                }
                Outcome::ack(&json!({ "stored": stored, "error": error }))
            }
            "hostile:hold" => {
                let until = monotonic_ns() + arg.as_u64().unwrap_or(0) * 1_000_000;
                while monotonic_ns() < until {
                    std::hint::spin_loop();
                }
                Outcome::ack(&json!({ "held": true }))
            }
            "hostile:grow" => {
                let mb = arg.as_u64().unwrap_or(0) as usize;
                if !grow_and_touch(mb) {
                    return Outcome::reject("memory.grow failed");
                }
                Outcome::ack(&json!({ "grown": mb }))
            }
            "hostile:ask" => {
                let target = target_of(&arg);
                let name = arg["event"].as_str().unwrap_or("hostile:question");
                let timeout = arg["timeoutMs"].as_u64().unwrap_or(1000) as u32;
                let mut rounds = Vec::new();
                for _ in 0..arg["times"].as_u64().unwrap_or(1) {
                    match emit::with_ack(socket.namespace(), &target, name, &"question?", timeout) {
                        Ok(acks) => rounds.push(json!({
                            "answered": acks.answered.iter().map(|a| json!({
                                "socket": a.socket_id,
                                "args": serde_json::from_str::<Value>(&a.args.json).unwrap_or(Value::Null),
                            })).collect::<Vec<_>>(),
                            "timedOut": acks.timed_out,
                            "leftOut": acks.left_out,
                        })),
                        Err(e) => return Outcome::ack(&json!({ "rounds": rounds, "error": e.to_string() })),
                    }
                }
                Outcome::ack(&json!({ "rounds": rounds }))
            }
            "hostile:volatile" => {
                let name = arg["event"].as_str().unwrap_or("hostile:fast");
                emit::volatile(
                    socket.namespace(),
                    &target_of(&arg),
                    name,
                    &json!({ "from": socket.id() }),
                );
                Outcome::ack(&json!({ "asked": arg["room"] }))
            }
            "hostile:fanout" => {
                let mb = arg.as_u64().unwrap_or(1) as usize;
                let marker = r#"{"_placeholder":true,"num":0}"#;
                let json = format!("[[{}]]", vec![marker; 100_000].join(","));
                let payload = iohost_guest::Payload {
                    json,
                    attachments: vec![vec![7u8; mb << 20]],
                };
                socket.emit_payload("hostile:fanout", &payload);
                Outcome::ack(&json!({ "asked": mb }))
            }
            _ => Outcome::Pass,
        }
    }
}

/// `{room}`, `{to}` (a socket id) or neither (the whole namespace).
fn target_of(arg: &Value) -> emit::Target {
    match (arg["room"].as_str(), arg["to"].as_str()) {
        (Some(room), _) => emit::Target::Room(room.to_owned()),
        (None, Some(to)) => emit::Target::Socket(to.to_owned()),
        (None, None) => emit::Target::Namespace,
    }
}

/// Grows memory 0 by `mb` MiB and writes to every 4 KiB of the new pages, so the memory is
/// really held, not just reserved; false if it could not grow.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
fn grow_and_touch(mb: usize) -> bool {
    const PAGE: usize = 64 * 1024;
    let pages = mb * 16;
    let first = core::arch::wasm32::memory_grow::<0>(pages);
    if first == usize::MAX {
        return false;
    }
    for at in (first * PAGE..(first + pages) * PAGE).step_by(4096) {
        // SAFETY: these pages were just added to the memory and nothing else uses them.
        unsafe { (at as *mut u8).write_volatile(1) };
    }
    true
}

/// Natively (`cargo test` of the workspace) there is no linear memory to grow.
#[cfg(not(target_arch = "wasm32"))]
fn grow_and_touch(_mb: usize) -> bool {
    false
}

iohost_guest::export_handler!(Hostile);
