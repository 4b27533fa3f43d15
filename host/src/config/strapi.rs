//! `[strapi]`: the webhook receiver, who receives which content events, and which fields.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StrapiConfig {
    /// Strapi's base URL (http), for looking up users.
    pub url: String,
    /// Extra trusted certificates (PEM) for an https Strapi behind a private authority.
    pub ca_file: std::path::PathBuf,
    /// users-permissions' `JWT_SECRET`, to verify users' tokens. Empty: token logins are refused.
    pub jwt_secret: String,
    /// Seconds a JWT's `exp` and `nbf` may be off by (clock skew between Strapi and iohost).
    /// 0, as Strapi itself: a token expired one second ago is refused.
    pub jwt_leeway_s: u64,
    /// A Strapi API token (full access, or custom with users-permissions `user.findOne`) to look
    /// users' roles up. Without it a user's own token reads `/api/users/me`, which does not show
    /// the role: a user is then `authenticated` where Strapi has no other role for users (or
    /// iohost does not read Strapi's roles), else `(unknown)`, which gets no content events.
    pub api_token: String,
    /// A Strapi admin user that may read API tokens (Settings > API tokens: read), for clients
    /// that connect with an API token. Empty: API-token logins are refused. `iohost strapi
    /// setup` can create one that may do nothing else.
    pub admin_email: String,
    pub admin_password: String,
    /// How long a user's role, `blocked` and `confirmed` (and the API token list) are trusted
    /// before asking Strapi again.
    pub identity_cache_ms: u64,
    /// Longest wait for Strapi when looking a user up.
    pub lookup_timeout_ms: u64,
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
    /// Most documents one socket may follow with `subscribe-entity`; 0 turns them off.
    pub entity_subscriptions_max: usize,
    /// Who may receive draft versions of documents.
    pub drafts: DraftsConfig,
    /// How often Strapi's content types and role permissions are read again (sooner when a
    /// webhook names a type or field iohost does not know).
    pub refresh_ms: u64,
}

/// `[strapi.drafts]`: content types with draft & publish keep a draft and a published version
/// of each document; only these roles (and `token:<name>`s) receive changes to drafts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DraftsConfig {
    pub roles: Vec<String>,
}

impl Default for StrapiConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:1337".to_owned(),
            ca_file: std::path::PathBuf::new(),
            jwt_secret: String::new(),
            jwt_leeway_s: 0,
            api_token: String::new(),
            admin_email: String::new(),
            admin_password: String::new(),
            identity_cache_ms: 60_000,
            lookup_timeout_ms: 3_000,
            webhook_path: "/strapi/webhook".to_owned(),
            webhook_secret: String::new(),
            delivery: DeliveryRule::Find,
            payload: PayloadShape::V4,
            namespaces: vec!["/".to_owned()],
            permissions: BTreeMap::new(),
            fields: BTreeMap::new(),
            entity_subscriptions_max: 100,
            drafts: DraftsConfig::default(),
            refresh_ms: 30_000,
        }
    }
}

// The secret stays out of logs and debug output.
impl std::fmt::Debug for StrapiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |s: &str| if s.is_empty() { "" } else { "[hidden]" };
        f.debug_struct("StrapiConfig")
            .field("url", &self.url)
            .field("ca_file", &self.ca_file)
            .field("jwt_secret", &hidden(&self.jwt_secret))
            .field("jwt_leeway_s", &self.jwt_leeway_s)
            .field("api_token", &hidden(&self.api_token))
            .field("admin_email", &self.admin_email)
            .field("admin_password", &hidden(&self.admin_password))
            .field("identity_cache_ms", &self.identity_cache_ms)
            .field("lookup_timeout_ms", &self.lookup_timeout_ms)
            .field("webhook_path", &self.webhook_path)
            .field("webhook_secret", &hidden(&self.webhook_secret))
            .field("delivery", &self.delivery)
            .field("payload", &self.payload)
            .field("namespaces", &self.namespaces)
            .field("permissions", &self.permissions)
            .field("fields", &self.fields)
            .field("entity_subscriptions_max", &self.entity_subscriptions_max)
            .field("drafts", &self.drafts)
            .field("refresh_ms", &self.refresh_ms)
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

/// `[strapi.fields.<type>]`, for a content type (`article`, `user`, `media`) or a component
/// (`"shared.seo"`), wherever it appears: paths of attribute names from that type, through
/// relations, components and dynamic zones (`author.email`, `seo.metaTitle`, `blocks.text`).
/// Rules only remove: nothing they say shows what Strapi would not.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FieldRules {
    /// Paths no role ever receives.
    pub deny: Vec<String>,
    /// Per role: `allow` (only these paths, the objects holding them, and what is below them;
    /// `id` and `documentId` always) and/or more `deny`.
    pub roles: BTreeMap<String, RoleFields>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoleFields {
    pub allow: Option<Vec<String>>,
    pub deny: Vec<String>,
}
