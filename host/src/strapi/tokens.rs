//! Strapi's API tokens as iohost needs them: who a token is (its name, as rooms and rules name
//! it) and what Strapi lets it read. Read from Strapi by the auth layer.

use std::collections::HashSet;
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
