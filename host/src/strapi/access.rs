//! Who may read what: Strapi's own role and API-token permissions (read from Strapi), narrowed
//! by `[strapi.permissions]` and the run-time settings. One answer for every question content
//! delivery asks: may this role read documents of this type (the root document and every
//! related one), does its delivery rule want this action's event, may it read drafts.
//!
//! While Strapi's role permissions are unknown (no admin login configured, or Strapi has not
//! answered yet), the matrix alone decides, as before iohost read them.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde_json::Value;

use super::entities::{Matrix, permissions_of};
use super::schema::{MEDIA_UID, Schemas, model_key};
use crate::config::{DeliveryRule, Permission};
use crate::model::TOKEN_ROLE_PREFIX;

/// Role type (`public`, `authenticated`, `editor`) -> the Strapi actions it has enabled, such
/// as `api::article.article.find`.
pub type RoleActions = BTreeMap<String, HashSet<String>>;

/// What Strapi lets a role or an API token do.
#[derive(Debug, Clone, Copy)]
pub enum Grant<'a> {
    /// A full-access API token.
    Everything,
    /// A read-only API token: `find` and `findOne` on everything.
    ReadOnly,
    /// A role, or a custom API token: these actions.
    Actions(&'a HashSet<String>),
    /// An expired API token, or one that shares its room name with another (iohost cannot
    /// tell their sockets apart there): nothing.
    Nothing,
}

impl Grant<'_> {
    /// Does Strapi let this holder do `permission` on documents of `uid`? Publish and unpublish
    /// are no content-API actions of their own: only a full-access token has them.
    pub fn allows(&self, uid: &str, permission: Permission) -> bool {
        if uid.starts_with("admin::") {
            // Admin users, roles and tokens are never content.
            return false;
        }
        let verb = match permission {
            Permission::Find => "find",
            Permission::Create => "create",
            Permission::Update => "update",
            Permission::Delete => "delete",
            Permission::Publish | Permission::Unpublish => {
                return matches!(self, Grant::Everything);
            }
        };
        match self {
            Grant::Nothing => false,
            Grant::Everything => true,
            Grant::ReadOnly => permission == Permission::Find,
            Grant::Actions(actions) => actions.contains(&action_name(uid, verb)),
        }
    }
}

/// Strapi's name for doing `verb` on `uid`: `api::article.article.find`; the upload plugin's
/// files are `plugin::upload.content-api.find`. Only `find` lets a role read a type (Strapi's
/// own relation check asks for `find`, not `findOne`).
fn action_name(uid: &str, verb: &str) -> String {
    if uid == MEDIA_UID {
        format!("plugin::upload.content-api.{verb}")
    } else {
        format!("{uid}.{verb}")
    }
}

/// The enabled actions in users-permissions' `GET /users-permissions/roles/:id` answer
/// (`role.permissions[<api>].controllers[<controller>][<action>].enabled`).
pub fn enabled_actions(role: &Value) -> HashSet<String> {
    let mut out = HashSet::new();
    let Some(apis) = role.get("permissions").and_then(Value::as_object) else {
        return out;
    };
    for (api, entry) in apis {
        let Some(controllers) = entry.get("controllers").and_then(Value::as_object) else {
            continue;
        };
        for (controller, actions) in controllers {
            let Some(actions) = actions.as_object() else {
                continue;
            };
            for (action, state) in actions {
                if state.get("enabled").and_then(Value::as_bool) == Some(true) {
                    out.insert(format!("{api}.{controller}.{action}"));
                }
            }
        }
    }
    out
}

/// Everything delivery needs to know about who may read what, right now.
pub struct Access<'a> {
    pub rule: DeliveryRule,
    /// `[strapi.permissions]` or its run-time override: narrows what Strapi grants.
    pub configured: &'a Matrix,
    /// Strapi's roles, when read.
    pub roles: Option<&'a RoleActions>,
    /// Strapi's API tokens iohost knows: `token:<name>` -> what Strapi lets it do.
    pub tokens: BTreeMap<String, Grant<'a>>,
    pub schemas: Option<&'a Schemas>,
    /// `[strapi.drafts] roles`.
    pub drafts: &'a [String],
}

impl Access<'_> {
    /// Every role and token that may receive content events.
    pub fn audience(&self) -> BTreeSet<String> {
        let mut all: BTreeSet<String> = self.tokens.keys().cloned().collect();
        match self.roles {
            Some(roles) => all.extend(roles.keys().cloned()),
            None => all.extend(
                self.configured
                    .keys()
                    .filter(|r| !r.starts_with(TOKEN_ROLE_PREFIX))
                    .cloned(),
            ),
        }
        all
    }

    /// What Strapi lets `role` do, when iohost knows it.
    fn grant(&self, role: &str) -> Option<Grant<'_>> {
        if role.starts_with(TOKEN_ROLE_PREFIX) {
            // A token Strapi no longer lists (deleted since its sockets connected) may do
            // nothing, whatever the matrix says of its name.
            return Some(self.tokens.get(role).copied().unwrap_or(Grant::Nothing));
        }
        let roles = self.roles?;
        // A role Strapi does not have may do nothing.
        static NONE: std::sync::LazyLock<HashSet<String>> = std::sync::LazyLock::new(HashSet::new);
        Some(Grant::Actions(roles.get(role).unwrap_or(&NONE)))
    }

    fn key_of(&self, uid: &str) -> String {
        self.schemas
            .map_or_else(|| model_key(uid).to_owned(), |s| s.key_of(uid))
    }

    /// May `role` read documents of `uid`? Strapi must allow `find`, and so must the matrix
    /// where it names the role.
    pub fn readable(&self, role: &str, uid: &str) -> bool {
        if uid.starts_with("admin::") {
            return false;
        }
        let strapi = self.grant(role).map(|g| g.allows(uid, Permission::Find));
        let configured = self.configured.get(role).map(|_| {
            permissions_of(self.configured, role, &self.key_of(uid)).contains(&&Permission::Find)
        });
        match (strapi, configured) {
            (Some(s), Some(c)) => s && c,
            (Some(s), None) => s,
            (None, Some(c)) => c,
            (None, None) => false,
        }
    }

    /// Does `role`'s delivery rule send it `permission`'s events of `uid` in its role room?
    /// `find`: every event of a type it may read. `action`: the plugin's rule, the matching
    /// permission, from the matrix where it names the role, else from Strapi.
    pub fn wants(&self, role: &str, uid: &str, permission: Permission) -> bool {
        match self.rule {
            DeliveryRule::Find => true,
            DeliveryRule::Action => match self.configured.get(role) {
                Some(_) => {
                    permissions_of(self.configured, role, &self.key_of(uid)).contains(&&permission)
                }
                None => self.grant(role).is_some_and(|g| g.allows(uid, permission)),
            },
        }
    }

    /// May `role` receive draft versions?
    pub fn sees_drafts(&self, role: &str) -> bool {
        self.drafts.iter().any(|r| r == role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn roles() -> RoleActions {
        BTreeMap::from([
            (
                "public".to_owned(),
                HashSet::from(["api::article.article.find".to_owned()]),
            ),
            (
                "authenticated".to_owned(),
                HashSet::from([
                    "api::article.article.find".to_owned(),
                    "api::article.article.update".to_owned(),
                    "plugin::users-permissions.user.find".to_owned(),
                    "plugin::upload.content-api.find".to_owned(),
                ]),
            ),
        ])
    }

    fn access<'a>(roles: Option<&'a RoleActions>, configured: &'a Matrix) -> Access<'a> {
        Access {
            rule: DeliveryRule::Find,
            configured,
            roles,
            tokens: BTreeMap::new(),
            schemas: None,
            drafts: &[],
        }
    }

    #[test]
    fn strapi_decides_who_reads_what() {
        let roles = roles();
        let none = Matrix::new();
        let a = access(Some(&roles), &none);
        assert!(a.readable("public", "api::article.article"));
        assert!(!a.readable("public", "plugin::users-permissions.user"));
        assert!(a.readable("authenticated", "plugin::users-permissions.user"));
        assert!(a.readable("authenticated", MEDIA_UID), "upload's find");
        assert!(!a.readable("authenticated", "admin::user"), "never admins");
        assert!(
            !a.readable("editor", "api::article.article"),
            "no such role"
        );
        assert_eq!(
            a.audience().into_iter().collect::<Vec<_>>(),
            ["authenticated", "public"]
        );
    }

    #[test]
    fn the_matrix_only_narrows_what_strapi_grants() {
        let roles = roles();
        let configured = Matrix::from([
            (
                "public".to_owned(),
                BTreeMap::from([
                    ("article".to_owned(), vec![Permission::Find]),
                    ("user".to_owned(), vec![Permission::Find]),
                ]),
            ),
            (
                "authenticated".to_owned(),
                BTreeMap::from([("article".to_owned(), vec![Permission::Find])]),
            ),
        ]);
        let a = access(Some(&roles), &configured);
        assert!(
            !a.readable("public", "plugin::users-permissions.user"),
            "the matrix cannot grant what Strapi does not"
        );
        assert!(a.readable("public", "api::article.article"));
        assert!(
            !a.readable("authenticated", "plugin::users-permissions.user"),
            "a role the matrix names gets only what it lists"
        );
        // Without Strapi's roles, the matrix alone decides.
        let alone = access(None, &configured);
        assert!(alone.readable("public", "plugin::users-permissions.user"));
        assert!(!alone.readable("authenticated", MEDIA_UID));
        assert_eq!(alone.audience().len(), 2);
    }

    #[test]
    fn tokens_get_what_their_type_allows() {
        let custom = HashSet::from(["api::article.article.find".to_owned()]);
        let none = Matrix::new();
        let mut a = access(None, &none);
        a.tokens = BTreeMap::from([
            ("token:all".to_owned(), Grant::Everything),
            ("token:reader".to_owned(), Grant::ReadOnly),
            ("token:custom".to_owned(), Grant::Actions(&custom)),
        ]);
        assert!(a.readable("token:all", "plugin::users-permissions.user"));
        assert!(!a.readable("token:all", "admin::user"));
        assert!(a.readable("token:reader", MEDIA_UID));
        assert!(a.readable("token:custom", "api::article.article"));
        assert!(!a.readable("token:custom", "api::category.category"));
        assert!(!a.readable("token:unknown", "api::article.article"));
        assert!(Grant::Everything.allows("api::a.a", Permission::Publish));
        assert!(!Grant::ReadOnly.allows("api::a.a", Permission::Update));
    }

    #[test]
    fn the_action_rule_wants_the_matching_permission() {
        let roles = roles();
        let configured = Matrix::from([(
            "public".to_owned(),
            BTreeMap::from([(
                "article".to_owned(),
                vec![Permission::Find, Permission::Publish],
            )]),
        )]);
        let mut a = access(Some(&roles), &configured);
        a.rule = DeliveryRule::Action;
        assert!(a.wants("public", "api::article.article", Permission::Publish));
        assert!(!a.wants("public", "api::article.article", Permission::Update));
        assert!(a.wants("authenticated", "api::article.article", Permission::Update));
        assert!(!a.wants("authenticated", "api::article.article", Permission::Create));
    }

    #[test]
    fn enabled_actions_are_read_from_a_role() {
        let role = json!({"name": "Public", "type": "public", "permissions": {
            "api::article": {"controllers": {"article": {
                "find": {"enabled": true}, "create": {"enabled": false}}}},
            "plugin::upload": {"controllers": {"content-api": {"find": {"enabled": true}}}},
        }});
        let actions = enabled_actions(&role);
        assert_eq!(
            actions,
            HashSet::from([
                "api::article.article.find".to_owned(),
                "plugin::upload.content-api.find".to_owned()
            ])
        );
        assert!(enabled_actions(&json!({})).is_empty());
    }
}
