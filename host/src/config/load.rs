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
    figment = figment.merge(Env::prefixed(ENV_PREFIX).ignore(ENV_NOT_KEYS).split("__"));

    let config: Config = figment.extract().map_err(describe)?;
    config.validate()?;
    Ok((config, ConfigSource { file }))
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
    }
}
