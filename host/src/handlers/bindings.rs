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
