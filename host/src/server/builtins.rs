//! The client events every socket has, with the plugin's ack shapes:
//! `join-room`, `leave-room`, `get-rooms`, `private-message`, and following Strapi documents:
//! `subscribe-entity`, `unsubscribe-entity`, `get-entity-subscriptions`.

use crate::cluster::Io;
use serde_json::{Value, json};

use super::SharedRef;
use super::reply::Reply;
use crate::model::Args;
use crate::rooms::RoomPolicy;
use crate::sockets::{broadcast, deliver, find, identity_of, socket_room};
use crate::strapi::entities::{Entity, SubscribeError};

/// The built-in client events.
pub const EVENTS: &[&str] = &[
    "join-room",
    "leave-room",
    "get-rooms",
    "private-message",
    "subscribe-entity",
    "unsubscribe-entity",
    "get-entity-subscriptions",
];

/// Runs the built-in event `reply.event()` names, or answers that nothing handles it.
pub async fn run(shared: &SharedRef, io: &Io, reply: Reply, args: &Args) {
    let arg = args.first_json();
    match reply.event() {
        "join-room" => join_room(shared, reply, &arg),
        "leave-room" => leave_room(shared, reply, &arg),
        "get-rooms" => get_rooms(reply),
        "private-message" => private_message(shared, io, reply, &arg).await,
        "subscribe-entity" => subscribe_entity(shared, reply, &arg),
        "unsubscribe-entity" => unsubscribe_entity(reply, &arg),
        "get-entity-subscriptions" => get_entity_subscriptions(reply),
        _ => unknown_event(reply),
    }
}

/// `join-room (room, ack)` -> `{success: true, room}`.
fn join_room(shared: &SharedRef, reply: Reply, arg: &Value) {
    let socket = reply.socket();
    let who = identity_of(socket);
    let live = shared.settings.now();
    let checked = live.rooms.check_name(arg.as_str()).and_then(|room| {
        let rooms = crate::sockets::rooms(socket);
        if rooms.iter().any(|r| r == room) {
            return Ok(room);
        }
        let joined = rooms
            .iter()
            .filter(|r| RoomPolicy::is_client_room(r, &who))
            .count();
        live.rooms.check_join(room, &who, joined).map(|()| room)
    });
    match checked {
        Ok(room) => {
            let room = room.to_owned();
            crate::sockets::join(socket, room.clone());
            reply.ok(&json!({ "success": true, "room": room }));
        }
        Err(denied) => reply.fail(denied),
    }
}

/// `leave-room (room, ack)` -> `{success: true, room}`, also when the socket was not in it.
fn leave_room(shared: &SharedRef, reply: Reply, arg: &Value) {
    match shared.settings.now().rooms.check_name(arg.as_str()) {
        Ok(room) => {
            let room = room.to_owned();
            crate::sockets::leave(reply.socket(), room.clone());
            reply.ok(&json!({ "success": true, "room": room }));
        }
        Err(denied) => reply.fail(denied),
    }
}

/// `get-rooms (ack)` -> `{success: true, rooms: [...]}`.
fn get_rooms(reply: Reply) {
    let rooms = crate::sockets::rooms(reply.socket());
    reply.ok(&json!({ "success": true, "rooms": rooms }));
}

/// `private-message ({to, message}, ack)` -> `{success: true}`; the socket `to` (same namespace,
/// any node) gets `private-message {from, fromUser, message, timestamp}`.
async fn private_message(shared: &SharedRef, io: &Io, reply: Reply, arg: &Value) {
    let settings = &shared.config.private_messages;
    if !settings.enabled {
        return reply
            .fail("private messages are disabled on this server (private_messages.enabled)");
    }
    let Some(to) = arg.get("to").and_then(Value::as_str) else {
        return reply.fail("`to` must be the target socket id");
    };
    let Some(message) = arg.get("message").and_then(Value::as_str) else {
        return reply.fail("`message` must be a string");
    };
    let length = message.chars().count();
    if length == 0 || length > settings.max_length {
        return reply.fail(format!(
            "`message` must have 1 to {} characters, it has {length}",
            settings.max_length
        ));
    }
    let sender = reply.socket();
    let ns = sender.ns().to_owned();
    let body = json!({
        "from": sender.id.to_string(),
        "fromUser": identity_of(sender).user,
        "message": message,
        "timestamp": crate::model::now_ms(),
    });
    if let Some(target) = find(io, &ns, to) {
        deliver(&target, target.emit("private-message", &body));
        return reply.ok(&json!({ "success": true }));
    }
    let ids = [to.to_owned()];
    let located = shared.node.directory.locate(io, &ns, &ids).await;
    if !located.found.contains(to) {
        let error = if located.coverage.complete {
            format!("no socket `{to}` is connected to this namespace")
        } else {
            format!(
                "socket `{to}` is on no node that answered; {} of {} nodes did not answer in time",
                located.coverage.nodes - located.coverage.answered,
                located.coverage.nodes
            )
        };
        return reply.fail(error);
    }
    match broadcast(
        io,
        &ns,
        vec![socket_room(to)],
        &[],
        "private-message",
        &body,
    )
    .await
    {
        Ok(()) => reply.ok(&json!({ "success": true })),
        Err(e) => reply.fail(e.to_string()),
    }
}

/// `subscribe-entity ({uid, id}, ack)` -> `{success: true, room, uid, id}`; again for the same
/// document changes nothing.
fn subscribe_entity(shared: &SharedRef, reply: Reply, arg: &Value) {
    let max = shared.config.strapi.entity_subscriptions_max;
    let socket = reply.socket();
    let who = identity_of(socket);
    let checked = Entity::from_request(arg).and_then(|entity| {
        if max == 0 {
            return Err(SubscribeError::Off);
        }
        let snapshot = crate::strapi::Snapshot::new(
            shared.settings.now().permissions.clone(),
            shared.auth.tokens.known(),
            shared.catalog.now(),
        );
        entity.check(&snapshot.access(&shared.config.strapi), &who)?;
        let following = entity_rooms(socket);
        if !following.contains(&entity) && following.len() >= max {
            return Err(SubscribeError::TooMany { max });
        }
        Ok(entity)
    });
    match checked {
        Ok(entity) => {
            crate::sockets::join(socket, entity.room());
            crate::sockets::join(socket, entity.role_room(&who.role));
            reply.ok(&with_success(entity.to_json()));
        }
        Err(denied) => reply.fail(denied),
    }
}

/// `unsubscribe-entity ({uid, id}, ack)` -> `{success: true, room, uid, id}`, also when the
/// socket did not follow it.
fn unsubscribe_entity(reply: Reply, arg: &Value) {
    match Entity::from_request(arg) {
        Ok(entity) => {
            let socket = reply.socket();
            crate::sockets::leave(socket, entity.room());
            crate::sockets::leave(socket, entity.role_room(&identity_of(socket).role));
            reply.ok(&with_success(entity.to_json()));
        }
        Err(denied) => reply.fail(denied),
    }
}

/// `get-entity-subscriptions (ack)` -> `{success: true, subscriptions: [{uid, id, room}]}`.
fn get_entity_subscriptions(reply: Reply) {
    let subscriptions: Vec<Value> = entity_rooms(reply.socket())
        .iter()
        .map(Entity::to_json)
        .collect();
    reply.ok(&json!({ "success": true, "subscriptions": subscriptions }));
}

/// The documents a socket follows.
fn entity_rooms(socket: &crate::cluster::SocketRef) -> Vec<Entity> {
    crate::sockets::rooms(socket)
        .iter()
        .filter_map(|room| Entity::from_room(room))
        .collect()
}

fn with_success(mut value: Value) -> Value {
    if let Some(fields) = value.as_object_mut() {
        fields.insert("success".into(), Value::Bool(true));
    }
    value
}

/// Events nothing handles: an ack request gets a clear error instead of a client-side timeout.
fn unknown_event(reply: Reply) {
    if reply.wants_ack() {
        let error = format!("no handler for event `{}`", reply.event());
        reply.fail(error);
    } else {
        tracing::debug!(sid = %reply.socket().id, event = reply.event(), "event without a handler");
    }
}
