//! The Strapi bridge: content events from Strapi's webhooks, delivered to the roles a
//! permission matrix allows, with only the fields each role may see.
//!
//! - [`content`]: understanding a webhook body; permissions; field filtering; payload shapes.
//! - [`webhook`]: the HTTP receiver: secret, parsing, de-duplication, delivery.

pub mod content;
pub mod setup;
mod webhook;

pub use webhook::{WebhookStats, router};
