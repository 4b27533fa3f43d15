//! Strapi's API tokens as iohost needs them: who a token is (its name, as rooms and rules name
//! it) and what Strapi lets it read. Read from Strapi by the auth layer.

use std::collections::{BTreeMap, HashSet};
use std::time::SystemTime;

use serde::Deserialize;

use super::access::Grant;

/// Strapi's token types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenType {
    FullAccess,
    ReadOnly,
    Custom,
}

/// A token, as much as iohost needs of it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiToken {
    /// The name as Strapi shows it.
    pub name: String,
    pub kind: TokenType,
    /// A custom token's Strapi actions, such as `api::article.article.find`.
    pub actions: HashSet<String>,
    pub expires_at: Option<SystemTime>,
}

impl ApiToken {
    /// The name used in rooms and rules: lower case, spaces as `-` (`Read Only` -> `read-only`).
    pub fn slug(&self) -> String {
        slug(&self.name)
    }

    /// Has it expired?
    pub fn expired(&self) -> bool {
        self.expires_at.is_some_and(|at| at <= SystemTime::now())
    }

    /// What Strapi lets this token read and do.
    pub fn grant(&self) -> Grant<'_> {
        match self.kind {
            TokenType::FullAccess => Grant::Everything,
            TokenType::ReadOnly => Grant::ReadOnly,
            TokenType::Custom => Grant::Actions(&self.actions),
        }
    }
}

/// What each token's room (`token:<slug>`) may receive. Two tokens whose names give one slug
/// ("Feed A", "feed.a") share a room, so neither's grant can be trusted for it: the room gets
/// nothing until one is renamed. An expired token's sockets (connected before it expired)
/// get nothing either, as Strapi would refuse their requests.
pub fn grants(tokens: &[ApiToken]) -> BTreeMap<String, Grant<'_>> {
    let mut grants = BTreeMap::new();
    for token in tokens {
        let role = format!("{}{}", crate::model::TOKEN_ROLE_PREFIX, token.slug());
        let grant = if token.expired() {
            Grant::Nothing
        } else {
            token.grant()
        };
        grants
            .entry(role)
            .and_modify(|shared| *shared = Grant::Nothing)
            .or_insert(grant);
    }
    grants
}

/// Names of tokens that share a slug with another: their sockets get no content events.
pub fn clashing<'a>(tokens: impl IntoIterator<Item = &'a ApiToken>) -> Vec<String> {
    let mut by_slug: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for token in tokens {
        by_slug.entry(token.slug()).or_default().push(&token.name);
    }
    by_slug
        .into_values()
        .filter(|names| names.len() > 1)
        .flatten()
        .map(str::to_owned)
        .collect()
}

pub fn slug(name: &str) -> String {
    name.trim()
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_sharing_a_room_name_or_expired_get_nothing() {
        use crate::config::Permission::Find;
        let token = |name: &str, kind, expires_at| ApiToken {
            name: name.into(),
            kind,
            actions: HashSet::from(["api::article.article.find".to_owned()]),
            expires_at,
        };
        let past = SystemTime::now() - std::time::Duration::from_secs(60);
        let tokens = [
            token("Feed A", TokenType::Custom, None),
            token("feed.a", TokenType::FullAccess, None),
            token("Reader", TokenType::ReadOnly, None),
            token("Old", TokenType::FullAccess, Some(past)),
        ];
        let grants = grants(&tokens);
        assert_eq!(grants.len(), 3);
        assert!(!grants["token:feed-a"].allows("api::article.article", Find));
        assert!(grants["token:reader"].allows("api::category.category", Find));
        assert!(!grants["token:old"].allows("api::article.article", Find));
        // In either order.
        let swapped = [tokens[1].clone(), tokens[0].clone()];
        assert!(!grants_of(&swapped, "token:feed-a"));
        assert_eq!(clashing(&tokens), ["Feed A", "feed.a"]);
        assert!(clashing(&tokens[2..]).is_empty());
    }

    fn grants_of(tokens: &[ApiToken], role: &str) -> bool {
        grants(tokens)[role].allows("api::category.category", crate::config::Permission::Find)
    }

    #[test]
    fn token_types_become_grants() {
        use crate::config::Permission::*;
        let token = |kind, actions: &[&str]| ApiToken {
            name: "t".into(),
            kind,
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
            expires_at: None,
        };
        let read_only = token(TokenType::ReadOnly, &[]);
        assert!(read_only.grant().allows("api::page.page", Find));
        assert!(!read_only.grant().allows("api::page.page", Update));
        assert!(
            token(TokenType::FullAccess, &[])
                .grant()
                .allows("api::page.page", Delete)
        );
        let custom = token(
            TokenType::Custom,
            &[
                "api::article.article.findOne",
                "api::article.article.update",
            ],
        );
        assert!(custom.grant().allows("api::article.article", Update));
        assert!(
            !custom.grant().allows("api::article.article", Find),
            "findOne alone lists nothing, as for Strapi's relation check"
        );
    }

    #[test]
    fn names_become_room_safe() {
        assert_eq!(slug("Read Only"), "read-only");
        assert_eq!(slug(" Dashboard "), "dashboard");
        assert_eq!(slug("a.b/c"), "a-b-c");
    }
}
