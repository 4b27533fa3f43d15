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
    pub(crate) fn read(json: &str) -> Result<Self, String> {
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

    /// The whole table as a typed settings struct (missing keys take `#[serde(default)]`s);
    /// the error names what does not fit, so `init` can refuse a bad sidecar.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_value(Value::Object(self.values.clone()))
            .map_err(|e| format!("handler config: {e}"))
    }
}

/// A handler's typed settings, parsed once in `init` and read on every event:
///
/// ```no_run
/// # use iohost_guest::{Config, Registration, Settings};
/// #[derive(Default, serde::Deserialize)]
/// #[serde(default)]
/// struct Limits { per_minute: f64 }
/// static LIMITS: Settings<Limits> = Settings::new();
/// fn init(config: &Config) -> Result<Registration, String> {
///     LIMITS.init(config)?;
///     Ok(Registration::events(["*"]))
/// }
/// // in an event: LIMITS.get().per_minute
/// ```
pub struct Settings<T>(OnceLock<T>);

impl<T> Settings<T> {
    pub const fn new() -> Self {
        Self(OnceLock::new())
    }
}

impl<T> Default for Settings<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: DeserializeOwned + Default> Settings<T> {
    /// Parses `config` (call it from `init`; an error there keeps the handler from loading).
    pub fn init(&self, config: &Config) -> Result<(), String> {
        let parsed = config.parse()?;
        let _ = self.0.set(parsed);
        Ok(())
    }

    /// The settings `init` parsed (the defaults before it).
    pub fn get(&self) -> &T {
        self.0.get_or_init(T::default)
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
        let c = Config::read(r#"{"per_minute": 60, "name": "x"}"#).expect("parse");
        assert_eq!(c.get::<u32>("per_minute"), Some(60));
        assert_eq!(c.get::<u32>("name"), None);
        assert_eq!(c.get_or("missing", 5u32), 5);
        assert!(Config::read("[]").is_err());
    }

    #[test]
    fn typed_settings_are_parsed_once() {
        #[derive(Debug, Default, PartialEq, serde::Deserialize)]
        #[serde(default)]
        struct Limits {
            per_minute: u32,
            names: Vec<String>,
        }
        let c = Config::read(r#"{"per_minute": 60}"#).expect("parse");
        let settings: Settings<Limits> = Settings::new();
        assert_eq!(settings.get().per_minute, 0, "defaults before init");
        let fresh: Settings<Limits> = Settings::new();
        fresh.init(&c).expect("fits");
        assert_eq!(
            fresh.get(),
            &Limits {
                per_minute: 60,
                names: vec![]
            }
        );
        let bad = Config::read(r#"{"per_minute": "many"}"#).expect("parse");
        assert!(Settings::<Limits>::new().init(&bad).is_err());
    }
}
