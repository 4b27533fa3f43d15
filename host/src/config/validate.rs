//! Checks that serde cannot express: ranges, patterns, names. Each error names its key.

use globset::Glob;
use regex::Regex;
use tracing_subscriber::EnvFilter;

use super::{Config, ConfigError};

impl Config {
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.server.validate()?;
        self.rooms.validate()?;
        self.handlers.validate()?;
        self.api.validate()?;
        self.strapi.validate()?;
        self.validate_access()?;
        at_least(
            "private_messages.max_length",
            self.private_messages.max_length as u64,
            1,
        )?;
        self.validate_cluster()?;
        at_least("relay.answer_timeout_ms", self.relay.answer_timeout_ms, 10)?;
        at_least("relay.queue_size", self.relay.queue_size as u64, 1)?;
        at_least("relay.max_streams", self.relay.max_streams as u64, 1)?;
        EnvFilter::try_new(&self.log.level)
            .map_err(|e| ConfigError::invalid("log.level", e.to_string()))?;
        Ok(())
    }

    /// `[cluster]`: one Redis or a Sentinel set, not both; a Sentinel set names its master.
    fn validate_cluster(&self) -> Result<(), ConfigError> {
        let c = &self.cluster;
        at_least("cluster.request_timeout_ms", c.request_timeout_ms, 10)?;
        if !c.sentinels.is_empty() && !c.redis_url.is_empty() {
            return Err(ConfigError::invalid(
                "cluster.sentinels",
                "set either cluster.redis_url (one Redis) or cluster.sentinels (Redis behind Sentinel), not both",
            ));
        }
        if !c.sentinels.is_empty() && c.sentinel_master.is_empty() {
            return Err(ConfigError::invalid(
                "cluster.sentinel_master",
                "name the master the Sentinels monitor",
            ));
        }
        Ok(())
    }

    /// `[access]`: role names, and namespaces that are served.
    fn validate_access(&self) -> Result<(), ConfigError> {
        if !role_names(&self.access.roles) {
            return Err(ConfigError::invalid(
                "access.roles",
                "role names are lower case (API tokens: token:<name>)",
            ));
        }
        let served = self.server.all_namespaces();
        for (ns, roles) in &self.access.namespaces {
            if !served.contains(ns) {
                return Err(ConfigError::invalid(
                    format!("access.namespaces.\"{ns}\""),
                    "not a served namespace (`/` or one of server.namespaces)",
                ));
            }
            if !role_names(roles) {
                return Err(ConfigError::invalid(
                    format!("access.namespaces.\"{ns}\""),
                    "role names are lower case",
                ));
            }
        }

        Ok(())
    }
}

impl super::ServerConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let s = self;
        for (key, value, min) in [
            ("ping_interval_ms", s.ping_interval_ms, 1),
            ("ping_timeout_ms", s.ping_timeout_ms, 1),
            ("connect_timeout_ms", s.connect_timeout_ms, 1),
            ("max_payload_bytes", s.max_payload_bytes, 1_024),
            ("max_connections", s.max_connections as u64, 1),
            ("socket_queue_size", s.socket_queue_size as u64, 16),
            ("ws_read_buffer_bytes", s.ws_read_buffer_bytes as u64, 256),
            ("max_event_name_bytes", s.max_event_name_bytes as u64, 16),
            ("header_timeout_ms", s.header_timeout_ms, 1),
            ("body_timeout_ms", s.body_timeout_ms, 1),
            ("max_tcp_connections", s.max_tcp_connections as u64, 1),
            (
                "max_connections_per_address",
                s.max_connections_per_address as u64,
                1,
            ),
            (
                "connect_rate_per_address",
                u64::from(s.connect_rate_per_address),
                1,
            ),
            (
                "connect_burst_per_address",
                u64::from(s.connect_burst_per_address),
                1,
            ),
            ("max_pending_sessions", s.max_pending_sessions as u64, 1),
            (
                "max_pending_sessions_per_address",
                s.max_pending_sessions_per_address as u64,
                1,
            ),
        ] {
            at_least(&format!("server.{key}"), value, min)?;
        }
        at_least(
            "server.idle_timeout_ms",
            s.idle_timeout_ms,
            s.ping_interval_ms.saturating_add(1_000),
        )
        .map_err(|_| {
            ConfigError::invalid(
                "server.idle_timeout_ms",
                "must be at least server.ping_interval_ms + 1000: the heartbeat is all the traffic an idle socket has",
            )
        })?;
        s.trusted_proxies()?;
        if s.transports.is_empty() {
            return Err(ConfigError::invalid(
                "server.transports",
                "name at least one transport",
            ));
        }
        for (i, ns) in s.namespaces.iter().enumerate() {
            check_namespace(ns)
                .map_err(|r| ConfigError::invalid(format!("server.namespaces[{i}]"), r))?;
            if s.namespaces[..i].contains(ns) {
                return Err(ConfigError::invalid(
                    format!("server.namespaces[{i}]"),
                    format!("`{ns}` is listed twice"),
                ));
            }
        }
        for (i, origin) in s.cors_origins.iter().enumerate() {
            check_origin(origin)
                .map_err(|r| ConfigError::invalid(format!("server.cors_origins[{i}]"), r))?;
        }

        Ok(())
    }
}

impl super::RoomsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let r = self;
        Regex::new(&r.name_pattern)
            .map_err(|e| ConfigError::invalid("rooms.name_pattern", e.to_string()))?;
        at_least("rooms.max_name_length", r.max_name_length as u64, 1)?;
        check_globs("rooms.allow", &r.allow)?;
        for (role, rooms) in &r.roles {
            if !role_names([role]) {
                return Err(ConfigError::invalid(
                    format!("rooms.roles.{role}"),
                    "role names are lower case, as in the `io-role-<role>` rooms",
                ));
            }
            check_globs(&format!("rooms.roles.{role}.allow"), &rooms.allow)?;
        }

        Ok(())
    }
}

impl super::HandlersConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let h = self;
        at_least("handlers.debounce_ms", h.debounce_ms, 10)?;
        at_least("handlers.max_file_bytes", h.max_file_bytes, 8)?;
        at_least("handlers.load_timeout_ms", h.load_timeout_ms, 100)?;
        h.limits.validate("handlers.limits")?;
        at_least("handlers.strapi.timeout_ms", h.strapi.timeout_ms, 1)?;
        at_least("handlers.strapi.call_budget_ms", h.strapi.call_budget_ms, 1)?;
        at_least(
            "handlers.strapi.max_response_bytes",
            h.strapi.max_response_bytes as u64,
            1_024,
        )?;
        at_least(
            "handlers.strapi.max_pending_sends",
            h.strapi.max_pending_sends as u64,
            1,
        )?;
        for (key, names) in [
            ("handlers.strapi.allow", &h.strapi.allow),
            ("handlers.content.allow", &h.content.allow),
        ] {
            if let Some(name) = names.iter().find(|n| !super::valid_handler_name(n)) {
                return Err(ConfigError::Invalid {
                    key: key.into(),
                    reason: format!(
                        "`{name}` is not a handler name (lower-case letters, digits, - and _)"
                    ),
                });
            }
        }
        for (name, patterns) in &h.reserved_rooms {
            let key = format!("handlers.reserved_rooms.{name}");
            if !super::valid_handler_name(name) {
                return Err(ConfigError::invalid(
                    key,
                    "not a handler name (lower-case letters, digits, - and _)",
                ));
            }
            super::globs(&key, patterns)?;
        }
        if let Some(name) = h
            .failure
            .handlers
            .keys()
            .find(|n| !super::valid_handler_name(n))
        {
            return Err(ConfigError::invalid(
                format!("handlers.failure.handlers.{name}"),
                "not a handler name (lower-case letters, digits, - and _)",
            ));
        }

        Ok(())
    }
}

impl super::ApiConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        for (i, key) in self.keys.iter().enumerate() {
            if key.len() < 32 || key.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(ConfigError::invalid(
                    format!("api.keys[{i}]"),
                    "API keys need at least 32 characters and no spaces (e.g. `openssl rand -hex 32`)",
                ));
            }
        }

        Ok(())
    }
}

impl super::StrapiConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let st = self;
        let reserved = [
            "/socket.io",
            "/api/",
            "/admin",
            "/metrics",
            "/healthz",
            "/readyz",
        ];
        if !st.webhook_path.starts_with('/')
            || reserved.iter().any(|r| st.webhook_path.starts_with(r))
        {
            return Err(ConfigError::invalid(
                "strapi.webhook_path",
                "must start with `/` and not be under /socket.io, /api/, /admin or the probes",
            ));
        }
        let scheme_ok = st.url.starts_with("http://") || st.url.starts_with("https://");
        if !scheme_ok || st.url.parse::<http::Uri>().is_err() {
            return Err(ConfigError::invalid(
                "strapi.url",
                "must be an http:// or https:// URL such as http://127.0.0.1:1337",
            ));
        }
        at_least("strapi.lookup_timeout_ms", st.lookup_timeout_ms, 1)?;
        if !st.webhook_secret.is_empty() && st.webhook_secret.len() < 16 {
            return Err(ConfigError::invalid(
                "strapi.webhook_secret",
                "use at least 16 characters",
            ));
        }
        for role in st.permissions.keys() {
            if !role_names([role]) {
                return Err(ConfigError::invalid(
                    format!("strapi.permissions.{role}"),
                    "role names are lower case",
                ));
            }
        }
        if !role_names(&st.drafts.roles) {
            return Err(ConfigError::invalid(
                "strapi.drafts.roles",
                "role names are lower case (API tokens: token:<name>)",
            ));
        }
        at_least("strapi.refresh_ms", st.refresh_ms, 1000)?;
        for (model, rules) in &st.fields {
            let paths = rules.deny.iter().chain(
                rules
                    .roles
                    .values()
                    .flat_map(|r| r.deny.iter().chain(r.allow.iter().flatten())),
            );
            if let Some(bad) = paths
                .into_iter()
                .find(|p| p.is_empty() || p.split('.').any(str::is_empty))
            {
                return Err(ConfigError::invalid(
                    format!("strapi.fields.{model}"),
                    format!("`{bad}` is not a path of attribute names such as `author.email`"),
                ));
            }
        }

        Ok(())
    }
}

impl super::HandlerLimits {
    /// Checks the limits; `key` is where they were written (config or a sidecar).
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        at_least(&format!("{key}.memory_mb"), self.memory_mb, 1)?;
        at_least(&format!("{key}.call_timeout_ms"), self.call_timeout_ms, 1)?;
        at_least(&format!("{key}.init_timeout_ms"), self.init_timeout_ms, 1)?;
        at_least(
            &format!("{key}.max_instances"),
            self.max_instances as u64,
            1,
        )?;
        at_least(&format!("{key}.table_elements"), self.table_elements, 1)?;
        at_least(&format!("{key}.kv_keys"), self.kv_keys, 1)?;
        at_least(&format!("{key}.kv_mb"), self.kv_mb, 1)?;
        at_least(&format!("{key}.actions_per_call"), self.actions_per_call, 1)?;
        at_least(
            &format!("{key}.action_mb_per_call"),
            self.action_mb_per_call,
            1,
        )?;
        at_least(&format!("{key}.ack_wait_ms"), self.ack_wait_ms, 1)?;
        at_least(&format!("{key}.kv_wait_ms"), self.kv_wait_ms, 1)?;
        Ok(())
    }
}

/// Are these role names as iohost names roles (lower case, not empty; `token:<name>` too)?
fn role_names<'a>(roles: impl IntoIterator<Item = &'a String>) -> bool {
    roles
        .into_iter()
        .all(|r| !r.is_empty() && !r.chars().any(char::is_uppercase))
}

fn at_least(key: &str, value: u64, min: u64) -> Result<(), ConfigError> {
    if value < min {
        return Err(ConfigError::invalid(
            key,
            format!("must be at least {min}, got {value}"),
        ));
    }
    Ok(())
}

fn check_namespace(ns: &str) -> Result<(), String> {
    if ns == "/" {
        return Err("`/` is always served; list only the extra namespaces".to_owned());
    }
    let valid = ns.len() > 1
        && ns.starts_with('/')
        && ns[1..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_/".contains(c));
    if !valid {
        return Err(format!(
            "`{ns}` must start with `/` followed by letters, digits, `-`, `_` or `/`"
        ));
    }
    Ok(())
}

fn check_origin(origin: &str) -> Result<(), String> {
    if origin == "*" {
        return Ok(());
    }
    let uri: http::Uri = origin
        .parse()
        .map_err(|e| format!("`{origin}` is not an origin: {e}"))?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    let bare = uri.path_and_query().is_none_or(|p| p.as_str() == "/") && !origin.ends_with('/');
    if !scheme_ok || uri.host().is_none() || !bare {
        return Err(format!(
            "`{origin}` must look like `https://example.com` or `http://localhost:3000` (scheme, host, optional port, no path), or be `*`"
        ));
    }
    Ok(())
}

fn check_globs(key: &str, patterns: &[String]) -> Result<(), ConfigError> {
    for (i, p) in patterns.iter().enumerate() {
        Glob::new(p).map_err(|e| ConfigError::invalid(format!("{key}[{i}]"), e.to_string()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::load::from_toml_str;
    use super::*;

    fn invalid_key(toml: &str) -> String {
        match from_toml_str(toml) {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid-key error for {toml:?}, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().expect("defaults validate");
        assert_eq!(from_toml_str("").expect("empty file"), Config::default());
    }

    #[test]
    fn failure_policy_per_handler_over_the_defaults() {
        let config = from_toml_str(
            "[handlers.failure]\ndisable_after = 7\n\
             [handlers.failure.handlers]\nanalytics = { on_fault = 'fail_open' }\n\
             audit = { disable_after = 0 }\n",
        )
        .expect("valid");
        let failure = &config.handlers.failure;
        let policy = |disable_after, on_fault| super::super::Policy {
            disable_after,
            on_fault,
        };
        use super::super::OnFault::{FailClosed, FailOpen};
        assert_eq!(failure.policy("analytics"), policy(7, FailOpen));
        assert_eq!(failure.policy("audit"), policy(0, FailClosed));
        assert_eq!(failure.policy("other"), policy(7, FailClosed));
        assert_eq!(
            invalid_key("[handlers.failure.handlers]\nBad = { disable_after = 1 }"),
            "handlers.failure.handlers.Bad"
        );
        assert!(from_toml_str("[handlers.failure]\non_fault = 'ignore'").is_err());
    }

    #[test]
    fn each_bad_value_names_its_key() {
        assert_eq!(
            invalid_key("[server]\nping_interval_ms = 0"),
            "server.ping_interval_ms"
        );
        assert_eq!(
            invalid_key("[server]\nnamespaces = ['admin']"),
            "server.namespaces[0]"
        );
        assert_eq!(
            invalid_key("[server]\nnamespaces = ['/']"),
            "server.namespaces[0]"
        );
        assert_eq!(
            invalid_key("[server]\nnamespaces = ['/a', '/a']"),
            "server.namespaces[1]"
        );
        assert_eq!(
            invalid_key("[server]\ncors_origins = ['localhost:3000']"),
            "server.cors_origins[0]"
        );
        assert_eq!(
            invalid_key("[server]\ncors_origins = ['http://a.com/path']"),
            "server.cors_origins[0]"
        );
        assert_eq!(
            invalid_key("[server]\ntransports = []"),
            "server.transports"
        );
        assert_eq!(
            invalid_key("[server]\nsocket_queue_size = 2"),
            "server.socket_queue_size"
        );
        assert_eq!(
            invalid_key("[server]\nws_read_buffer_bytes = 100"),
            "server.ws_read_buffer_bytes"
        );
        assert_eq!(
            invalid_key("[rooms]\nname_pattern = '('"),
            "rooms.name_pattern"
        );
        assert_eq!(invalid_key("[rooms]\nallow = ['a[']"), "rooms.allow[0]");
        assert_eq!(
            invalid_key("[rooms.roles.Public]\nallow = []"),
            "rooms.roles.Public"
        );
        assert_eq!(invalid_key("[log]\nlevel = 'info,,=x=y'"), "log.level");
        assert_eq!(invalid_key("[api]\nkeys = ['short']"), "api.keys[0]");
    }

    #[test]
    fn type_errors_and_unknown_keys_name_the_key() {
        let err = from_toml_str("[server]\nping_interval_ms = 'soon'").expect_err("bad type");
        assert!(err.to_string().contains("ping_interval_ms"), "{err}");
        let err = from_toml_str("[server]\nlistn = '127.0.0.1:1'").expect_err("typo");
        assert!(err.to_string().contains("listn"), "{err}");
        let err = from_toml_str("[server]\nlisten = 'nowhere'").expect_err("bad address");
        assert!(err.to_string().contains("listen"), "{err}");
    }

    #[test]
    fn good_origins_pass() {
        for o in [
            "*",
            "http://localhost:3000",
            "https://example.com",
            "http://127.0.0.1:8080",
        ] {
            check_origin(o).unwrap_or_else(|e| panic!("{o}: {e}"));
        }
    }
}
