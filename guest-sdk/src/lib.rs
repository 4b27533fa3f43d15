//! # iohost-guest: write iohost Socket.IO handlers in Rust
//!
//! A handler is a WebAssembly component that iohost loads from its `handlers/` folder and calls
//! for the events it registered. Implement [`Handler`], export it with [`export_handler!`],
//! build with `cargo build --release --target wasm32-wasip2`, and copy the `.wasm` into the
//! folder: iohost loads it (and reloads it on every change) without dropping a connection.
//!
//! Handlers keep no state in their own memory between calls: iohost may run several instances
//! and replace them at any time. Keep state in [`kv`], which survives reloads.
//!
//! ```no_run
//! use iohost_guest::{Config, Event, Handler, Outcome, Registration, Socket};
//! use serde::Deserialize;
//!
//! struct Shout;
//!
//! #[derive(Deserialize)]
//! struct Message {
//!     room: String,
//!     text: String,
//! }
//!
//! impl Handler for Shout {
//!     fn init(_config: &Config) -> Result<Registration, String> {
//!         Ok(Registration::events(["shout"]))
//!     }
//!
//!     fn on_event(socket: &Socket, event: &Event) -> Outcome {
//!         let Ok(msg) = event.arg::<Message>(0) else {
//!             return Outcome::reject("expected {room, text}");
//!         };
//!         if !socket.in_room(&msg.room) {
//!             return Outcome::reject("join the room first");
//!         }
//!         socket.broadcast_to_room(&msg.room, "shout", &msg.text.to_uppercase());
//!         Outcome::ack(&serde_json::json!({ "success": true }))
//!     }
//! }
//!
//! iohost_guest::export_handler!(Shout);
//! ```

// The generated bindings name this crate by its public path, also from inside it.
extern crate self as iohost_guest;

pub mod alloc;

/// Small blocks from free lists, the rest from wasi-libc's dlmalloc ([`alloc`]).
#[cfg(all(target_arch = "wasm32", feature = "fast-alloc"))]
#[global_allocator]
static ALLOCATOR: alloc::SizeClasses<std::alloc::System> =
    alloc::SizeClasses::new(std::alloc::System);

/// The generated WIT bindings of the `socket-handler` world (0.1.2: the `handler` world, plus
/// `on-socket-event`, which reads its socket field by field). Prefer the wrappers of this crate.
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "socket-handler",
        pub_export_macro: true,
        export_macro_name: "__export_handler_world",
        default_bindings_module: "iohost_guest::bindings",
        runtime_path: "iohost_guest::__private::wit_bindgen::rt",
        generate_all,
        additional_derives: [PartialEq],
    });
}

/// The generated bindings of the `content-socket-handler` world (0.1.2): the `socket-handler`
/// world's, plus the `on-content` export. Used by [`export_content_handler!`]; its imports are
/// the ones in [`bindings`]. Only a handler that exports it carries it: its description is
/// linked in only through the export macro.
#[allow(clippy::too_many_arguments)] // generated glue
pub mod content_bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "content-socket-handler",
        with: {
            "iohost:handler/types@0.1.2": crate::bindings::iohost::handler::types,
            "iohost:handler/sockets@0.1.2": crate::bindings::iohost::handler::sockets,
            "iohost:handler/kv@0.1.2": crate::bindings::iohost::handler::kv,
            "iohost:handler/log@0.1.2": crate::bindings::iohost::handler::log,
            "iohost:handler/clock@0.1.2": crate::bindings::iohost::handler::clock,
            "iohost:handler/config@0.1.2": crate::bindings::iohost::handler::config,
            "iohost:handler/strapi@0.1.2": crate::bindings::iohost::handler::strapi,
        },
        pub_export_macro: true,
        export_macro_name: "__export_content_handler_world",
        default_bindings_module: "iohost_guest::content_bindings",
        runtime_path: "iohost_guest::__private::wit_bindgen::rt",
    });
}

mod args;
mod config;
mod content;
pub mod emit;
mod error;
pub mod kv;
pub mod log;
mod outcome;
mod socket;
pub mod sockets;
pub mod strapi;

pub use args::{ArgError, Args, Event};
pub use bindings::iohost::handler::types::Payload;
pub use config::{Config, Settings, config};
pub use content::{ContentEvent, ContentOutcome};
pub use error::Error;
pub use outcome::{Connect, Outcome, Registration};
pub use socket::{Socket, User};

/// Milliseconds since the Unix epoch (the host's clock).
pub fn now_ms() -> u64 {
    bindings::iohost::handler::clock::now_ms()
}

/// Nanoseconds on a monotonic clock, for measuring durations.
pub fn monotonic_ns() -> u64 {
    bindings::iohost::handler::clock::monotonic_ns()
}

/// A handler. Only `init` is required; the other calls default to doing nothing, and iohost
/// only makes the ones the [`Registration`] asks for.
pub trait Handler {
    /// Called once per instance before anything else; says which events to receive.
    /// An error keeps the handler from loading (a reload keeps the previous version).
    fn init(config: &Config) -> Result<Registration, String>;

    /// A socket is connecting (with [`Registration::on_connect`]). Rejecting refuses it.
    fn on_connect(_socket: &Socket) -> Connect {
        Connect::Accept
    }

    /// A registered event arrived. [`Outcome::Pass`] hands it to the next handler. By default
    /// it runs [`Handler::handle_event`] and turns an error into a rejection.
    fn on_event(socket: &Socket, event: &Event) -> Outcome {
        Self::handle_event(socket, event).unwrap_or_else(Outcome::from)
    }

    /// [`Handler::on_event`] with `?`: KV, argument and Strapi errors (and `Err("reason")`)
    /// reject the event with their message. Implement one of the two.
    fn handle_event(_socket: &Socket, _event: &Event) -> Result<Outcome, Error> {
        Ok(Outcome::Pass)
    }

    /// A socket left (with [`Registration::on_disconnect`]).
    fn on_disconnect(_socket: &Socket, _reason: &str) {}

    /// Periodic work (with [`Registration::tick_every_ms`]).
    fn on_tick() {}

    /// A content event from Strapi, for one audience, before it is delivered: pass it, drop
    /// it, narrow it to some rooms or change its data. Called only for handlers exported with
    /// [`export_content_handler!`].
    fn on_content(_event: &ContentEvent) -> ContentOutcome {
        ContentOutcome::Pass
    }
}

/// The `socket-handler` world's entry points for a [`Handler`], shared by both export macros.
/// (`on-event` stays for the worlds' sake; iohost 0.1.2 and later call `on-socket-event`.)
#[doc(hidden)]
#[macro_export]
macro_rules! __handler_world_exports {
    ($handler:ty) => {
        fn init(
            config: ::std::string::String,
        ) -> ::std::result::Result<
            $crate::bindings::iohost::handler::types::Registration,
            ::std::string::String,
        > {
            $crate::__private::init::<$handler>(config)
        }
        fn on_connect(
            socket: $crate::bindings::iohost::handler::types::SocketInfo,
        ) -> $crate::bindings::iohost::handler::types::ConnectResult {
            $crate::__private::on_connect::<$handler>(socket)
        }
        fn on_event(
            socket: $crate::bindings::iohost::handler::types::SocketInfo,
            event: $crate::bindings::iohost::handler::types::Event,
        ) -> $crate::bindings::iohost::handler::types::EventResult {
            $crate::__private::on_event::<$handler>(socket, event)
        }
        fn on_disconnect(
            socket: $crate::bindings::iohost::handler::types::SocketInfo,
            reason: ::std::string::String,
        ) {
            $crate::__private::on_disconnect::<$handler>(socket, reason)
        }
        fn on_tick() {
            <$handler as $crate::Handler>::on_tick()
        }
        fn on_socket_event(
            socket: &$crate::bindings::iohost::handler::types::Socket,
            event: $crate::bindings::iohost::handler::types::Event,
        ) -> $crate::bindings::iohost::handler::types::EventResult {
            $crate::__private::on_socket_event::<$handler>(socket, event)
        }
    };
}

/// Exports a [`Handler`] implementation as the component's entry points.
#[macro_export]
macro_rules! export_handler {
    ($handler:ty) => {
        #[doc(hidden)]
        pub struct __IohostHandlerExport;

        impl $crate::bindings::Guest for __IohostHandlerExport {
            $crate::__handler_world_exports!($handler);
        }

        $crate::bindings::__export_handler_world!(__IohostHandlerExport with_types_in $crate::bindings);
    };
}

/// Exports a [`Handler`] that also sees Strapi's content events ([`Handler::on_content`]): the
/// `content-socket-handler` world of `iohost:handler@0.1.2` (`content-handler` of 0.1.1 plus
/// `on-socket-event`).
#[macro_export]
macro_rules! export_content_handler {
    ($handler:ty) => {
        #[doc(hidden)]
        pub struct __IohostContentHandlerExport;

        impl $crate::content_bindings::Guest for __IohostContentHandlerExport {
            $crate::__handler_world_exports!($handler);
            fn on_content(
                event: $crate::bindings::iohost::handler::types::ContentEvent,
            ) -> $crate::bindings::iohost::handler::types::ContentResult {
                $crate::__private::on_content::<$handler>(event)
            }
        }

        $crate::content_bindings::__export_content_handler_world!(__IohostContentHandlerExport with_types_in $crate::content_bindings);
    };
}

/// Glue for [`export_handler!`]; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;

    use crate::bindings::iohost::handler::types as wit;
    use crate::{Config, Event, Handler, Socket};

    pub fn init<H: Handler>(config: String) -> Result<wit::Registration, String> {
        let config = Config::read(&config)?;
        let registration = H::init(&config)?;
        crate::config::install(config);
        Ok(registration.into())
    }

    pub fn on_connect<H: Handler>(socket: wit::SocketInfo) -> wit::ConnectResult {
        H::on_connect(&Socket::from(socket)).into()
    }

    pub fn on_event<H: Handler>(socket: wit::SocketInfo, event: wit::Event) -> wit::EventResult {
        H::on_event(&Socket::from(socket), &Event::from(event)).into()
    }

    pub fn on_socket_event<H: Handler>(
        socket: &wit::Socket,
        event: wit::Event,
    ) -> wit::EventResult {
        H::on_event(&Socket::borrowed(socket), &Event::from(event)).into()
    }

    pub fn on_disconnect<H: Handler>(socket: wit::SocketInfo, reason: String) {
        H::on_disconnect(&Socket::from(socket), &reason)
    }

    pub fn on_content<H: Handler>(event: wit::ContentEvent) -> wit::ContentResult {
        H::on_content(&crate::ContentEvent::from(event)).into()
    }
}
