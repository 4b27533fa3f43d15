//! The Strapi bridge: content events from Strapi's webhooks, delivered to the roles a
//! permission matrix allows, with only the fields each role may see.
//!
//! - [`content`]: understanding a webhook body; permissions; field filtering; payload shapes.
//! - [`entities`]: clients following one document.
//! - [`webhook`]: the HTTP receiver: secret, parsing, de-duplication, delivery.

pub mod content;
pub mod entities;
pub mod http;
pub mod setup;
mod webhook;

pub use webhook::{WebhookStats, router};

/// Who receives what right now: the permission matrix (a run-time setting) plus every API token
/// iohost knows, with the permissions of its Strapi type unless the matrix names it.
pub fn effective_matrix(shared: &crate::server::Shared) -> entities::Matrix {
    let mut matrix = shared.live.load().permissions.clone();
    for token in shared.auth.tokens.known() {
        matrix
            .entry(format!(
                "{}{}",
                crate::model::TOKEN_ROLE_PREFIX,
                token.slug()
            ))
            .or_insert(token.permissions);
    }
    matrix
}
