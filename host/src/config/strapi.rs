//! `[strapi]`: the webhook receiver, who receives which content events, and which fields.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StrapiConfig {
    /// Path Strapi's webhook posts to.
    pub webhook_path: String,
    /// Shared secret: the webhook must send `Authorization: Bearer <secret>`. Empty: the
    /// receiver answers 503 to everything.
    pub webhook_secret: String,
    /// Which permission lets a role receive an action's event.
    pub delivery: DeliveryRule,
    /// Shape of the event payload clients receive.
    pub payload: PayloadShape,
    /// Namespaces content events are emitted in.
    pub namespaces: Vec<String>,
    /// role -> content type (singular name, e.g. `article`) -> permissions.
    pub permissions: BTreeMap<String, BTreeMap<String, Vec<Permission>>>,
    /// content type -> which fields may leave.
    pub fields: BTreeMap<String, FieldRules>,
}

impl Default for StrapiConfig {
    fn default() -> Self {
        Self {
            webhook_path: "/strapi/webhook".to_owned(),
            webhook_secret: String::new(),
            delivery: DeliveryRule::Find,
            payload: PayloadShape::V4,
            namespaces: vec!["/".to_owned()],
            permissions: BTreeMap::new(),
            fields: BTreeMap::new(),
        }
    }
}

// The secret stays out of logs and debug output.
impl std::fmt::Debug for StrapiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StrapiConfig")
            .field("webhook_path", &self.webhook_path)
            .field(
                "webhook_secret",
                &if self.webhook_secret.is_empty() {
                    ""
                } else {
                    "[hidden]"
                },
            )
            .field("delivery", &self.delivery)
            .field("payload", &self.payload)
            .field("namespaces", &self.namespaces)
            .field("permissions", &self.permissions)
            .field("fields", &self.fields)
            .finish()
    }
}

/// `find` (the default): a role allowed to read a content type receives every change to it,
/// which is what a page listing articles needs and reveals nothing it could not fetch.
/// `action`: the plugin's rule, `create` permission for `:create` and so on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryRule {
    Find,
    Action,
}

/// `v4`: the plugin's `{data: {id, attributes}, meta: {}}` (delete: `{data: {id, documentId}}`).
/// `flat`: Strapi 5's `{data: {id, documentId, ...fields}, meta: {}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadShape {
    V4,
    Flat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    Find,
    Create,
    Update,
    Delete,
    Publish,
    Unpublish,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FieldRules {
    /// Fields no role ever receives.
    pub deny: Vec<String>,
    /// Per role: `allow` (only these, besides `id` and `documentId`) and/or more `deny`.
    pub roles: BTreeMap<String, RoleFields>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoleFields {
    pub allow: Option<Vec<String>>,
    pub deny: Vec<String>,
}
