//! iohost: real-time Socket.IO beside Strapi, with event logic in WebAssembly handlers.
//!
//! Data flows one way: transport ([`server`]) -> identity and limits -> built-in events -> emit.
//! [`config`] reads the settings, [`rooms`] decides which rooms a client may use, and [`model`]
//! holds the types every layer shares.

pub mod admin;
pub mod api;
pub mod app;
pub mod auth;
pub mod cluster;
pub mod config;
pub mod edge;
pub mod handlers;
pub mod metrics;
pub mod model;
pub mod node;
pub mod random;
pub mod rooms;
pub mod server;
pub mod settings;
pub mod sockets;
pub mod store;
pub mod strapi;
pub mod webhook;
