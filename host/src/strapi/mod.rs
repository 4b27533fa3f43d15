//! Strapi's side of content delivery: what a webhook body means and who may read what, with at
//! most what Strapi's REST API would show each role (the receiver itself is the `webhook` edge).
//!
//! - [`content`]: understanding a webhook body; payload shapes.
//! - [`catalog`]: Strapi's content types and role permissions, read through the admin API.
//! - [`access`]: who may read what (Strapi's permissions, narrowed by the matrix).
//! - [`shape`]: the one rule for what of an entry a role receives.
//! - [`entities`]: clients following one document.
//! - [`schema`]: content types and components, as Strapi's admin API describes them.
//! - [`admin_api`], [`client`]: talking to Strapi; [`credentials`]: what with, swapped while
//!   iohost runs; [`tokens`]: API tokens as iohost sees them.
//! - [`setup`]: `iohost strapi setup`.

pub mod access;
pub mod admin_api;
pub mod catalog;
pub mod client;
pub mod content;
pub mod credentials;
pub mod entities;
pub mod schema;
pub mod setup;
pub mod shape;
pub mod tokens;

use std::sync::Arc;

/// Everything "who may read what" depends on, read once: the run-time matrix, the API tokens
/// iohost knows and what it knows of Strapi.
pub struct Snapshot {
    permissions: Arc<content::Permissions>,
    tokens: Vec<tokens::ApiToken>,
    pub known: Arc<catalog::Known>,
}

impl Snapshot {
    pub fn new(
        permissions: Arc<content::Permissions>,
        tokens: Vec<tokens::ApiToken>,
        known: Arc<catalog::Known>,
    ) -> Self {
        Self {
            permissions,
            tokens,
            known,
        }
    }

    pub fn access<'a>(&'a self, config: &'a crate::config::StrapiConfig) -> access::Access<'a> {
        access::Access {
            rule: config.delivery,
            configured: &self.permissions,
            roles: self.known.roles.as_ref(),
            tokens: tokens::grants(&self.tokens),
            schemas: self.known.schemas.as_ref(),
            drafts: &config.drafts.roles,
        }
    }
}
