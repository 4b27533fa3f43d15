//! Rust bindings of the `iohost:handler` world (`wit/handler.wit`), generated at build time.
//! Imports are async so that the key-value store can live across the network (Redis); the
//! `socket` resource's fields are read from memory, so they are plain calls.
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "handler",
    imports: {
        "iohost:handler/types.[method]socket.id": trappable,
        "iohost:handler/types.[method]socket.namespace": trappable,
        "iohost:handler/types.[method]socket.rooms": trappable,
        "iohost:handler/types.[method]socket.in-room": trappable,
        "iohost:handler/types.[method]socket.role": trappable,
        "iohost:handler/types.[method]socket.user": trappable,
        "iohost:handler/types.[method]socket.address": trappable,
        "iohost:handler/types.[method]socket.query": trappable,
        "iohost:handler/types.[method]socket.auth": trappable,
        "iohost:handler/types.[drop]socket": trappable,
        default: async,
    },
    exports: { default: async },
    additional_derives: [PartialEq],
});

#[cfg(test)]
mod tests {
    /// The imports and exports of `world NAME { ... }` in the WIT file, one per line.
    fn world_items(wit: &str, name: &str) -> Vec<String> {
        let start = wit
            .find(&format!("\nworld {name} {{"))
            .unwrap_or_else(|| panic!("no world {name}"));
        let body = &wit[start..];
        let body = &body[..body.find("\n}").expect("world ends")];
        body.lines()
            .map(str::trim)
            .filter(|l| l.starts_with("import ") || l.starts_with("export "))
            .map(str::to_owned)
            .collect()
    }

    /// `socket-handler` repeats `handler` (WIT cannot name an included world's types): it must
    /// keep every import and export of it, and add only `on-socket-event`.
    #[test]
    fn socket_handler_is_handler_plus_on_socket_event() {
        let wit = include_str!("../../../wit/handler.wit");
        let handler = world_items(wit, "handler");
        let mut socket_handler = world_items(wit, "socket-handler");
        assert!(handler.len() >= 11, "{handler:?}");
        let added: Vec<String> = socket_handler
            .extract_if(.., |item| !handler.contains(item))
            .collect();
        assert_eq!(
            added,
            ["export on-socket-event: func(socket: borrow<socket>, event: event) -> event-result;"]
        );
        assert_eq!(socket_handler, handler);
    }
}
