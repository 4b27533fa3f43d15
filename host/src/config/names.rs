//! Names the configuration and the run-time settings accept: handler names, glob patterns, and
//! URLs printed without their password.

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::ConfigError;

/// Is `name` usable as a handler name (and so as a file stem and a KV prefix)?
pub fn valid_handler_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Glob patterns as one set; the error names `key` and the bad pattern's index.
pub fn globs(key: &str, patterns: &[String]) -> Result<GlobSet, ConfigError> {
    let mut set = GlobSetBuilder::new();
    for (i, p) in patterns.iter().enumerate() {
        set.add(Glob::new(p).map_err(|e| ConfigError::Invalid {
            key: format!("{key}[{i}]"),
            reason: e.to_string(),
        })?);
    }
    set.build().map_err(|e| ConfigError::Invalid {
        key: key.to_owned(),
        reason: e.to_string(),
    })
}

/// `url` without the password it may carry (`redis://:secret@host` -> `redis://***@host`), for
/// logs and `config show`.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***{}", &url[..scheme], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handler_names() {
        assert!(valid_handler_name("rate-limit"));
        assert!(valid_handler_name("chat_typing2"));
        assert!(!valid_handler_name("Presence"));
        assert!(!valid_handler_name("../x"));
        assert!(!valid_handler_name(""));
    }

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(
            redact("redis://:pw@10.0.0.9:6379"),
            "redis://***@10.0.0.9:6379"
        );
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }
}
