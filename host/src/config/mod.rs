//! Configuration: one TOML file, every key overridable by `IOHOST_*` environment variables.
//!
//! Precedence, lowest first: built-in defaults, the TOML file, the environment. Nested keys are
//! joined with a double underscore: `server.ping_interval_ms` is `IOHOST_SERVER__PING_INTERVAL_MS`.
//! Every key is documented in `iohost.example.toml` at the repository root.

mod load;
mod names;
mod strapi;
mod validate;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use load::{ConfigSource, DEFAULT_FILE, from_toml_str, load};
pub use names::{globs, redact, valid_handler_name};

/// Run-time config values per handler: handler name -> config key -> value.
pub type ConfigOverrides = BTreeMap<String, serde_json::Map<String, serde_json::Value>>;
pub use strapi::{
    DeliveryRule, DraftsConfig, FieldRules, PayloadShape, Permission, RoleFields, StrapiConfig,
};

/// Everything that can go wrong while reading the configuration. Each variant names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path} does not exist")]
    MissingFile { path: String },
    #[error("{0}")]
    Parse(String),
    #[error("invalid value for `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

impl ConfigError {
    fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// The whole configuration of one iohost process.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub rooms: RoomsConfig,
    pub private_messages: PrivateMessagesConfig,
    pub handlers: HandlersConfig,
    pub api: ApiConfig,
    pub relay: RelayConfig,
    pub strapi: StrapiConfig,
    pub access: AccessConfig,
    pub settings: SettingsConfig,
    pub cluster: ClusterConfig,
    pub log: LogConfig,
    pub metrics: MetricsConfig,
}

/// `GET /metrics`: who may read it and what it names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Ask for one of `api.keys` (`Authorization: Bearer <key>`), as the HTTP API does.
    pub require_key: bool,
    /// Label API-token connections with the token's name (`role="token:dashboard"`); by
    /// default all of them are `role="token"`, so the metrics name no tokens.
    pub name_tokens: bool,
}

impl Config {
    /// A copy with every secret (Strapi's JWT secret, API token, admin password and webhook
    /// secret, the API keys, the Redis password) replaced by `[hidden]`, for printing.
    pub fn redacted(&self) -> Self {
        let hide = |secret: &mut String| {
            if !secret.is_empty() {
                *secret = "[hidden]".to_owned();
            }
        };
        let mut copy = self.clone();
        let strapi = &mut copy.strapi;
        for secret in [
            &mut strapi.jwt_secret,
            &mut strapi.api_token,
            &mut strapi.admin_password,
            &mut strapi.webhook_secret,
        ] {
            hide(secret);
        }
        copy.api.keys.iter_mut().for_each(hide);
        copy.cluster.redis_url = redact(&copy.cluster.redis_url);
        copy.cluster.sentinels = copy.cluster.sentinels.iter().map(|u| redact(u)).collect();
        hide(&mut copy.cluster.master_password);
        copy
    }
}

/// Transport, limits and lifecycle of the Socket.IO server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port to listen on; port 0 picks a free port (the log says which).
    pub listen: SocketAddr,
    /// Namespaces served besides `/`, e.g. `["/admin"]`.
    pub namespaces: Vec<String>,
    /// Origins allowed to connect from a browser; `["*"]` allows any.
    pub cors_origins: Vec<String>,
    /// Engine.IO transports offered to clients.
    pub transports: Vec<Transport>,
    /// Also accept socket.io-client v2 (Engine.IO 3, Socket.IO protocol 4), as
    /// strapi-plugin-io's `allowEIO3: true` did.
    pub allow_eio3: bool,
    pub ping_interval_ms: u64,
    pub ping_timeout_ms: u64,
    /// Time a client has to join a namespace after the Engine.IO handshake.
    pub connect_timeout_ms: u64,
    /// Largest polling request body and largest websocket message, in bytes.
    pub max_payload_bytes: u64,
    /// Largest number of binary attachments in one packet.
    pub max_attachments: usize,
    /// Longest event name a client may send, in bytes; a longer one is refused without being
    /// echoed back or logged whole.
    pub max_event_name_bytes: usize,
    /// Largest number of connected sockets, all namespaces together.
    pub max_connections: usize,
    /// Packets queued per socket before the slow-client policy applies.
    pub socket_queue_size: usize,
    /// Bytes read from a websocket at a time. Each connection keeps a buffer this big for its
    /// life; larger messages still arrive whole, in more reads.
    pub ws_read_buffer_bytes: usize,
    /// How the async work is spread over the cores iohost may use.
    pub scheduler: Scheduler,
    /// How long a graceful shutdown waits for connections to close.
    pub shutdown_drain_ms: u64,
    /// Folder of static files served at `/` (a demo or a small front end); empty: none.
    pub static_dir: PathBuf,
    /// A request head must arrive within this (counted from the connection's first byte
    /// wait: a client that connects and sends nothing is closed too).
    pub header_timeout_ms: u64,
    /// A request body must arrive whole within this.
    pub body_timeout_ms: u64,
    /// A connection with no byte read or written for this long is closed. Longer than
    /// `ping_interval_ms`: the heartbeat keeps live Socket.IO connections busy.
    pub idle_timeout_ms: u64,
    /// TCP connections open at once, all clients together.
    pub max_tcp_connections: usize,
    /// TCP connections open at once from one client address (an IPv6 client: its /64).
    pub max_connections_per_address: usize,
    /// New TCP connections per second from one client address, after a burst of
    /// `connect_burst_per_address` (a token bucket).
    pub connect_rate_per_address: u32,
    pub connect_burst_per_address: u32,
    /// Engine.IO sessions that have not joined a namespace yet (each waits at most
    /// `connect_timeout_ms`), all clients together, and per client address.
    pub max_pending_sessions: usize,
    pub max_pending_sessions_per_address: usize,
    /// Proxies (addresses or networks) whose `X-Forwarded-For` names the client; per-address
    /// limits then apply to that client, not to the proxy.
    pub trusted_proxies: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 1338)),
            namespaces: Vec::new(),
            cors_origins: vec!["http://localhost:3000".to_owned()],
            transports: vec![Transport::Polling, Transport::Websocket],
            allow_eio3: true,
            ping_interval_ms: 25_000,
            ping_timeout_ms: 20_000,
            connect_timeout_ms: 10_000,
            max_payload_bytes: 1_000_000,
            max_attachments: 64,
            max_event_name_bytes: 256,
            max_connections: 10_000,
            socket_queue_size: 1_024,
            ws_read_buffer_bytes: 512,
            scheduler: Scheduler::WorkStealing,
            shutdown_drain_ms: 10_000,
            static_dir: PathBuf::new(),
            header_timeout_ms: 10_000,
            body_timeout_ms: 30_000,
            idle_timeout_ms: 60_000,
            max_tcp_connections: 15_000,
            max_connections_per_address: 256,
            connect_rate_per_address: 20,
            connect_burst_per_address: 100,
            max_pending_sessions: 1_000,
            max_pending_sessions_per_address: 100,
            trusted_proxies: Vec::new(),
        }
    }
}

impl ServerConfig {
    pub fn ping_interval(&self) -> Duration {
        Duration::from_millis(self.ping_interval_ms)
    }
    pub fn ping_timeout(&self) -> Duration {
        Duration::from_millis(self.ping_timeout_ms)
    }
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
    pub fn shutdown_drain(&self) -> Duration {
        Duration::from_millis(self.shutdown_drain_ms)
    }
    /// `trusted_proxies`, parsed.
    pub fn trusted_proxies(&self) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        self.trusted_proxies
            .iter()
            .enumerate()
            .map(|(i, text)| {
                text.parse::<ipnet::IpNet>()
                    .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        ConfigError::invalid(
                            format!("server.trusted_proxies[{i}]"),
                            "an IP address or a network such as 10.0.0.0/8",
                        )
                    })
            })
            .collect()
    }

    /// `/` followed by the configured extra namespaces.
    pub fn all_namespaces(&self) -> Vec<String> {
        std::iter::once("/".to_owned())
            .chain(self.namespaces.iter().cloned())
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Polling,
    Websocket,
}

/// Which rooms a client may join with `join-room`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoomsConfig {
    /// Regular expression every room name must match.
    pub name_pattern: String,
    pub max_name_length: usize,
    /// Rooms one socket may join with `join-room` (the rooms iohost joins for it do not count).
    pub max_per_socket: usize,
    /// Glob patterns of rooms any role may join.
    pub allow: Vec<String>,
    /// Per-role overrides: a role listed here may join only the rooms its own `allow` names.
    pub roles: BTreeMap<String, RoleRooms>,
}

impl Default for RoomsConfig {
    fn default() -> Self {
        Self {
            name_pattern: "^[A-Za-z0-9_-]+$".to_owned(),
            max_name_length: 128,
            max_per_socket: 50,
            allow: vec!["*".to_owned()],
            roles: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoleRooms {
    pub allow: Vec<String>,
}

/// The `private-message` client event (socket to socket).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivateMessagesConfig {
    pub enabled: bool,
    /// Longest message, in characters.
    pub max_length: usize,
}

impl Default for PrivateMessagesConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            max_length: 10_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter such as `info` or `iohost=debug,info`; `RUST_LOG` wins when set.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: LogFormat::Text,
        }
    }
}

/// How the async work is spread over the cores iohost may use (on one core, both are the same
/// single-threaded runtime).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheduler {
    /// One single-threaded runtime per core; each connection (its socket's reading, writing
    /// and handler calls) stays on the runtime it was handed to, the one with the fewest open
    /// connections. No work moves between cores; a core shared with another busy process
    /// slows its connections down (BENCHMARKS.md).
    PerCore,
    /// One runtime whose worker threads take ready work from each other (tokio's
    /// multi-threaded scheduler).
    WorkStealing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The WebAssembly handlers folder and the limits each handler runs under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HandlersConfig {
    pub enabled: bool,
    /// Folder of `<name>.wasm` components (and optional `<name>.toml` sidecars).
    pub dir: PathBuf,
    /// Precompiled code, keyed by content hash, each entry authenticated with a key kept
    /// there (made on first use). Outside `dir`: who may install a handler need not write here.
    pub cache_dir: PathBuf,
    /// Reload handlers when files in `dir` change.
    pub watch: bool,
    /// Quiet time after the last change before a reload.
    pub debounce_ms: u64,
    /// A new or changed handler serves as soon as the baseline compiler (Winch: a fraction of
    /// the time, slower code) has compiled it; the optimising compiler's code (Cranelift,
    /// cached on disk) replaces it when ready. `false`: wait for the optimised code.
    pub baseline_first: bool,
    /// Largest `.wasm` file accepted.
    pub max_file_bytes: u64,
    /// Longest one load (read, compile, type-check, first instance and `init`) may take; a
    /// load past it fails and the version in service keeps serving.
    pub load_timeout_ms: u64,
    /// Defaults for every handler; a sidecar's `[limits]` overrides them for its handler.
    pub limits: HandlerLimits,
    /// Which handlers may call Strapi's REST API.
    pub strapi: HandlerStrapiConfig,
    /// Handler -> glob patterns of iohost's reserved rooms (`io-*`, `user-<id>`, entity rooms)
    /// it may put sockets in, take them out of and emit into. None by default.
    pub reserved_rooms: std::collections::BTreeMap<String, Vec<String>>,
    /// What a handler's faults do: refuse or pass the event, switch the handler off.
    pub failure: FailureConfig,
    /// Which handlers see Strapi's content events (`on-content`).
    pub content: HandlerContentConfig,
}

/// `[handlers.content]`: the handlers whose `on-content` runs. A content handler reads every
/// audience's content events (drafts too, for roles that read them) and what it sends goes to
/// that audience's room: only an operator can grant that. None by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HandlerContentConfig {
    /// Handler names granted content events; empty: none.
    pub allow: Vec<String>,
}

/// `[handlers.failure]`: what happens when a handler faults (traps, runs past its time or
/// memory limit, answers with a bad payload). `busy` refusals are load, not faults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FailureConfig {
    /// Consecutive faults after which a handler is switched off (0: never), until it is
    /// enabled by hand or a new version of its file is installed.
    pub disable_after: u64,
    /// `fail_closed`: the event (or connection) a fault hits is refused, and a switched-off
    /// handler's events are refused; `fail_open`: they go on down the chain as if it passed.
    pub on_fault: OnFault,
    /// Per handler name, over the two above: `[handlers.failure.handlers.<name>]`.
    pub handlers: std::collections::BTreeMap<String, FailurePolicy>,
}

impl Default for FailureConfig {
    fn default() -> Self {
        Self {
            disable_after: 20,
            on_fault: OnFault::FailClosed,
            handlers: std::collections::BTreeMap::new(),
        }
    }
}

impl FailureConfig {
    /// The policy handler `name` runs under.
    pub fn policy(&self, name: &str) -> Policy {
        let own = self.handlers.get(name);
        Policy {
            disable_after: own
                .and_then(|p| p.disable_after)
                .unwrap_or(self.disable_after),
            on_fault: own.and_then(|p| p.on_fault).unwrap_or(self.on_fault),
        }
    }
}

/// One handler's `[handlers.failure.handlers.<name>]`: unset keys are `[handlers.failure]`'s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FailurePolicy {
    pub disable_after: Option<u64>,
    pub on_fault: Option<OnFault>,
}

/// The failure policy a handler runs under, as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// Consecutive faults after which it is switched off (0: never).
    pub disable_after: u64,
    pub on_fault: OnFault,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnFault {
    FailClosed,
    FailOpen,
}

/// `[handlers.strapi]`: the grant to call Strapi (the `strapi` import). An operator's decision,
/// so it lives here and not in a handler's sidecar, which ships with the handler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HandlerStrapiConfig {
    /// Handler names granted access; empty: none.
    pub allow: Vec<String>,
    /// Longest wait for one Strapi request.
    pub timeout_ms: u64,
    /// Longest one call may wait for Strapi, all its requests together.
    pub call_budget_ms: u64,
    /// Largest answer handed to a handler.
    pub max_response_bytes: usize,
    /// `send`s (fire and forget) one handler may have in flight; more are refused.
    pub max_pending_sends: usize,
}

impl Default for HandlerStrapiConfig {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            timeout_ms: 3_000,
            call_budget_ms: 10_000,
            max_response_bytes: 1024 * 1024,
            max_pending_sends: 256,
        }
    }
}

impl Default for HandlersConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            dir: PathBuf::from("handlers"),
            cache_dir: PathBuf::from(".iohost/cache"),
            watch: true,
            debounce_ms: 150,
            baseline_first: true,
            max_file_bytes: 100 * 1024 * 1024,
            load_timeout_ms: 120_000,
            limits: HandlerLimits::default(),
            strapi: HandlerStrapiConfig::default(),
            reserved_rooms: std::collections::BTreeMap::new(),
            failure: FailureConfig::default(),
            content: HandlerContentConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct HandlerLimits {
    /// Linear memory one instance may grow to, all its memories together.
    pub memory_mb: u64,
    /// Longest one call (an event, a connect, a tick) may run.
    pub call_timeout_ms: u64,
    /// Longest instantiation plus `init` may run.
    pub init_timeout_ms: u64,
    /// Instances of one handler version running at once; further calls wait for one.
    pub max_instances: usize,
    /// Calls waiting for a free instance at most; past it an event is refused as busy.
    pub max_waiting: usize,
    /// Elements all tables of one instance may hold together.
    pub table_elements: u64,
    /// Linear memory idle instances kept for the next calls may hold together; an instance
    /// that would take the pool past it is dropped instead.
    pub idle_memory_mb: u64,
    /// Keys the handler may keep in the KV store (all its versions and instances together,
    /// on every node of a cluster).
    pub kv_keys: u64,
    /// Bytes of keys and values the handler may keep in the KV store.
    pub kv_mb: u64,
    /// Actions (emits, joins, leaves, disconnects) one call may ask for; iohost holds them
    /// until the call returns, so past it the call fails.
    pub actions_per_call: u64,
    /// MiB of event names, rooms and arguments those actions may hold together.
    pub action_mb_per_call: u64,
    /// Longest one call may wait for acks (`emit-with-ack`), all its waits together; the
    /// waits hold an instance, so they do not count against `call_timeout_ms`.
    pub ack_wait_ms: u64,
    /// Longest one call may wait for the KV store when it is Redis, all its operations
    /// together (past it they fail as `unavailable`); not counted in `call_timeout_ms`. The
    /// in-process store never waits.
    pub kv_wait_ms: u64,
}

impl Default for HandlerLimits {
    fn default() -> Self {
        Self {
            memory_mb: 32,
            call_timeout_ms: 100,
            init_timeout_ms: 2_000,
            max_instances: 16,
            max_waiting: 256,
            table_elements: 100_000,
            idle_memory_mb: 128,
            kv_keys: 100_000,
            kv_mb: 64,
            actions_per_call: 1_000,
            action_mb_per_call: 16,
            ack_wait_ms: 10_000,
            kv_wait_ms: 1_000,
        }
    }
}

/// The HTTP API for backends (`/api/v1`).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Bearer keys accepted; none configured means the API answers 503.
    pub keys: Vec<String>,
}

impl ApiConfig {
    /// Does the `Authorization` header value carry one of the keys (`Bearer <key>`)? Compared
    /// in constant time, every key checked, so timing tells nothing about a near match.
    pub fn accepts(&self, authorization: Option<&str>) -> bool {
        use subtle::ConstantTimeEq;
        let presented = authorization
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        presented.is_some_and(|p| {
            self.keys.iter().fold(false, |ok, key| {
                ok | bool::from(key.as_bytes().ct_eq(p.as_bytes()))
            })
        })
    }
}

// Keys are secrets: never in logs or debug output.
impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field("keys", &format_args!("[{} hidden]", self.keys.len()))
            .finish()
    }
}

/// `[relay]`: the Strapi plugin's socket listeners (`strapi.$io.server.on('connection', ...)`),
/// which run in Strapi and get this node's connections, events and disconnects over
/// `GET /api/v1/relay`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelayConfig {
    /// Longest wait for Strapi's answer: a new socket's listeners before its first event is
    /// handled (past it, the socket's events skip Strapi), a `socket.use` verdict or a
    /// listener's ack (past it, the event is refused).
    pub answer_timeout_ms: u64,
    /// Messages waiting for one Strapi stream; when full, a new socket is not relayed and an
    /// event that needs Strapi's answer is refused.
    pub queue_size: usize,
    /// Strapi streams this node serves at once (one per Strapi process).
    pub max_streams: usize,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            answer_timeout_ms: 2000,
            queue_size: 1024,
            max_streams: 16,
        }
    }
}

/// Where run-time settings (changed through the API) are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SettingsConfig {
    /// JSON file, replaced atomically on every change.
    pub file: PathBuf,
}

impl Default for SettingsConfig {
    fn default() -> Self {
        Self {
            file: PathBuf::from(".iohost/settings.json"),
        }
    }
}

/// `[cluster]`: several nodes as one, on Redis.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// Redis for the cluster (`redis://host:6379`, `rediss://` for TLS is not built in); empty:
    /// this node runs alone.
    pub redis_url: String,
    /// Redis behind Sentinel instead (exclusive with `redis_url`): the Sentinels' URLs
    /// (`redis://10.0.0.1:26379`); iohost follows the master they name through failovers.
    pub sentinels: Vec<String>,
    /// The name of the master the Sentinels monitor.
    pub sentinel_master: String,
    /// The password of that master and its replicas, if they have one.
    pub master_password: String,
    /// Prefix of every Redis key and channel, so several clusters can share one Redis.
    pub prefix: String,
    /// Longest wait for the other nodes' answers (the socket list, a socket's whereabouts, an
    /// action on another node's socket); an answer missing a node says so.
    pub request_timeout_ms: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            redis_url: String::new(),
            sentinels: Vec::new(),
            sentinel_master: String::new(),
            master_password: String::new(),
            prefix: "iohost".to_owned(),
            request_timeout_ms: 1000,
        }
    }
}

// The URL may carry a password.
impl std::fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("redis_url", &redact(&self.redis_url))
            .field(
                "sentinels",
                &self.sentinels.iter().map(|u| redact(u)).collect::<Vec<_>>(),
            )
            .field("sentinel_master", &self.sentinel_master)
            .field(
                "master_password",
                &if self.master_password.is_empty() {
                    ""
                } else {
                    "[hidden]"
                },
            )
            .field("prefix", &self.prefix)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .finish()
    }
}

/// Who may connect, and to which namespaces (checked in every namespace).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccessConfig {
    /// Refuse sockets without a valid Strapi user token.
    pub require_auth: bool,
    /// Roles that may connect at all; empty: every role.
    pub roles: Vec<String>,
    /// Per namespace, the roles that may connect to it; a namespace not listed is open.
    pub namespaces: BTreeMap<String, Vec<String>>,
}
