//! What iohost reaches Strapi with: `strapi.url`, `jwt_secret`, `api_token`, `admin_email`,
//! `admin_password` and `webhook_secret`. Read at start and again when the config file
//! changes (`iohost strapi setup` rewrites it), so a running iohost takes new ones without a
//! restart; everything that talks to Strapi reads them at each use.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::StrapiConfig;

/// The `[strapi]` keys that apply while iohost runs; every other key needs a restart.
pub const LIVE_KEYS: &[&str] = &[
    "url",
    "jwt_secret",
    "api_token",
    "admin_email",
    "admin_password",
    "webhook_secret",
];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// Without a trailing slash.
    pub url: String,
    pub jwt_secret: String,
    pub api_token: String,
    pub admin_email: String,
    pub admin_password: String,
    pub webhook_secret: String,
}

impl Credentials {
    pub fn of(config: &StrapiConfig) -> Self {
        Self {
            url: config.url.trim_end_matches('/').to_owned(),
            jwt_secret: config.jwt_secret.clone(),
            api_token: config.api_token.clone(),
            admin_email: config.admin_email.clone(),
            admin_password: config.admin_password.clone(),
            webhook_secret: config.webhook_secret.clone(),
        }
    }

    /// The admin login, when both halves are set.
    pub fn admin_login(&self) -> Option<(&str, &str)> {
        (!self.admin_email.is_empty() && !self.admin_password.is_empty())
            .then_some((self.admin_email.as_str(), self.admin_password.as_str()))
    }

    /// The keys of [`LIVE_KEYS`] whose values differ from `other`'s.
    pub fn changed_from(&self, other: &Self) -> Vec<&'static str> {
        let pairs = [
            ("url", self.url != other.url),
            ("jwt_secret", self.jwt_secret != other.jwt_secret),
            ("api_token", self.api_token != other.api_token),
            ("admin_email", self.admin_email != other.admin_email),
            (
                "admin_password",
                self.admin_password != other.admin_password,
            ),
            (
                "webhook_secret",
                self.webhook_secret != other.webhook_secret,
            ),
        ];
        pairs
            .into_iter()
            .filter(|(_, changed)| *changed)
            .map(|(key, _)| key)
            .collect()
    }
}

/// The credentials in use now, shared by everything that talks to Strapi.
#[derive(Debug, Clone)]
pub struct LiveCredentials(Arc<ArcSwap<Credentials>>);

impl LiveCredentials {
    pub fn new(credentials: Credentials) -> Self {
        Self(Arc::new(ArcSwap::from_pointee(credentials)))
    }

    pub fn of(config: &StrapiConfig) -> Self {
        Self::new(Credentials::of(config))
    }

    pub fn now(&self) -> Arc<Credentials> {
        self.0.load_full()
    }

    /// Puts `next` in use; returns the keys that changed.
    pub fn replace(&self, next: Credentials) -> Vec<&'static str> {
        let changed = next.changed_from(&self.now());
        if !changed.is_empty() {
            self.0.store(Arc::new(next));
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_says_which_keys_changed() {
        let live = LiveCredentials::new(Credentials {
            url: "http://s:1337".into(),
            api_token: "a".into(),
            ..Credentials::default()
        });
        let mut next = (*live.now()).clone();
        assert!(live.replace(next.clone()).is_empty());
        next.api_token = "b".into();
        next.jwt_secret = "s".into();
        assert_eq!(live.replace(next), ["jwt_secret", "api_token"]);
        assert_eq!(live.now().api_token, "b");
        assert_eq!(live.now().admin_login(), None);
    }
}
