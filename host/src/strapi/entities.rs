//! Entity subscriptions: a client follows one document (`subscribe-entity {uid, id}`, `id` being
//! Strapi 5's `documentId`) and receives its content events even when its role's rule would
//! not send them to the role room (with `delivery = "action"`, a role that may read articles
//! but not update them still hears about updates to the articles it follows).
//!
//! A socket never gets one change twice: a role whose room receives an event is not sent it
//! again through entity rooms. Each subscription puts the socket in two rooms: `<uid>:<id>`
//! (the plugin's name, for API emits to a document's followers) and `io-entity-<role>-<uid>:<id>`
//! which content delivery uses, so each role still gets only its own fields.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::access::Access;
use crate::config::Permission;
use crate::model::Identity;

/// Room names of iohost's per-role entity rooms start with this.
pub const ROLE_ENTITY_ROOM_PREFIX: &str = "io-entity-";

/// role -> content type (singular name, or `*` for every type) -> permissions.
pub type Matrix = BTreeMap<String, BTreeMap<String, Vec<Permission>>>;

/// The permissions `role` holds on `model`, `*` entries included.
pub fn permissions_of<'a>(matrix: &'a Matrix, role: &str, model: &str) -> Vec<&'a Permission> {
    let Some(types) = matrix.get(role) else {
        return Vec::new();
    };
    types
        .get(model)
        .into_iter()
        .chain(types.get("*"))
        .flatten()
        .collect()
}

/// A followed document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    /// e.g. `api::article.article`
    pub uid: String,
    /// The document's `documentId`.
    pub id: String,
}

/// Why a subscription request was refused; the `Display` text is the ack's `error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    #[error("entity subscriptions are off on this server (strapi.entity_subscriptions_max = 0)")]
    Off,
    #[error("`uid` must be a content type uid such as `api::article.article`")]
    BadUid,
    #[error("`id` must be the entry's documentId (a string of letters, digits, - and _)")]
    BadId,
    #[error("role `{role}` may not read `{uid}`")]
    NotAllowed { role: String, uid: String },
    #[error("this socket already follows {max} entities, the most allowed")]
    TooMany { max: usize },
}

impl Entity {
    /// `{uid, id}` from a client, checked.
    pub fn from_request(arg: &Value) -> Result<Self, SubscribeError> {
        let uid = arg
            .get("uid")
            .and_then(Value::as_str)
            .filter(|uid| model_of(uid).is_some())
            .ok_or(SubscribeError::BadUid)?;
        let id = arg
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| valid_part(id, 64))
            .ok_or(SubscribeError::BadId)?;
        Ok(Self {
            uid: uid.to_owned(),
            id: id.to_owned(),
        })
    }

    /// The content type's singular name: `api::article.article` -> `article`.
    pub fn model(&self) -> &str {
        model_of(&self.uid).unwrap_or_default()
    }

    /// The plugin's room name: `<uid>:<id>`.
    pub fn room(&self) -> String {
        format!("{}:{}", self.uid, self.id)
    }

    /// The room content delivery uses for followers with `role`.
    pub fn role_room(&self, role: &str) -> String {
        format!("{ROLE_ENTITY_ROOM_PREFIX}{role}-{}", self.room())
    }

    /// Parses a room made by [`Entity::room`].
    pub fn from_room(room: &str) -> Option<Self> {
        let (uid, id) = room.rsplit_once(':')?;
        (model_of(uid).is_some() && valid_part(id, 64)).then(|| Self {
            uid: uid.to_owned(),
            id: id.to_owned(),
        })
    }

    pub fn to_json(&self) -> Value {
        json!({ "uid": self.uid, "id": self.id, "room": self.room() })
    }

    /// May `who` follow this entity? Its role must be able to read the content type.
    pub fn check(&self, access: &Access, who: &Identity) -> Result<(), SubscribeError> {
        if access.readable(&who.role, &self.uid) {
            Ok(())
        } else {
            Err(SubscribeError::NotAllowed {
                role: who.role.clone(),
                uid: self.uid.clone(),
            })
        }
    }
}

/// `api::<name>.<model>` or `plugin::<name>.<model>` -> `<model>`.
fn model_of(uid: &str) -> Option<&str> {
    let (origin, rest) = uid.split_once("::")?;
    let (name, model) = rest.split_once('.')?;
    let ok = matches!(origin, "api" | "plugin") && valid_part(name, 100) && valid_part(model, 100);
    ok.then_some(model)
}

fn valid_part(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix() -> Matrix {
        BTreeMap::from([
            (
                "public".to_owned(),
                BTreeMap::from([("article".to_owned(), vec![Permission::Find])]),
            ),
            (
                "token:reader".to_owned(),
                BTreeMap::from([("*".to_owned(), vec![Permission::Find])]),
            ),
            (
                "token:gone".to_owned(),
                BTreeMap::from([("*".to_owned(), vec![Permission::Find])]),
            ),
        ])
    }

    #[test]
    fn requests_are_checked() {
        let e = Entity::from_request(&json!({"uid": "api::article.article", "id": "abc123"}))
            .expect("valid");
        assert_eq!(e.model(), "article");
        assert_eq!(e.room(), "api::article.article:abc123");
        assert_eq!(Entity::from_room(&e.room()), Some(e.clone()));
        assert_eq!(Entity::from_room("lobby"), None);
        assert_eq!(
            Entity::from_request(&json!({"uid": "article", "id": "a"})),
            Err(SubscribeError::BadUid)
        );
        assert_eq!(
            Entity::from_request(&json!({"uid": "api::article.article", "id": 5})),
            Err(SubscribeError::BadId)
        );
        assert_eq!(
            Entity::from_request(&json!({"uid": "api::article.article", "id": "a:b"})),
            Err(SubscribeError::BadId)
        );
    }

    #[test]
    fn following_needs_read_permission() {
        let article = Entity::from_request(&json!({"uid": "api::article.article", "id": "d"}))
            .expect("valid");
        let page =
            Entity::from_request(&json!({"uid": "api::page.page", "id": "d"})).expect("valid");
        let matrix = matrix();
        let access = Access {
            rule: crate::config::DeliveryRule::Find,
            configured: &matrix,
            roles: None,
            tokens: [(
                "token:reader".to_owned(),
                crate::strapi::access::Grant::ReadOnly,
            )]
            .into(),
            schemas: None,
            drafts: &[],
        };
        assert_eq!(article.check(&access, &Identity::public()), Ok(()));
        assert!(matches!(
            page.check(&access, &Identity::public()),
            Err(SubscribeError::NotAllowed { .. })
        ));
        assert_eq!(page.check(&access, &Identity::token("reader")), Ok(()));
        // A token Strapi does not list (deleted since it connected) follows nothing, whatever
        // the matrix says of its name.
        assert!(matches!(
            page.check(&access, &Identity::token("gone")),
            Err(SubscribeError::NotAllowed { .. })
        ));
    }
}
