//! The one rule for what leaves iohost in a content event: a role receives at most what
//! Strapi's REST API would show it for the same document, deep-populated.
//!
//! Walks the entry along its schema, at every depth:
//! - attributes the schema marks `private`, passwords, and keys the schema does not know are
//!   removed (Strapi strips private ones before the webhook already: this is defence in depth);
//! - a related document (relation or media) stays only when the role may `find` its type, as
//!   Strapi's `removeRestrictedRelations` does, and is itself shaped by its own schema; an
//!   unpublished related document stays only for roles that may read drafts; polymorphic
//!   relations and creator fields never leave;
//! - components and dynamic-zone items are shaped by their component's schema;
//! - `[strapi.fields]` rules apply by path (`author.email`, `seo.metaSecret`, `blocks.text`)
//!   from the document's type, and a nested type's own rules apply wherever it appears;
//! - a value that does not fit its attribute (an object where text belongs, a relation that is
//!   a string) is removed and reported.
//!
//! `id` and `documentId` (and a dynamic-zone item's `__component`) always stay.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use serde_json::{Map, Value};

use super::access::Access;
use super::schema::{Attribute, Kind, MEDIA_UID, Schemas};
use crate::config::FieldRules;

/// Keys every object keeps: they say which document or component it is.
const IDENTITY: [&str; 2] = ["id", "documentId"];
/// Keys Strapi adds to every document that the content manager does not list as attributes.
const SYSTEM: [&str; 4] = ["publishedAt", "locale", "createdAt", "updatedAt"];
const COMPONENT_KEY: &str = "__component";

/// What a walk found wrong with the entry itself (the same for every role).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Findings {
    /// Keys the schema does not know (`article.subtitle`): the schema may be out of date.
    pub unknown: BTreeSet<String>,
    /// Values that do not fit their attribute, with what was expected.
    pub mismatched: BTreeSet<String>,
}

impl Findings {
    pub fn is_empty(&self) -> bool {
        self.unknown.is_empty() && self.mismatched.is_empty()
    }

    pub fn merge(&mut self, other: Findings) {
        self.unknown.extend(other.unknown);
        self.mismatched.extend(other.mismatched);
    }
}

/// One role's `[strapi.fields]` rules for one type, as paths.
#[derive(Debug)]
struct RuleSet {
    deny: Vec<Vec<String>>,
    allow: Option<Vec<Vec<String>>>,
}

fn split(path: &str) -> Vec<String> {
    path.split('.').map(str::to_owned).collect()
}

impl RuleSet {
    fn new(rules: &FieldRules, role: &str) -> Self {
        let own = rules.roles.get(role);
        let deny = rules
            .deny
            .iter()
            .chain(own.into_iter().flat_map(|r| &r.deny))
            .map(|d| split(d))
            .collect();
        let allow = own
            .and_then(|r| r.allow.as_ref())
            .map(|a| a.iter().map(|p| split(p)).collect());
        Self { deny, allow }
    }

    /// Denied: a deny path is this path or above it. Allowed (when the role has an allow
    /// list): an allow path is this path, above it, or below it (the object holding it).
    fn permits(&self, path: &[String]) -> bool {
        if self.deny.iter().any(|d| path.starts_with(d)) {
            return false;
        }
        self.allow.as_ref().is_none_or(|allow| {
            allow
                .iter()
                .any(|a| path.starts_with(a) || a.starts_with(path))
        })
    }
}

/// A type's rules, and where the walk is relative to that type.
#[derive(Debug, Clone)]
struct Scoped {
    rules: Rc<RuleSet>,
    path: Vec<String>,
}

impl Scoped {
    fn enter(&self, key: &str) -> Self {
        let mut path = self.path.clone();
        path.push(key.to_owned());
        Self {
            rules: self.rules.clone(),
            path,
        }
    }
}

/// Shapes entries for one role.
pub struct Shaper<'a> {
    pub schemas: Option<&'a Schemas>,
    pub access: &'a Access<'a>,
    pub fields: &'a BTreeMap<String, FieldRules>,
    pub role: &'a str,
}

impl Shaper<'_> {
    /// The entry of a document of type `uid`, with only what this role may see.
    pub fn document(
        &self,
        uid: &str,
        entry: &Map<String, Value>,
        found: &mut Findings,
    ) -> Map<String, Value> {
        let scopes = self.own_rules(uid).into_iter().collect::<Vec<_>>();
        match self.schemas {
            Some(schemas) if schemas.get(uid).is_some() => {
                self.object(schemas, uid, entry, &scopes, &self.key_of(uid), found)
            }
            _ => {
                found.unknown.insert(self.key_of(uid));
                scalars_only(entry, &scopes)
            }
        }
    }

    fn key_of(&self, uid: &str) -> String {
        self.schemas.map_or_else(
            || super::schema::model_key(uid).to_owned(),
            |s| s.key_of(uid),
        )
    }

    /// The rules a type brings wherever it appears.
    fn own_rules(&self, uid: &str) -> Option<Scoped> {
        self.fields.get(&self.key_of(uid)).map(|rules| Scoped {
            rules: Rc::new(RuleSet::new(rules, self.role)),
            path: Vec::new(),
        })
    }

    fn object(
        &self,
        schemas: &Schemas,
        uid: &str,
        object: &Map<String, Value>,
        scopes: &[Scoped],
        at: &str,
        found: &mut Findings,
    ) -> Map<String, Value> {
        let mut out = Map::new();
        let Some(model) = schemas.get(uid) else {
            found.unknown.insert(at.to_owned());
            return identity(object);
        };
        const SYSTEM_ATTRIBUTE: Attribute = Attribute {
            kind: Kind::Scalar,
            private: false,
        };
        for (key, value) in object {
            if IDENTITY.contains(&key.as_str()) {
                if is_scalar(value) {
                    out.insert(key.clone(), value.clone());
                }
                continue;
            }
            if key == COMPONENT_KEY {
                continue;
            }
            let here = format!("{at}.{key}");
            let attribute = match model.attributes.get(key) {
                Some(attribute) => attribute,
                None if SYSTEM.contains(&key.as_str()) => &SYSTEM_ATTRIBUTE,
                None => {
                    found.unknown.insert(here);
                    continue;
                }
            };
            if attribute.private {
                continue;
            }
            let inner: Vec<Scoped> = scopes.iter().map(|s| s.enter(key)).collect();
            if !inner.iter().all(|s| s.rules.permits(&s.path)) {
                continue;
            }
            if let Some(value) = self.value(schemas, attribute, value, &inner, &here, found) {
                out.insert(key.clone(), value);
            }
        }
        out
    }

    fn value(
        &self,
        schemas: &Schemas,
        attribute: &Attribute,
        value: &Value,
        scopes: &[Scoped],
        here: &str,
        found: &mut Findings,
    ) -> Option<Value> {
        match &attribute.kind {
            Kind::Scalar if is_scalar(value) => Some(value.clone()),
            Kind::Scalar => {
                found
                    .mismatched
                    .insert(format!("{here}: expected a single value"));
                None
            }
            Kind::Opaque => Some(value.clone()),
            Kind::Secret => None,
            // Polymorphic relations name their types per item; Strapi's webhook never
            // populates them, so they are not worth the risk.
            Kind::Relation { morph: true, .. } => None,
            Kind::Relation { target, .. } => {
                self.related(schemas, target, value, scopes, here, found)
            }
            Kind::Media => self.related(schemas, MEDIA_UID, value, scopes, here, found),
            Kind::Component { component } => {
                let scopes = self.with_own_rules(scopes, component);
                self.each(value, here, found, |object, found| {
                    Some(self.object(schemas, component, object, &scopes, here, found))
                })
            }
            Kind::DynamicZone { components } => {
                let Value::Array(items) = value else {
                    if !value.is_null() {
                        found
                            .mismatched
                            .insert(format!("{here}: expected a list of components"));
                    }
                    return None;
                };
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let Some(object) = item.as_object() else {
                        found
                            .mismatched
                            .insert(format!("{here}: expected components"));
                        continue;
                    };
                    let Some(component) = object
                        .get(COMPONENT_KEY)
                        .and_then(Value::as_str)
                        .filter(|c| components.iter().any(|known| known == c))
                    else {
                        found
                            .mismatched
                            .insert(format!("{here}: an item without a known `__component`"));
                        continue;
                    };
                    let scopes = self.with_own_rules(scopes, component);
                    let mut shaped = self.object(schemas, component, object, &scopes, here, found);
                    shaped.insert(COMPONENT_KEY.to_owned(), Value::from(component));
                    out.push(Value::Object(shaped));
                }
                Some(Value::Array(out))
            }
        }
    }

    /// Related documents of `target`: only for a role that may `find` that type, never an
    /// unpublished one for a role that may not read drafts, each shaped by its own schema.
    fn related(
        &self,
        schemas: &Schemas,
        target: &str,
        value: &Value,
        scopes: &[Scoped],
        here: &str,
        found: &mut Findings,
    ) -> Option<Value> {
        if !self.access.readable(self.role, target) {
            return None;
        }
        let drafts_hidden = !self.access.sees_drafts(self.role)
            && schemas.get(target).is_some_and(|m| m.draft_and_publish);
        let scopes = self.with_own_rules(scopes, target);
        self.each(value, here, found, |object, found| {
            // Unpopulated relations come as `{count: n}`: no document to show.
            if !IDENTITY.iter().any(|k| object.contains_key(*k)) {
                return None;
            }
            if drafts_hidden && object.get("publishedAt").is_none_or(Value::is_null) {
                return None;
            }
            Some(self.object(schemas, target, object, &scopes, here, found))
        })
    }

    fn with_own_rules(&self, scopes: &[Scoped], uid: &str) -> Vec<Scoped> {
        let mut scopes = scopes.to_vec();
        scopes.extend(self.own_rules(uid));
        scopes
    }

    /// `null`, one object, or a list of objects, each through `shape`.
    fn each(
        &self,
        value: &Value,
        here: &str,
        found: &mut Findings,
        shape: impl Fn(&Map<String, Value>, &mut Findings) -> Option<Map<String, Value>>,
    ) -> Option<Value> {
        match value {
            Value::Null => Some(Value::Null),
            Value::Object(object) => shape(object, found).map(Value::Object),
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match item.as_object() {
                        Some(object) => out.extend(shape(object, found).map(Value::Object)),
                        None => {
                            found.mismatched.insert(format!("{here}: expected objects"));
                        }
                    }
                }
                Some(Value::Array(out))
            }
            _ => {
                found
                    .mismatched
                    .insert(format!("{here}: expected an object or a list of objects"));
                None
            }
        }
    }
}

fn is_scalar(value: &Value) -> bool {
    !matches!(value, Value::Object(_) | Value::Array(_))
}

fn identity(object: &Map<String, Value>) -> Map<String, Value> {
    object
        .iter()
        .filter(|(k, v)| IDENTITY.contains(&k.as_str()) && is_scalar(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Without a schema nothing nested is provably safe: only the document's own single values
/// (Strapi removed its private ones before sending the webhook), by the type's rules.
fn scalars_only(entry: &Map<String, Value>, scopes: &[Scoped]) -> Map<String, Value> {
    entry
        .iter()
        .filter(|(key, value)| {
            is_scalar(value)
                && (IDENTITY.contains(&key.as_str())
                    || scopes.iter().all(|s| s.rules.permits(&s.enter(key).path)))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::access::{Grant, RoleActions};
    use super::super::entities::Matrix;
    use super::super::schema::tests::blog;
    use super::*;
    use crate::config::{DeliveryRule, RoleFields};
    use serde_json::json;

    fn entry() -> Map<String, Value> {
        let user = json!({"id": 1, "documentId": "u1", "username": "ada", "email": "ada@example.com",
            "resetPasswordToken": "t", "password": "p", "role": {"id": 1, "name": "Authenticated"}});
        let category = json!({"id": 4, "documentId": "c1", "name": "News", "secretCode": "S"});
        let file = json!({"id": 9, "documentId": "f1", "name": "dot.png", "url": "/uploads/dot.png",
            "formats": {"thumb": {"url": "/t.png"}}, "folderPath": "/1"});
        let value = json!({
            "id": 2, "documentId": "a1", "title": "Hello", "description": "d", "internalNotes": "n",
            "reviewerEmail": "r@x.io", "views": 3, "extra": {"nested": {"ok": true}},
            "publishedAt": "2026-01-01T00:00:00.000Z", "createdAt": "c", "updatedAt": "u",
            "author": user, "category": category, "cover": file,
            "related": [{"id": 7, "documentId": "a2", "title": "Published", "publishedAt": "p"},
                        {"id": 8, "documentId": "a3", "title": "Draft", "publishedAt": null}],
            "seo": {"id": 1, "metaTitle": "M", "metaSecret": "MS", "ogImage": file},
            "links": [{"id": 3, "label": "L", "internalTag": "IT", "category": category}],
            "blocks": [
                {"id": 5, "__component": "shared.quote", "text": "Q", "by": user},
                {"id": 6, "__component": "shared.link", "label": "BL", "internalTag": "BIT", "category": category},
                {"id": 7, "__component": "shared.unknown", "secret": "x"},
            ],
            "anything": [{"__type": "api::category.category", "id": 4}],
            "createdBy": {"id": 1, "firstname": "Admin", "email": "admin@example.com"},
        });
        value.as_object().cloned().expect("object")
    }

    struct Case {
        roles: RoleActions,
        matrix: Matrix,
        fields: BTreeMap<String, FieldRules>,
        drafts: Vec<String>,
    }

    impl Case {
        fn new(actions: &[&str]) -> Self {
            Self {
                roles: BTreeMap::from([(
                    "public".to_owned(),
                    actions.iter().map(|a| (*a).to_owned()).collect(),
                )]),
                matrix: Matrix::new(),
                fields: BTreeMap::new(),
                drafts: Vec::new(),
            }
        }

        fn shape(&self, role: &str) -> (Value, Findings) {
            let schemas = blog();
            let access = Access {
                rule: DeliveryRule::Find,
                configured: &self.matrix,
                roles: Some(&self.roles),
                tokens: BTreeMap::from([("token:all".to_owned(), Grant::Everything)]),
                schemas: Some(&schemas),
                drafts: &self.drafts,
            };
            let shaper = Shaper {
                schemas: Some(&schemas),
                access: &access,
                fields: &self.fields,
                role,
            };
            let mut found = Findings::default();
            let out = shaper.document("api::article.article", &entry(), &mut found);
            (Value::Object(out), found)
        }
    }

    const ARTICLE: &str = "api::article.article.find";

    #[test]
    fn private_fields_go_at_every_depth_and_relations_need_find() {
        let (out, found) = Case::new(&[ARTICLE]).shape("public");
        assert_eq!(out["title"], "Hello");
        assert_eq!(
            out["extra"],
            json!({"nested": {"ok": true}}),
            "json is the type's own data"
        );
        assert!(out.get("reviewerEmail").is_none(), "private");
        for gone in ["author", "category", "cover", "createdBy", "anything"] {
            assert!(
                out.get(gone).is_none(),
                "{gone}: public may not find its type"
            );
        }
        assert_eq!(
            out["seo"],
            json!({"id": 1, "metaTitle": "M"}),
            "private and media removed inside the component"
        );
        assert_eq!(out["links"], json!([{"id": 3, "label": "L"}]));
        assert_eq!(
            out["blocks"],
            json!([{"id": 5, "__component": "shared.quote", "text": "Q"},
                   {"id": 6, "__component": "shared.link", "label": "BL"}]),
            "an unknown component is dropped"
        );
        assert_eq!(
            out["related"],
            json!([{"id": 7, "documentId": "a2", "title": "Published", "publishedAt": "p"}]),
            "never an unpublished related document"
        );
        assert!(
            found
                .mismatched
                .iter()
                .any(|m| m.contains("article.blocks")),
            "{found:?}"
        );
    }

    #[test]
    fn related_documents_follow_their_own_schema_and_permissions() {
        let (out, _) = Case::new(&[
            ARTICLE,
            "plugin::users-permissions.user.find",
            "api::category.category.find",
            "plugin::upload.content-api.find",
        ])
        .shape("public");
        assert_eq!(
            out["author"],
            json!({"id": 1, "documentId": "u1", "username": "ada", "email": "ada@example.com"}),
            "password and tokens never; role needs find on roles"
        );
        assert_eq!(
            out["category"],
            json!({"id": 4, "documentId": "c1", "name": "News"})
        );
        assert_eq!(
            out["cover"],
            json!({"id": 9, "documentId": "f1", "name": "dot.png", "url": "/uploads/dot.png", "formats": {"thumb": {"url": "/t.png"}}})
        );
        assert_eq!(out["blocks"][0]["by"]["username"], "ada");
        assert_eq!(out["links"][0]["category"]["name"], "News");
        assert!(
            out.get("createdBy").is_none(),
            "admin users never leave, even for full access"
        );
        let (all, _) = Case::new(&[]).shape("token:all");
        assert!(all.get("createdBy").is_none());
        assert!(
            all["author"].get("role").is_some(),
            "full access finds roles"
        );
        assert!(all["author"].get("password").is_none());
    }

    #[test]
    fn drafts_of_related_documents_reach_only_draft_readers() {
        let mut case = Case::new(&[ARTICLE]);
        case.drafts = vec!["public".into()];
        let (out, _) = case.shape("public");
        assert_eq!(out["related"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn field_rules_apply_by_path_and_by_type_at_any_depth() {
        let mut case = Case::new(&[
            ARTICLE,
            "plugin::users-permissions.user.find",
            "api::category.category.find",
        ]);
        case.fields.insert(
            "article".into(),
            FieldRules {
                deny: vec![
                    "internalNotes".into(),
                    "seo.metaTitle".into(),
                    "blocks.text".into(),
                ],
                roles: BTreeMap::new(),
            },
        );
        case.fields.insert(
            "user".into(),
            FieldRules {
                deny: vec!["email".into()],
                ..Default::default()
            },
        );
        case.fields.insert(
            "shared.link".into(),
            FieldRules {
                deny: vec!["category.name".into()],
                ..Default::default()
            },
        );
        let (out, _) = case.shape("public");
        assert!(out.get("internalNotes").is_none());
        assert_eq!(out["seo"], json!({"id": 1}));
        assert!(out["blocks"][0].get("text").is_none());
        assert_eq!(
            out["author"],
            json!({"id": 1, "documentId": "u1", "username": "ada"}),
            "the user type's own rule"
        );
        assert_eq!(
            out["blocks"][0]["by"].get("email"),
            None,
            "wherever a user appears"
        );
        assert_eq!(
            out["links"][0]["category"],
            json!({"id": 4, "documentId": "c1"}),
            "a component's own rule"
        );
        assert_eq!(
            out["blocks"][1]["category"],
            json!({"id": 4, "documentId": "c1"}),
            "in a dynamic zone too"
        );
        assert_eq!(
            out["category"]["name"], "News",
            "the component's rule stays inside it"
        );
    }

    #[test]
    fn a_role_allow_list_keeps_only_its_paths_and_never_widens() {
        let mut case = Case::new(&[ARTICLE, "plugin::users-permissions.user.find"]);
        case.fields.insert(
            "article".into(),
            FieldRules {
                deny: vec![],
                roles: BTreeMap::from([(
                    "public".into(),
                    RoleFields {
                        allow: Some(vec![
                            "title".into(),
                            "author.username".into(),
                            "category".into(),
                            "reviewerEmail".into(),
                        ]),
                        deny: vec![],
                    },
                )]),
            },
        );
        let (out, _) = case.shape("public");
        assert_eq!(
            out,
            json!({"id": 2, "documentId": "a1", "title": "Hello", "author": {"id": 1, "documentId": "u1", "username": "ada"}}),
            "category: allowed but not findable; reviewerEmail: allowed but private"
        );
    }

    #[test]
    fn values_that_do_not_fit_their_attribute_are_removed_and_reported() {
        let case = Case::new(&[ARTICLE, "plugin::users-permissions.user.find"]);
        let schemas = blog();
        let access = Access {
            rule: DeliveryRule::Find,
            configured: &case.matrix,
            roles: Some(&case.roles),
            tokens: BTreeMap::new(),
            schemas: Some(&schemas),
            drafts: &[],
        };
        let shaper = Shaper {
            schemas: Some(&schemas),
            access: &access,
            fields: &case.fields,
            role: "public",
        };
        let bad = json!({"id": 1, "documentId": "a", "title": {"html": "<b>"}, "author": "ada", "seo": 5,
            "blocks": {"__component": "shared.quote"}, "links": [1, {"id": 2, "label": ["x"]}], "subtitle": "new"});
        let mut found = Findings::default();
        let out = shaper.document(
            "api::article.article",
            bad.as_object().expect("obj"),
            &mut found,
        );
        assert_eq!(
            Value::Object(out),
            json!({"id": 1, "documentId": "a", "links": [{"id": 2}]})
        );
        assert_eq!(
            found.unknown,
            BTreeSet::from(["article.subtitle".to_owned()])
        );
        assert_eq!(found.mismatched.len(), 6, "{found:?}");
    }

    #[test]
    fn without_a_schema_only_the_documents_own_single_values_leave() {
        let case = Case::new(&[]);
        let access = Access {
            rule: DeliveryRule::Find,
            configured: &case.matrix,
            roles: None,
            tokens: BTreeMap::new(),
            schemas: None,
            drafts: &[],
        };
        let fields = BTreeMap::from([(
            "article".to_owned(),
            FieldRules {
                deny: vec!["internalNotes".into()],
                ..Default::default()
            },
        )]);
        let shaper = Shaper {
            schemas: None,
            access: &access,
            fields: &fields,
            role: "public",
        };
        let mut found = Findings::default();
        let out = shaper.document("api::article.article", &entry(), &mut found);
        let keys: Vec<&str> = out.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "createdAt",
                "description",
                "documentId",
                "id",
                "publishedAt",
                "reviewerEmail",
                "title",
                "updatedAt",
                "views"
            ]
        );
        assert!(found.unknown.contains("article"));
    }
}
