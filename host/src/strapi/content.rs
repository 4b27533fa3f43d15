//! A Strapi webhook body understood: which action on which type, and the payload shapes
//! clients receive (what each role may see of the entry is [`super::shape`]'s business).

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::config::{PayloadShape, Permission};

/// role -> content type (singular name) -> permissions.
pub type Permissions =
    std::collections::BTreeMap<String, std::collections::BTreeMap<String, Vec<Permission>>>;

/// What Strapi POSTs: `{event, createdAt, model, uid, entry}` (media events: `{event,
/// createdAt, media}`).
#[derive(Debug, Deserialize)]
pub struct WebhookBody {
    pub event: String,
    #[serde(rename = "createdAt")]
    pub created_at: Option<String>,
    pub model: Option<String>,
    pub uid: Option<String>,
    pub entry: Option<Map<String, Value>>,
    pub media: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Delete,
    Publish,
    Unpublish,
    /// The draft was thrown away and made again from the published version.
    DraftDiscard,
}

impl Action {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "create" => Self::Create,
            "update" => Self::Update,
            "delete" => Self::Delete,
            "publish" => Self::Publish,
            "unpublish" => Self::Unpublish,
            "draft-discard" => Self::DraftDiscard,
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
            Self::DraftDiscard => "draft-discard",
        }
    }

    /// The permission the plugin's `action` delivery rule asks for.
    pub fn permission(self) -> Permission {
        match self {
            Self::Create => Permission::Create,
            Self::Update => Permission::Update,
            Self::Delete => Permission::Delete,
            Self::Publish => Permission::Publish,
            Self::Unpublish => Permission::Unpublish,
            Self::DraftDiscard => Permission::Update,
        }
    }

    /// The document leaves the list clients can read: they get which one, not its content.
    pub fn removes(self) -> bool {
        matches!(self, Self::Delete | Self::Unpublish)
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
        "unknown event `{0}` (expected entry.create|update|delete|publish|unpublish|draft-discard, media.create|update|delete or trigger-test)"
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
    let entry = match kind {
        "media" => body
            .media
            .or(body.entry)
            .ok_or(BodyError::Missing("media"))?,
        _ => body.entry.ok_or(BodyError::Missing("entry"))?,
    };
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

/// The payload clients receive.
pub fn payload(shape: PayloadShape, action: Action, entry: Map<String, Value>) -> Value {
    let id = entry.get("id").cloned().unwrap_or(Value::Null);
    if action.removes() && shape == PayloadShape::V4 {
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
        // Strapi 5 sends media events with the file under `media`.
        let media =
            understand(body(json!({"event": "media.create", "media": {"id": 1}}))).expect("media");
        assert!(matches!(media, Notice::Change { ref model, .. } if model == "media"));
        let discard = understand(body(
            json!({"event": "entry.draft-discard", "model": "article", "entry": {"id": 3}}),
        ))
        .expect("discard");
        assert!(matches!(
            discard,
            Notice::Change {
                action: Action::DraftDiscard,
                ..
            }
        ));
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
        assert_eq!(
            payload(PayloadShape::V4, Action::Unpublish, entry()),
            json!({"data": {"id": 2, "documentId": "d1"}}),
            "an unpublished document is gone from the list like a deleted one"
        );
        let flat = payload(PayloadShape::Flat, Action::Update, entry());
        assert_eq!(flat["data"]["title"], "Hello");
        assert_eq!(flat["data"]["id"], 2);
    }
}
