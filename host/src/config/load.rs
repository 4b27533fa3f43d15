//! Reading the configuration from defaults, a TOML file and the environment.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};

use super::{Config, ConfigError};

/// The file read when `--config` is not given, if it exists.
pub const DEFAULT_FILE: &str = "iohost.toml";
/// Prefix of the environment variables that override keys.
pub const ENV_PREFIX: &str = "IOHOST_";
/// Variables under the prefix that are not config keys (read by the command line instead).
const ENV_NOT_KEYS: &[&str] = &["config"];

/// Where the configuration came from, for logs and `iohost config check`.
#[derive(Debug, Clone)]
pub struct ConfigSource {
    /// The TOML file that was read, if any.
    pub file: Option<PathBuf>,
    /// `IOHOST_*` variables that name no configuration key but look like a misspelt one
    /// (ignored), as warnings to show; never their values.
    pub ignored: Vec<String>,
}

/// Loads and validates the configuration. `explicit` is the `--config` path: it must exist, while
/// the default `iohost.toml` is read only when present so that `iohost serve` runs with no file.
pub fn load(explicit: Option<&Path>) -> Result<(Config, ConfigSource), ConfigError> {
    let file = match explicit {
        Some(path) if !path.is_file() => {
            return Err(ConfigError::MissingFile {
                path: path.display().to_string(),
            });
        }
        Some(path) => Some(path.to_path_buf()),
        None => Some(PathBuf::from(DEFAULT_FILE)).filter(|p| p.is_file()),
    };

    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(path) = &file {
        figment = figment.merge(Toml::file_exact(path));
    }
    // Only variables that name a key are read: the same environment often holds a backend's
    // own IOHOST_URL or IOHOST_API_KEY (README's examples), which are not iohost's to read.
    let keys = KeyPaths::of_defaults();
    figment = figment.merge(
        Env::prefixed(ENV_PREFIX)
            .ignore(ENV_NOT_KEYS)
            .filter(move |name| keys.names_a_key(name.as_str()))
            .split("__"),
    );

    let config: Config = figment.extract().map_err(describe)?;
    config.validate()?;
    let ignored = misspelt(std::env::vars().map(|(name, _)| name));
    Ok((config, ConfigSource { file, ignored }))
}

/// Parses a TOML document on its own (no environment), for tests and `config check`.
pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
    let config: Config = Figment::from(Serialized::defaults(Config::default()))
        .merge(Toml::string(text))
        .extract()
        .map_err(describe)?;
    config.validate()?;
    Ok(config)
}

/// One line per problem, naming the key the way the user wrote it: `server.listen` in a file,
/// `IOHOST_SERVER__LISTEN` in the environment.
fn describe(errors: figment::Error) -> ConfigError {
    let lines: Vec<String> = errors
        .into_iter()
        .map(|e| {
            let key = e.path.join(".").to_lowercase();
            let from_env = e
                .metadata
                .as_ref()
                .is_some_and(|m| m.name.contains(ENV_PREFIX));
            let place = match (&e.metadata, from_env) {
                (_, true) => format!(
                    " (environment variable {ENV_PREFIX}{})",
                    e.path.join("__").to_uppercase()
                ),
                (Some(m), false) => match &m.source {
                    Some(source) => format!(" (in {source})"),
                    None => format!(" (in {})", m.name),
                },
                (None, false) => String::new(),
            };
            let kind = without_values(&e.kind);
            if key.is_empty() {
                format!("{kind}{place}")
            } else {
                format!("`{key}`{place}: {kind}")
            }
        })
        .collect();
    ConfigError::Parse(lines.join("\n"))
}

/// What is wrong, without the value that was given: it may be a secret put in the wrong
/// place (`IOHOST_API__KEYS=<key>` instead of a list), and errors reach logs.
fn without_values(kind: &figment::error::Kind) -> String {
    use figment::error::{Actual, Kind};
    let what = |actual: &Actual| match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a number",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Bytes(_) => "bytes",
        Actual::Seq => "a list",
        Actual::Map => "a table",
        _ => "another kind of value",
    };
    match kind {
        Kind::InvalidType(actual, expected) => {
            format!("invalid type: found {}, expected {expected}", what(actual))
        }
        Kind::InvalidValue(actual, expected) => {
            format!("invalid value: found {}, expected {expected}", what(actual))
        }
        Kind::UnknownVariant(_, expected) => {
            format!("unknown variant, expected one of {}", expected.join(", "))
        }
        // A TOML syntax error quotes the line it is on, which may hold a secret: keep where
        // and what, drop the quoted source (its lines are `N | ...` and `  | ^`).
        Kind::Message(message) => message
            .lines()
            .filter(|line| {
                let before_bar = line.split('|').next().unwrap_or_default();
                !(line.contains('|') && before_bar.trim().chars().all(|c| c.is_ascii_digit()))
            })
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_key_but_never_show_the_value() {
        let secret = "0123456789abcdef0123456789abcdef-secret";
        let error = from_toml_str(&format!("[api]\nkeys = \"{secret}\"\n"))
            .expect_err("a string, not a list")
            .to_string();
        assert!(error.contains("`api.keys`"), "{error}");
        assert!(error.contains("found a string, expected"), "{error}");
        assert!(!error.contains(secret), "{error}");
        let error = from_toml_str(&format!("[strapi]\ndelivery = \"{secret}\"\n"))
            .expect_err("not a rule")
            .to_string();
        assert!(!error.contains(secret), "{error}");
        // A syntax error says where, not what the line holds.
        let error = from_toml_str(&format!("[strapi]\napi_token = \"{secret}\nurl = 1\n"))
            .expect_err("an unterminated string")
            .to_string();
        assert!(!error.contains(secret), "{error}");
        assert!(error.contains("line 2, column"), "{error}");
    }
}

/// The key paths of the configuration, read from its defaults: a section is an object with
/// fields; an empty object is a map that takes any key (`strapi.permissions`, ...).
#[derive(Clone)]
struct KeyPaths(serde_json::Value);

impl KeyPaths {
    fn of_defaults() -> Self {
        Self(serde_json::to_value(Config::default()).unwrap_or_default())
    }

    /// Does `name` (a variable's name without the prefix, `SERVER__LISTEN`) name a key?
    fn names_a_key(&self, name: &str) -> bool {
        let mut at = &self.0;
        let lower = name.to_lowercase();
        let mut parts = lower.split("__").peekable();
        // A whole section from one variable is not a key: `IOHOST_SERVER=x`.
        if parts.clone().count() < 2 {
            return false;
        }
        for part in parts.by_ref() {
            match at {
                serde_json::Value::Object(fields) if fields.is_empty() => return true,
                serde_json::Value::Object(fields) => match fields.get(part) {
                    Some(next) => at = next,
                    None => return false,
                },
                _ => return false,
            }
        }
        true
    }
}

/// Warnings for `IOHOST_*` variables that name no key but look like one: a known section with
/// an unknown key, or a section and key joined by one underscore instead of two.
fn misspelt(names: impl Iterator<Item = String>) -> Vec<String> {
    let keys = KeyPaths::of_defaults();
    let sections: Vec<String> = match &keys.0 {
        serde_json::Value::Object(fields) => fields.keys().cloned().collect(),
        _ => Vec::new(),
    };
    let mut warnings = Vec::new();
    for name in names {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if ENV_NOT_KEYS.iter().any(|k| rest.eq_ignore_ascii_case(k)) || keys.names_a_key(rest) {
            continue;
        }
        let lower = rest.to_lowercase();
        if let Some((section, _)) = lower.split_once("__") {
            warnings.push(format!(
                "{name} is not a configuration key ({}): ignored",
                if sections.iter().any(|s| s == section) {
                    format!("`{section}` has no such key")
                } else {
                    format!("there is no section `{section}`")
                }
            ));
            continue;
        }
        let fixed = sections.iter().find_map(|section| {
            let key = lower.strip_prefix(&format!("{section}_"))?;
            let candidate = format!("{section}__{key}");
            keys.names_a_key(&candidate)
                .then(|| format!("{ENV_PREFIX}{}", candidate.to_uppercase()))
        });
        if let Some(fixed) = fixed {
            warnings.push(format!(
                "{name} is not a configuration key (did you mean {fixed}?): ignored"
            ));
        }
    }
    warnings
}

#[cfg(test)]
mod env_tests {
    use super::*;

    #[test]
    fn only_variables_naming_a_key_are_read() {
        let keys = KeyPaths::of_defaults();
        assert!(keys.names_a_key("SERVER__LISTEN"));
        assert!(keys.names_a_key("handlers__limits__call_timeout_ms"));
        assert!(
            keys.names_a_key("STRAPI__PERMISSIONS__PUBLIC"),
            "a map takes any key"
        );
        assert!(!keys.names_a_key("API_KEY"), "README's backend variable");
        assert!(!keys.names_a_key("URL"));
        assert!(!keys.names_a_key("SERVER"));
        assert!(!keys.names_a_key("SERVER__LISTN"));
        assert!(!keys.names_a_key("SERVER__LISTEN__X"));
    }

    #[test]
    fn misspelt_keys_are_named_and_others_left_alone() {
        let names = [
            "IOHOST_SERVER_LISTEN",
            "IOHOST_SERVR__LISTEN",
            "IOHOST_SERVER__LISTN",
            "IOHOST_API_KEY",
            "IOHOST_URL",
            "IOHOST_SERVER__LISTEN",
            "IOHOST_CONFIG",
            "PATH",
        ];
        let warnings = misspelt(names.iter().map(|n| (*n).to_owned()));
        assert_eq!(
            warnings,
            vec![
                "IOHOST_SERVER_LISTEN is not a configuration key (did you mean IOHOST_SERVER__LISTEN?): ignored",
                "IOHOST_SERVR__LISTEN is not a configuration key (there is no section `servr`): ignored",
                "IOHOST_SERVER__LISTN is not a configuration key (`server` has no such key): ignored",
            ]
        );
    }
}
