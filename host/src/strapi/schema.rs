//! Strapi's content types and components, as far as shaping a payload needs them: which
//! attribute is a relation to which type, a media field, a component, a dynamic zone, a private
//! field or a plain value, and which types have draft & publish.
//!
//! Read from the admin API's `GET /content-manager/content-types` and
//! `GET /content-manager/components` (any signed-in admin may read them), see [`Schemas::parse`].

use std::collections::HashMap;

use serde_json::Value;

/// The upload plugin's file type: what media fields hold.
pub const MEDIA_UID: &str = "plugin::upload.file";
/// The name iohost gives media files in event names, rules and the permission matrix
/// (`media:create`, `media = ["find"]`).
pub const MEDIA_MODEL: &str = "media";

/// What one attribute holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A string, number, boolean or null (string, text, email, enumeration, dates, ...).
    Scalar,
    /// Any JSON the type itself stores (`json`, `blocks`): no relation can hide inside.
    Opaque,
    /// Never shown (`password`).
    Secret,
    /// Related documents of type `target`; `morph` relations name their types per item.
    Relation { target: String, morph: bool },
    /// Upload files (one, or a list when `multiple`).
    Media,
    /// A component (one, or a list when `repeatable`).
    Component { component: String },
    /// A list of components of these types, each naming its type in `__component`.
    DynamicZone { components: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub kind: Kind,
    /// Marked `private` in the schema: Strapi's API never shows it.
    pub private: bool,
}

/// A content type or a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    pub uid: String,
    /// The content type's API name (`article`; what webhooks call `model`); a component's uid.
    pub key: String,
    pub draft_and_publish: bool,
    pub attributes: HashMap<String, Attribute>,
}

/// Every content type and component Strapi described, by uid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schemas {
    models: HashMap<String, Model>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("expected {{data: [...]}} listing {0}")]
    NotAList(&'static str),
    #[error("a {0} without a uid")]
    NoUid(&'static str),
}

impl Schemas {
    /// From the two content-manager answers (`{data: [...]}` each).
    pub fn parse(content_types: &Value, components: &Value) -> Result<Self, SchemaError> {
        let list = |v: &'static str, body: &Value| {
            body.get("data")
                .and_then(Value::as_array)
                .cloned()
                .ok_or(SchemaError::NotAList(v))
        };
        let mut models = HashMap::new();
        for item in list("content types", content_types)? {
            let model = Model::parse(&item, false).ok_or(SchemaError::NoUid("content type"))?;
            models.insert(model.uid.clone(), model);
        }
        for item in list("components", components)? {
            let model = Model::parse(&item, true).ok_or(SchemaError::NoUid("component"))?;
            models.insert(model.uid.clone(), model);
        }
        Ok(Self { models })
    }

    pub fn get(&self, uid: &str) -> Option<&Model> {
        self.models.get(uid)
    }

    pub fn len(&self) -> usize {
        self.models.len()
    }

    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// The content type a webhook's `model` names (its API name), if known.
    pub fn by_key(&self, key: &str) -> Option<&Model> {
        self.models
            .values()
            .find(|m| m.key == key && !m.uid.starts_with("admin::") && m.uid.contains("::"))
    }

    /// The name rules and the matrix use for `uid` (see [`model_key`]).
    pub fn key_of(&self, uid: &str) -> String {
        match self.get(uid) {
            Some(_) if uid == MEDIA_UID => MEDIA_MODEL.to_owned(),
            Some(model) => model.key.clone(),
            None => model_key(uid).to_owned(),
        }
    }
}

/// The name of a type in rules, the matrix and event names, from its uid alone: media files
/// are `media`, a content type its last segment (`api::article.article` -> `article`), a
/// component its uid (`shared.seo`).
pub fn model_key(uid: &str) -> &str {
    if uid == MEDIA_UID {
        return MEDIA_MODEL;
    }
    match uid.split_once("::") {
        Some((_, rest)) => rest.rsplit('.').next().unwrap_or(rest),
        None => uid,
    }
}

impl Model {
    fn parse(item: &Value, component: bool) -> Option<Self> {
        let uid = item.get("uid")?.as_str()?.to_owned();
        let key = if component {
            uid.clone()
        } else {
            item.get("apiID")
                .and_then(Value::as_str)
                .map_or_else(|| model_key(&uid).to_owned(), str::to_owned)
        };
        let draft_and_publish = item
            .pointer("/options/draftAndPublish")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let attributes = item
            .get("attributes")
            .and_then(Value::as_object)
            .map(|all| {
                all.iter()
                    .map(|(name, a)| (name.clone(), Attribute::parse(a)))
                    .collect()
            })
            .unwrap_or_default();
        Some(Self {
            uid,
            key,
            draft_and_publish,
            attributes,
        })
    }
}

impl Attribute {
    fn parse(a: &Value) -> Self {
        let text = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or_default();
        let kind = match text("type") {
            "relation" => Kind::Relation {
                target: text("target").to_owned(),
                morph: text("relation").to_ascii_lowercase().starts_with("morph"),
            },
            "media" => Kind::Media,
            "component" => Kind::Component {
                component: text("component").to_owned(),
            },
            "dynamiczone" => Kind::DynamicZone {
                components: a
                    .get("components")
                    .and_then(Value::as_array)
                    .map(|c| {
                        c.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            "password" => Kind::Secret,
            "json" | "blocks" => Kind::Opaque,
            // Every other type (and custom fields, stored as one of these) holds one value.
            _ => Kind::Scalar,
        };
        Self {
            kind,
            private: a.get("private").and_then(Value::as_bool).unwrap_or(false),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// The test Strapi's schemas (tests/strapi/app), as the content manager describes them.
    pub(crate) fn blog() -> Schemas {
        let relation =
            |target: &str| json!({"type": "relation", "relation": "manyToOne", "target": target});
        let creator = json!({"type": "relation", "relation": "oneToOne", "target": "admin::user", "private": true});
        let content_types = json!({"data": [
            {"uid": "api::article.article", "apiID": "article", "kind": "collectionType",
             "options": {"draftAndPublish": true}, "attributes": {
                "id": {"type": "integer"}, "documentId": {"type": "string"},
                "title": {"type": "string"}, "description": {"type": "text"},
                "internalNotes": {"type": "text"}, "reviewerEmail": {"type": "email", "private": true},
                "views": {"type": "integer"}, "extra": {"type": "json"},
                "author": relation("plugin::users-permissions.user"),
                "category": relation("api::category.category"),
                "related": {"type": "relation", "relation": "manyToMany", "target": "api::article.article"},
                "cover": {"type": "media", "multiple": false},
                "seo": {"type": "component", "repeatable": false, "component": "shared.seo"},
                "links": {"type": "component", "repeatable": true, "component": "shared.link"},
                "blocks": {"type": "dynamiczone", "components": ["shared.quote", "shared.link"]},
                "anything": {"type": "relation", "relation": "morphToMany"},
                "createdAt": {"type": "datetime"}, "updatedAt": {"type": "datetime"},
                "createdBy": creator, "updatedBy": creator}},
            {"uid": "api::category.category", "apiID": "category", "options": {"draftAndPublish": false},
             "attributes": {"name": {"type": "string"}, "secretCode": {"type": "string", "private": true}}},
            {"uid": "plugin::users-permissions.user", "apiID": "user", "options": {"draftAndPublish": false},
             "attributes": {"username": {"type": "string"}, "email": {"type": "email"},
                "password": {"type": "password", "private": true},
                "resetPasswordToken": {"type": "string", "private": true},
                "role": relation("plugin::users-permissions.role")}},
            {"uid": "plugin::users-permissions.role", "apiID": "role", "attributes": {"name": {"type": "string"}}},
            {"uid": "plugin::upload.file", "apiID": "file", "attributes": {
                "name": {"type": "string"}, "url": {"type": "text"}, "formats": {"type": "json"},
                "folderPath": {"type": "string", "private": true}}},
            {"uid": "admin::user", "apiID": "user", "attributes": {"email": {"type": "email"}}},
        ]});
        let components = json!({"data": [
            {"uid": "shared.seo", "attributes": {"metaTitle": {"type": "string"},
                "metaSecret": {"type": "string", "private": true}, "ogImage": {"type": "media"}}},
            {"uid": "shared.quote", "attributes": {"text": {"type": "text"},
                "by": {"type": "relation", "relation": "oneToOne", "target": "plugin::users-permissions.user"}}},
            {"uid": "shared.link", "attributes": {"label": {"type": "string"},
                "internalTag": {"type": "string", "private": true},
                "category": {"type": "relation", "relation": "oneToOne", "target": "api::category.category"}}},
        ]});
        Schemas::parse(&content_types, &components).expect("schemas")
    }

    #[test]
    fn the_content_managers_description_is_understood() {
        let s = blog();
        let article = s.get("api::article.article").expect("article");
        assert!(article.draft_and_publish);
        assert_eq!(article.key, "article");
        assert_eq!(
            article.attributes["author"].kind,
            Kind::Relation {
                target: "plugin::users-permissions.user".into(),
                morph: false
            }
        );
        assert!(matches!(
            article.attributes["anything"].kind,
            Kind::Relation { morph: true, .. }
        ));
        assert!(article.attributes["reviewerEmail"].private);
        assert_eq!(article.attributes["extra"].kind, Kind::Opaque);
        assert_eq!(
            article.attributes["blocks"].kind,
            Kind::DynamicZone {
                components: vec!["shared.quote".into(), "shared.link".into()]
            }
        );
        assert_eq!(
            s.get("plugin::users-permissions.user")
                .expect("user")
                .attributes["password"]
                .kind,
            Kind::Secret
        );
        assert_eq!(s.get("shared.seo").expect("seo").key, "shared.seo");
        assert!(
            !s.get("api::category.category")
                .expect("c")
                .draft_and_publish
        );
    }

    #[test]
    fn keys_name_types_in_rules_and_events() {
        let s = blog();
        assert_eq!(s.key_of("api::article.article"), "article");
        assert_eq!(s.key_of(MEDIA_UID), "media");
        assert_eq!(s.key_of("shared.seo"), "shared.seo");
        assert_eq!(model_key("api::page.page"), "page");
        assert_eq!(
            s.by_key("user").map(|m| m.uid.as_str()),
            Some("plugin::users-permissions.user"),
            "never the admin user"
        );
    }

    #[test]
    fn answers_that_are_not_lists_are_refused() {
        assert_eq!(
            Schemas::parse(&json!({"data": {}}), &json!({"data": []})),
            Err(SchemaError::NotAList("content types"))
        );
        assert_eq!(
            Schemas::parse(&json!({"data": [{"apiID": "x"}]}), &json!({"data": []})),
            Err(SchemaError::NoUid("content type"))
        );
    }
}
