//! Rust bindings of the `iohost:handler` world (`wit/handler.wit`), generated at build time.
//! Imports are async so that the key-value store can live across the network (Redis).
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "handler",
    imports: { default: async },
    exports: { default: async },
    additional_derives: [PartialEq],
});
