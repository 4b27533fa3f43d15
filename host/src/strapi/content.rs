//! From a Strapi webhook body to what each role may receive: the event name, whether the role
//! may have it, and the payload with only the fields it may see.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::config::{DeliveryRule, FieldRules, PayloadShape, Permission};

/// role -> content type (singular name) -> permissions.
pub type Permissions =
    std::collections::BTreeMap<String, std::collections::BTreeMap<String, Vec<Permission>>>;

/// What Strapi POSTs: `{event, createdAt, model, uid, entry}`.
#[derive(Debug, Deserialize)]
pub struct WebhookBody {
    pub event: String,
    #[serde(rename = "createdAt")]
    pub created_at: Option<String>,
    pub model: Option<String>,
    pub uid: Option<String>,
    pub entry: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Delete,
    Publish,
    Unpublish,
}

impl Action {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "create" => Self::Create,
            "update" => Self::Update,
            "delete" => Self::Delete,
            "publish" => Self::Publish,
            "unpublish" => Self::Unpublish,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Publish => "publish",
            Self::Unpublish => "unpublish",
        }
    }

    fn permission(self) -> Permission {
        match self {
            Self::Create => Permission::Create,
            Self::Update => Permission::Update,
            Self::Delete => Permission::Delete,
            Self::Publish => Permission::Publish,
            Self::Unpublish => Permission::Unpublish,
        }
    }
}

/// A webhook, understood.
#[derive(Debug, PartialEq)]
pub enum Notice {
    /// Strapi's "trigger" button: answered, delivers nothing.
    Test,
    /// A change to an entry of content type `model` (or to a media file: model `media`).
    Change {
        action: Action,
        model: String,
        /// The content type's uid (`api::article.article`), when Strapi sent it.
        uid: Option<String>,
        entry: Map<String, Value>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error(
        "unknown event `{0}` (expected entry.create|update|delete|publish|unpublish, media.create|update|delete or trigger-test)"
    )]
    UnknownEvent(String),
    #[error("`{0}` is missing")]
    Missing(&'static str),
    #[error("`model` must be a content type's singular name (letters, digits, - and _)")]
    BadModel,
}

pub fn understand(body: WebhookBody) -> Result<Notice, BodyError> {
    if body.event == "trigger-test" {
        return Ok(Notice::Test);
    }
    let unknown = || BodyError::UnknownEvent(body.event.clone());
    let (kind, action) = body.event.split_once('.').ok_or_else(unknown)?;
    let action = Action::parse(action).ok_or_else(unknown)?;
    let model = match kind {
        "entry" => body.model.clone().ok_or(BodyError::Missing("model"))?,
        "media" if matches!(action, Action::Create | Action::Update | Action::Delete) => {
            "media".to_owned()
        }
        _ => return Err(unknown()),
    };
    let valid_model = !model.is_empty()
        && model.len() <= 100
        && model
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid_model {
        return Err(BodyError::BadModel);
    }
    let entry = body.entry.ok_or(BodyError::Missing("entry"))?;
    if !entry.contains_key("id") {
        return Err(BodyError::Missing("entry.id"));
    }
    Ok(Notice::Change {
        action,
        model,
        uid: body.uid,
        entry,
    })
}

/// May a role holding `permissions` on the content type receive `action`?
pub fn may_receive(rule: DeliveryRule, permissions: &[&Permission], action: Action) -> bool {
    match rule {
        DeliveryRule::Find => permissions.contains(&&Permission::Find),
        DeliveryRule::Action => permissions.contains(&&action.permission()),
    }
}

/// The entry with only the fields `role` may see. `id` and `documentId` always stay.
pub fn visible_fields(
    entry: &Map<String, Value>,
    rules: Option<&FieldRules>,
    role: &str,
) -> Map<String, Value> {
    let Some(rules) = rules else {
        return entry.clone();
    };
    let role_rules = rules.roles.get(role);
    entry
        .iter()
        .filter(|(field, _)| {
            let key = field.as_str();
            if key == "id" || key == "documentId" {
                return true;
            }
            let denied = rules.deny.iter().any(|d| d == key)
                || role_rules.is_some_and(|r| r.deny.iter().any(|d| d == key));
            let allowed = role_rules
                .and_then(|r| r.allow.as_ref())
                .is_none_or(|allow| allow.iter().any(|a| a == key));
            allowed && !denied
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The payload clients receive.
pub fn payload(shape: PayloadShape, action: Action, entry: Map<String, Value>) -> Value {
    let id = entry.get("id").cloned().unwrap_or(Value::Null);
    if action == Action::Delete && shape == PayloadShape::V4 {
        let document_id = entry.get("documentId").cloned().unwrap_or(Value::Null);
        return json!({ "data": { "id": id, "documentId": document_id } });
    }
    match shape {
        PayloadShape::V4 => {
            let attributes: Map<String, Value> =
                entry.into_iter().filter(|(k, _)| k != "id").collect();
            json!({ "data": { "id": id, "attributes": attributes }, "meta": {} })
        }
        PayloadShape::Flat => json!({ "data": entry, "meta": {} }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RoleFields;

    fn body(json: Value) -> WebhookBody {
        serde_json::from_value(json).expect("body")
    }

    fn entry() -> Map<String, Value> {
        match json!({"id": 2, "documentId": "d1", "title": "Hello", "secret": "s", "draft": "x"}) {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn understands_the_events_strapi_sends() {
        let n = understand(body(
            json!({"event": "entry.publish", "model": "article", "entry": {"id": 1}}),
        ))
        .expect("ok");
        assert!(
            matches!(n, Notice::Change { action: Action::Publish, ref model, .. } if model == "article")
        );
        assert_eq!(
            understand(body(json!({"event": "trigger-test"}))),
            Ok(Notice::Test)
        );
        let media =
            understand(body(json!({"event": "media.create", "entry": {"id": 1}}))).expect("media");
        assert!(matches!(media, Notice::Change { ref model, .. } if model == "media"));
        assert!(matches!(
            understand(body(
                json!({"event": "entry.explode", "model": "a", "entry": {"id": 1}})
            )),
            Err(BodyError::UnknownEvent(_))
        ));
        assert!(matches!(
            understand(body(json!({"event": "media.publish", "entry": {"id": 1}}))),
            Err(BodyError::UnknownEvent(_))
        ));
        assert_eq!(
            understand(body(json!({"event": "entry.create", "entry": {"id": 1}}))),
            Err(BodyError::Missing("model"))
        );
        assert_eq!(
            understand(body(
                json!({"event": "entry.create", "model": "a b", "entry": {"id": 1}})
            )),
            Err(BodyError::BadModel)
        );
        assert_eq!(
            understand(body(
                json!({"event": "entry.create", "model": "a", "entry": {}})
            )),
            Err(BodyError::Missing("entry.id"))
        );
    }

    #[test]
    fn delivery_rules() {
        use Permission::*;
        assert!(may_receive(DeliveryRule::Find, &[&Find], Action::Delete));
        assert!(!may_receive(DeliveryRule::Find, &[&Create], Action::Create));
        assert!(may_receive(
            DeliveryRule::Action,
            &[&Create],
            Action::Create
        ));
        assert!(!may_receive(
            DeliveryRule::Action,
            &[&Create, &Find],
            Action::Update
        ));
    }

    #[test]
    fn fields_are_filtered_per_role() {
        let mut rules = FieldRules {
            deny: vec!["secret".into()],
            ..Default::default()
        };
        rules.roles.insert(
            "public".into(),
            RoleFields {
                allow: Some(vec!["title".into()]),
                deny: vec![],
            },
        );
        rules.roles.insert(
            "editor".into(),
            RoleFields {
                allow: None,
                deny: vec!["draft".into()],
            },
        );
        let keys = |m: Map<String, Value>| m.keys().cloned().collect::<Vec<_>>();
        assert_eq!(
            keys(visible_fields(&entry(), Some(&rules), "public")),
            ["documentId", "id", "title"]
        );
        assert_eq!(
            keys(visible_fields(&entry(), Some(&rules), "editor")),
            ["documentId", "id", "title"]
        );
        assert_eq!(
            keys(visible_fields(&entry(), Some(&rules), "other")),
            ["documentId", "draft", "id", "title"]
        );
        assert_eq!(visible_fields(&entry(), None, "x").len(), 5);
    }

    #[test]
    fn payload_shapes() {
        let v4 = payload(PayloadShape::V4, Action::Create, entry());
        assert_eq!(v4["data"]["id"], 2);
        assert_eq!(v4["data"]["attributes"]["title"], "Hello");
        assert!(v4["data"]["attributes"].get("id").is_none());
        assert_eq!(v4["meta"], json!({}));
        assert_eq!(
            payload(PayloadShape::V4, Action::Delete, entry()),
            json!({"data": {"id": 2, "documentId": "d1"}})
        );
        let flat = payload(PayloadShape::Flat, Action::Update, entry());
        assert_eq!(flat["data"]["title"], "Hello");
        assert_eq!(flat["data"]["id"], 2);
    }
}
