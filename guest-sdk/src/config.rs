//! The handler's settings: the `[config]` table of its sidecar `<name>.toml`.

use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Settings handed to [`Handler::init`](crate::Handler::init), also reachable later through
/// [`config()`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    values: Map<String, Value>,
}

impl Config {
    pub(crate) fn parse(json: &str) -> Result<Self, String> {
        match serde_json::from_str(json) {
            Ok(Value::Object(values)) => Ok(Self { values }),
            Ok(_) => Err("handler config must be a table".into()),
            Err(e) => Err(format!("handler config is not JSON: {e}")),
        }
    }

    /// Builds a config from JSON, for tests of handler logic.
    pub fn from_json(value: Value) -> Self {
        match value {
            Value::Object(values) => Self { values },
            _ => Self::default(),
        }
    }

    /// The value of `key`, if set and of type `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.values
            .get(key)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// The value of `key`, or `default` if unset or of another type.
    pub fn get_or<T: DeserializeOwned>(&self, key: &str, default: T) -> T {
        self.get(key).unwrap_or(default)
    }
}

static CONFIG: OnceLock<Config> = OnceLock::new();

pub(crate) fn install(config: Config) {
    let _ = CONFIG.set(config);
}

/// This instance's config (empty before `init`).
pub fn config() -> &'static Config {
    CONFIG.get_or_init(Config::default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_access_with_defaults() {
        let c = Config::parse(r#"{"per_minute": 60, "name": "x"}"#).expect("parse");
        assert_eq!(c.get::<u32>("per_minute"), Some(60));
        assert_eq!(c.get::<u32>("name"), None);
        assert_eq!(c.get_or("missing", 5u32), 5);
        assert!(Config::parse("[]").is_err());
    }
}
