//! iohost: real-time Socket.IO beside Strapi, with event logic in WebAssembly handlers.
//!
//! The modules are layers, each using only those below it (docs/architecture.md; checked by
//! `tests/layers.rs`):
//! - foundations: [`config`], [`model`], [`random`], [`stripes`], [`metrics`], [`cluster`],
//!   [`store`], [`sockets`], [`node`], [`edge`];
//! - core: [`rooms`], [`strapi`], [`auth`], [`handlers`], [`relay`], [`settings`];
//! - edges: [`server`] (the Socket.IO transport), [`api`], [`webhook`], [`admin`];
//! - [`app`]: the composition root; [`cli`]: the command line.
//!
//! An event goes one way: [`edge`] -> [`server`] (admission: [`auth`], the handlers'
//! `on-connect`, a slot) -> the handler chain ([`handlers`]) -> Strapi's listeners ([`relay`])
//! -> the built-in events -> emits
//! through [`sockets`].

pub mod admin;
pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod edge;
pub mod handlers;
pub mod metrics;
pub mod model;
pub mod node;
pub mod random;
pub mod relay;
pub mod rooms;
pub mod server;
pub mod settings;
pub mod sockets;
pub mod store;
pub mod strapi;
pub mod stripes;
pub mod webhook;
