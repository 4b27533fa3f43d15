//! WebAssembly handlers: custom event logic loaded from a folder and replaced while iohost runs.
//!
//! - [`engine`]: wasmtime's two compilers (quick baseline, optimising), the epoch ticker, the
//!   linker, compilation with a cache of optimised code.
//! - [`host_api`]: the imports handlers may call (`sockets`, `kv`, `log`, `clock`, `config`,
//!   `strapi`).
//! - [`version`]: one loaded version with its pool of instances, its limits and its calls;
//!   [`pool`]: the warm instances, one idle list per thread; [`limits`]: what one instance
//!   may hold.
//! - [`loader`]: checking and loading a `.wasm` file ([`files`]: only regular files);
//!   [`cache`]: authenticated compiled code; [`watch`]: hot reload.
//! - [`failure`]: what a handler's faults do (refuse or pass the event; switch it off).
//! - [`testing`]: `iohost handlers test`, a component run in-process against a script.
//! - [`actions`]: what handlers asked for, carried out after the call (reserved rooms vetted
//!   in this file).
//! - This file: the [`Runtime`] and its chain, which every event goes through in priority order.

mod actions;
pub mod bindings;
mod cache;
mod engine;
pub mod failure;
mod files;
mod host_api;
mod limits;
mod loader;
mod payload;
mod pool;
pub mod scaffold;
mod socket_info;
use socket_info::Acting;
pub mod strapi_gateway;
pub mod testing;
mod version;
mod watch;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::cluster::Io;
use crate::cluster::SocketRef;
use arc_swap::ArcSwap;

use crate::config::{HandlersConfig, OnFault, Policy};
use crate::model::Args;
use crate::sockets::Directory;
use crate::store::Kv;
pub use bindings::iohost::handler::types::ContentEvent;
use bindings::iohost::handler::types::{
    ConnectResult, ContentResult, Event, EventResult, Payload, Target,
};

use cache::CodeCache;
use failure::{FaultNotice, Faulted};
use tokio::sync::mpsc;

pub use actions::Action;
pub use engine::{Engine, Tier};
pub use host_api::Links;
pub use loader::{Inspection, inspect};
pub use socket_info::CallSocket;
pub use strapi_gateway::StrapiGateway;
pub use version::{Handler, kv_quota, short};
pub use watch::Watcher;

/// Bytes a handler's ack may hold once read into values (its text, attachments and values):
/// the text comes from the guest's memory, the values it makes are iohost's.
pub const MAX_HANDLER_ACK_BYTES: usize = 16 * 1024 * 1024;

/// An `on-event` answer as the chain reads it: `None` passes the event on. An ack that is not
/// a payload is refused (a fault).
fn read_event_answer(
    (result, actions): (EventResult, Vec<actions::Action>),
) -> Result<(Option<Outcome>, Vec<actions::Action>), String> {
    let outcome = match result {
        EventResult::Pass => None,
        EventResult::Reject(reason) => Some(Outcome::Rejected(reason)),
        EventResult::Handled(None) => Some(Outcome::Handled(None)),
        EventResult::Handled(Some(ack)) => {
            let (args, _) = ack
                .into_args_within(MAX_HANDLER_ACK_BYTES)
                .map_err(|e| format!("its ack: {e}"))?;
            Some(Outcome::Handled(Some(args)))
        }
    };
    Ok((outcome, actions))
}

/// Refuses an `on-content` answer whose data is not JSON or that names more than
/// [`MAX_WITHIN_ROOMS`] rooms.
fn check_content_answer(
    answer: (ContentResult, Vec<actions::Action>),
) -> Result<(ContentResult, Vec<actions::Action>), String> {
    if let ContentResult::Deliver(delivery) = &answer.0 {
        if let Some(data) = &delivery.data {
            serde_json::from_str::<serde::de::IgnoredAny>(data)
                .map_err(|e| format!("its on-content data is not JSON: {e}"))?;
        }
        if delivery
            .within
            .as_ref()
            .is_some_and(|w| w.len() > MAX_WITHIN_ROOMS)
        {
            return Err(format!(
                "its on-content names more than {MAX_WITHIN_ROOMS} rooms in `within`"
            ));
        }
    }
    Ok(answer)
}

/// Rooms one `on-content` answer may narrow an event to: each is a question to every node.
pub const MAX_WITHIN_ROOMS: usize = 16;

/// What the handlers made of one audience's content event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentDecision {
    /// Nobody in this audience gets it.
    Drop,
    /// Send it to the event's room, with `data` (JSON text) when a handler replaced the
    /// argument; with `within`, only to its sockets that are also in one room of each list
    /// (every handler that narrowed it added one).
    Deliver {
        within: Vec<Vec<String>>,
        data: Option<String>,
    },
}

/// A call into a handler that did not return normally. The `Display` text is what the client
/// reads (ack `error` or `error` event); the log has the details.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("handler `{handler}` failed: it ran longer than its {ms} ms limit")]
    Timeout { handler: String, ms: u64 },
    #[error("handler `{handler}` failed: it used more than its {mb} MB memory limit")]
    MemoryLimit { handler: String, mb: u64 },
    #[error("handler `{handler}` failed: {what}")]
    ResourceLimit { handler: String, what: String },
    #[error(
        "handler `{handler}` is busy: {waiting} events are waiting for it already, the most [handlers.limits] max_waiting allows"
    )]
    Busy { handler: String, waiting: usize },
    #[error("handler `{handler}` failed: {message}")]
    Trap { handler: String, message: String },
    #[error("handler `{handler}` refused to start: {reason}")]
    InitRefused { handler: String, reason: String },
    #[error("handler `{handler}` answered with a bad payload: {reason}")]
    BadPayload { handler: String, reason: String },
    #[error("handler `{handler}` is switched off after {faults} consecutive faults")]
    SwitchedOff { handler: String, faults: u64 },
}

/// Why a file could not become a handler. A loaded version stays in service meanwhile.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("handler names are lower-case letters, digits, `-` and `_`: `{0}` is not one")]
    BadName(String),
    #[error("file is {size} bytes, more than {max} (handlers.max_file_bytes; a sidecar 1 MiB)")]
    TooLarge { size: u64, max: u64 },
    #[error("{path} is {kind}, not a file: only regular files (or links to one) are loaded")]
    NotAFile { path: String, kind: &'static str },
    #[error("loading took longer than handlers.load_timeout_ms ({ms} ms)")]
    TimedOut { ms: u64 },
    #[error("not a WebAssembly component (bad header); build handlers for wasm32-wasip2")]
    NotAComponent,
    #[error("a core WebAssembly module, not a component; build for wasm32-wasip2")]
    CoreModule,
    #[error("does not compile: {0}")]
    Compile(String),
    #[error("does not fit the iohost:handler world: {0}")]
    WrongWorld(String),
    #[error("bad sidecar {path}: {reason}")]
    Sidecar { path: String, reason: String },
    #[error("{0}")]
    Start(#[from] CallError),
}

/// Loads handler `name` from `config.dir` on its own, with no Socket.IO server attached
/// (emits are returned, not carried out): for benchmarks and tools.
pub async fn load_standalone(
    config: &HandlersConfig,
    kv: Kv,
    name: &str,
) -> Result<Arc<Handler>, LoadError> {
    // Optimised code only: what is measured is what a server runs once warm.
    load_alone(config, kv, name, None, false).await
}

/// [`load_standalone`], with `overrides` over the sidecar's `[config]` and the code tier.
async fn load_alone(
    config: &HandlersConfig,
    kv: Kv,
    name: &str,
    overrides: Option<&serde_json::Map<String, serde_json::Value>>,
    baseline_first: bool,
) -> Result<Arc<Handler>, LoadError> {
    let engine = Engine::new().map_err(|e| LoadError::Compile(format!("{e:#}")))?;
    let context = loader::LoadContext {
        current: None,
        overrides,
        baseline_first,
        cache: Arc::new(CodeCache::open(&config.cache_dir)),
        held: None,
    };
    match loader::load(&engine, config, kv, Links::default(), name, context).await? {
        loader::LoadOutcome::Loaded(loaded) => Ok(Arc::from(loaded.handler)),
        _ => Err(LoadError::Io {
            path: config
                .dir
                .join(format!("{name}.wasm"))
                .display()
                .to_string(),
            source: std::io::ErrorKind::NotFound.into(),
        }),
    }
}

fn loads(handler: &str, result: &'static str) {
    metrics::counter!(crate::metrics::HANDLER_LOADS, "handler" => handler.to_owned(), "result" => result)
        .increment(1);
}

/// What the chain decided about one client event: the host's side of a handler's answer (the
/// guest SDK's `Outcome`, the WIT's `event-result`), for all handlers together.
#[derive(Debug)]
pub enum Outcome {
    /// No handler took it: the built-in events (or "no handler") come next.
    Pass,
    /// A handler took it; the ack to send, if any.
    Handled(Option<Args>),
    /// A handler refused it, with the reason for the client.
    Rejected(String),
    /// A handler failed; the message for the client.
    Failed(String),
}

/// The handlers in call order: highest priority first, then by name.
#[derive(Default)]
struct Chain {
    handlers: Vec<Arc<Handler>>,
}

impl Chain {
    fn with(&self, handler: Arc<Handler>) -> Self {
        let mut handlers: Vec<_> = self
            .handlers
            .iter()
            .filter(|h| h.name != handler.name)
            .cloned()
            .collect();
        handlers.push(handler);
        handlers.sort_by(|a, b| {
            b.registration
                .priority
                .cmp(&a.registration.priority)
                .then_with(|| a.name.cmp(&b.name))
        });
        Self { handlers }
    }

    fn without(&self, name: &str) -> Self {
        Self {
            handlers: self
                .handlers
                .iter()
                .filter(|h| &*h.name != name)
                .cloned()
                .collect(),
        }
    }
}

pub struct Runtime {
    engine: Engine,
    config: HandlersConfig,
    kv: Kv,
    io: OnceLock<Io>,
    directory: OnceLock<Arc<Directory>>,
    strapi: OnceLock<Arc<StrapiGateway>>,
    chain: ArcSwap<Chain>,
    /// The last load error per handler name, cleared by a successful load.
    errors: Mutex<HashMap<String, String>>,
    /// One lock per handler name: two loads of one handler cannot race, and a slow load
    /// (a stuck file, a long compile) holds up no other handler's.
    loading: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Optimised code written and read back only with this cache's authentication.
    cache: Arc<CodeCache>,
    /// Optimised compiles in the background run one at a time: they share the CPU with events.
    optimizing: tokio::sync::Mutex<()>,
    /// Handlers switched off by the operator (a run-time setting): not loaded.
    disabled: ArcSwap<std::collections::BTreeSet<String>>,
    /// Config values set at run time, per handler, over their sidecars' `[config]`.
    overrides: ArcSwap<ConfigOverrides>,
    /// `[handlers.reserved_rooms]`: the reserved rooms each handler may act in.
    room_grants: HashMap<String, globset::GlobSet>,
    /// Handler versions switched off after their faults (the run-time setting, and this
    /// node's own switch-offs before the setting comes back).
    faulted: ArcSwap<BTreeMap<String, Faulted>>,
    /// Where switch-offs are told, to become the setting on every node.
    notices: OnceLock<mpsc::Sender<FaultNotice>>,
}

pub use crate::config::ConfigOverrides;

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("dir", &self.config.dir)
            .field(
                "handlers",
                &self
                    .chain
                    .load()
                    .handlers
                    .iter()
                    .map(|h| h.name.to_string())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Runtime {
    pub fn new(config: HandlersConfig, kv: Kv) -> anyhow::Result<Arc<Self>> {
        let mut room_grants = HashMap::new();
        for (name, patterns) in &config.reserved_rooms {
            let key = format!("handlers.reserved_rooms.{name}");
            room_grants.insert(name.clone(), crate::config::globs(&key, patterns)?);
        }
        Ok(Arc::new(Self {
            room_grants,
            engine: Engine::new()?,
            cache: Arc::new(CodeCache::open(&config.cache_dir)),
            config,
            kv,
            io: OnceLock::new(),
            directory: OnceLock::new(),
            strapi: OnceLock::new(),
            chain: ArcSwap::from_pointee(Chain::default()),
            errors: Mutex::new(HashMap::new()),
            loading: Mutex::new(HashMap::new()),
            optimizing: tokio::sync::Mutex::new(()),
            disabled: ArcSwap::from_pointee(std::collections::BTreeSet::new()),
            overrides: ArcSwap::from_pointee(ConfigOverrides::new()),
            faulted: ArcSwap::from_pointee(BTreeMap::new()),
            notices: OnceLock::new(),
        }))
    }

    /// Switch-offs and new versions of switched-off handlers, for the settings to record
    /// (`faultedHandlers`). `None` after the first call.
    pub fn fault_notices(&self) -> Option<mpsc::Receiver<FaultNotice>> {
        let (sender, receiver) = mpsc::channel(failure::NOTICES);
        self.notices.set(sender).ok().map(|()| receiver)
    }

    /// Which handler versions are switched off after their faults (the run-time setting). A
    /// handler missing from `faulted` is on again.
    pub fn set_faulted(&self, faulted: BTreeMap<String, Faulted>) {
        for handler in self.chain.load().handlers.iter() {
            let off = faulted
                .get(&*handler.name)
                .filter(|f| f.version == handler.sha256);
            if off.is_none() && handler.stats.switched_off().is_some() {
                // Switched on again: its count starts over.
                handler.stats.consecutive_faults.store(0, Ordering::Relaxed);
            }
            handler.stats.set_switched_off(off.cloned());
        }
        self.faulted.store(Arc::new(faulted));
    }

    /// The failure policy of handler `name` (`[handlers.failure]`).
    pub fn policy(&self, name: &str) -> Policy {
        self.config.failure.policy(name)
    }

    /// After a failed call: switches the handler off once its consecutive faults reach its
    /// `disable_after`.
    fn after_fault(&self, handler: &Handler, error: &CallError) {
        // A version replaced while its call ran is not the one in service.
        if !failure::is_fault(error) || handler.is_retired() {
            return;
        }
        let limit = self.policy(&handler.name).disable_after;
        let faults = handler.stats.consecutive_faults.load(Ordering::Relaxed);
        if limit == 0 || faults < limit || handler.stats.switched_off().is_some() {
            return;
        }
        let faulted = Faulted {
            version: handler.sha256.clone(),
            faults,
            error: error.to_string(),
            at: crate::model::now_ms(),
        };
        handler.stats.set_switched_off(Some(faulted.clone()));
        let name = handler.name.to_string();
        self.faulted.rcu(|all| {
            let mut all = (**all).clone();
            all.insert(name.clone(), faulted.clone());
            all
        });
        tracing::error!(
            handler = %name,
            version = short(&handler.sha256),
            faults,
            "handler switched off after {faults} consecutive faults (handlers.failure.disable_after); \
             enable it again on the admin page or install a new version"
        );
        loads(&name, "switched_off");
        self.notify(FaultNotice::SwitchedOff(name, faulted));
    }

    fn notify(&self, notice: FaultNotice) {
        if let Some(sender) = self.notices.get()
            && sender.try_send(notice).is_err()
        {
            tracing::warn!(
                "the settings are not keeping up with handler switch-offs: one is not recorded"
            );
        }
    }

    /// Sets which handlers are switched off; returns the names whose state changed (reload
    /// those to apply it).
    pub fn set_disabled(&self, disabled: std::collections::BTreeSet<String>) -> Vec<String> {
        let old = self.disabled.swap(Arc::new(disabled.clone()));
        old.symmetric_difference(&disabled).cloned().collect()
    }

    /// Sets the run-time config overrides; returns the handlers whose overrides changed
    /// (reload those to apply them).
    pub fn set_overrides(&self, overrides: ConfigOverrides) -> Vec<String> {
        let old = self.overrides.swap(Arc::new(overrides.clone()));
        old.keys()
            .chain(overrides.keys())
            .filter(|name| old.get(*name) != overrides.get(*name))
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    pub fn is_disabled(&self, name: &str) -> bool {
        self.disabled.load().contains(name)
    }

    /// Gives granted handlers Strapi's REST API (before handlers are loaded).
    pub fn attach_strapi(&self, gateway: StrapiGateway) {
        let _ = self.strapi.set(Arc::new(gateway));
    }

    /// Gives the runtime the Socket.IO server its handlers act on.
    /// Connects the runtime to the sockets: `io` for this node's, `directory` for every node's.
    pub fn attach(&self, io: Io, directory: Arc<Directory>) {
        let _ = self.io.set(io);
        let _ = self.directory.set(directory);
    }

    pub fn config(&self) -> &HandlersConfig {
        &self.config
    }

    /// The loaded handlers, in call order.
    pub fn handlers(&self) -> Vec<Arc<Handler>> {
        self.chain.load().handlers.clone()
    }

    /// Load errors of handlers whose file is present but could not be loaded (or reloaded).
    pub fn load_errors(&self) -> HashMap<String, String> {
        self.errors.lock().map(|e| e.clone()).unwrap_or_default()
    }

    fn set_error(&self, name: &str, error: Option<String>) {
        if let Ok(mut errors) = self.errors.lock() {
            match error {
                Some(e) => errors.insert(name.to_owned(), e),
                None => errors.remove(name),
            };
        }
    }

    /// Loads every `*.wasm` in the folder, as many at once as there are cores (each load is
    /// bounded by `load_timeout_ms`). Files that fail are logged and skipped.
    pub async fn load_all(self: &Arc<Self>) {
        let dir = &self.config.dir;
        let names = match loader::handler_names(dir) {
            Ok(names) => names,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), "no handlers loaded: {e}");
                return;
            }
        };
        use futures_util::StreamExt;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        futures_util::stream::iter(names.iter().map(|name| self.reload(name)))
            .buffer_unordered(cores)
            .collect::<Vec<()>>()
            .await;
    }

    /// Brings handler `name` in line with the folder: loads or replaces it if its file is
    /// there and changed, unloads it if the file is gone. A file that fails to load leaves
    /// the version in service (if any) untouched.
    pub async fn reload(self: &Arc<Self>, name: &str) {
        self.reload_once(name, true).await;
    }

    /// [`Self::reload`]; a load that ran out of time is tried once more when its compile is
    /// over (the optimised code is cached by then) if `retry` says so.
    async fn reload_once(self: &Arc<Self>, name: &str, retry: bool) {
        // Held until this reload and any compile it started are over (a compile cannot be
        // stopped: past load_timeout_ms the load fails, but the next one waits for it).
        let held = Arc::new(self.name_lock(name).lock_owned().await);
        let current = self
            .chain
            .load()
            .handlers
            .iter()
            .find(|h| &*h.name == name)
            .cloned();
        let started = Instant::now();
        let outcome = if self.is_disabled(name) {
            Ok(loader::LoadOutcome::Gone)
        } else {
            self.load_in_time(name, current.as_deref(), held.clone())
                .await
        };
        match outcome {
            Ok(loader::LoadOutcome::Loaded(loaded)) => {
                let handler: Arc<Handler> = Arc::from(loaded.handler);
                tracing::info!(
                    handler = name,
                    version = short(&handler.sha256),
                    priority = handler.registration.priority,
                    events = ?handler.registration.events,
                    code = ?handler.tier,
                    took_ms = started.elapsed().as_millis() as u64,
                    "handler {}",
                    if current.is_some() { "replaced" } else { "loaded" }
                );
                self.put_in_service(handler.clone(), current);
                if let Some(source) = loaded.source {
                    self.optimize_later(&handler, source);
                }
                self.set_error(name, None);
                loads(name, "loaded");
            }
            Ok(loader::LoadOutcome::Unchanged) => {
                tracing::debug!(handler = name, "handler files unchanged");
            }
            Ok(loader::LoadOutcome::Gone) => self.unload(name, current),
            Err(e) => {
                let kept = current
                    .map(|h| format!("; version {} keeps serving", short(&h.sha256)))
                    .unwrap_or_default();
                tracing::error!(handler = name, "cannot load handler: {e}{kept}");
                self.set_error(name, Some(e.to_string()));
                loads(name, "failed");
                if retry && matches!(e, LoadError::TimedOut { .. }) {
                    drop(held);
                    self.retry_after_compile(name);
                }
            }
        }
    }

    /// Loads handler `name` within `load_timeout_ms` (past it, the version in service stays).
    async fn load_in_time(
        &self,
        name: &str,
        current: Option<&Handler>,
        held: Arc<tokio::sync::OwnedMutexGuard<()>>,
    ) -> Result<loader::LoadOutcome, LoadError> {
        let overrides = self.overrides.load();
        let context = loader::LoadContext {
            current,
            overrides: overrides.get(name),
            baseline_first: self.config.baseline_first,
            cache: self.cache.clone(),
            held: Some(held),
        };
        let links = Links {
            io: self.io.get().cloned(),
            directory: self.directory.get().cloned(),
            strapi: self.strapi.get().cloned(),
            room_grant: self.room_grants.get(name).cloned(),
        };
        let load = loader::load(
            &self.engine,
            &self.config,
            self.kv.clone(),
            links,
            name,
            context,
        );
        let limit = Duration::from_millis(self.config.load_timeout_ms);
        tokio::time::timeout(limit, load)
            .await
            .unwrap_or(Err(LoadError::TimedOut {
                ms: self.config.load_timeout_ms,
            }))
    }

    /// Takes handler `name` out of service (its file is gone or it is disabled).
    fn unload(&self, name: &str, current: Option<Arc<Handler>>) {
        self.set_error(name, None);
        if let Some(old) = current {
            self.chain.rcu(|chain| chain.without(name));
            old.retire();
            tracing::info!(
                handler = name,
                "handler unloaded (file removed or disabled)"
            );
            loads(name, "unloaded");
        }
    }

    /// Tries handler `name` again, once, when the compile its timed-out load left running
    /// is over (it holds the handler's load lock until then).
    fn retry_after_compile(self: &Arc<Self>, name: &str) {
        let (runtime, name) = (self.clone(), name.to_owned());
        tokio::spawn(async move {
            drop(runtime.name_lock(&name).lock_owned().await);
            tracing::info!(handler = name, "trying again now that its compile is over");
            runtime.reload_once(&name, false).await;
        });
    }

    /// The load lock of handler `name`. Locks nobody holds are dropped on the way, so names
    /// that come and go leave nothing behind.
    fn name_lock(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        let Ok(mut locks) = self.loading.lock() else {
            return Arc::default();
        };
        locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        locks.entry(name.to_owned()).or_default().clone()
    }

    /// Compiles optimised code for a version that runs baseline code, in the background, then
    /// puts it in service if that version is still the one loaded.
    fn optimize_later(self: &Arc<Self>, handler: &Arc<Handler>, source: Vec<u8>) {
        let runtime = self.clone();
        let name = handler.name.clone();
        let sha256 = handler.sha256.clone();
        tokio::spawn(async move {
            let _one_at_a_time = runtime.optimizing.lock().await;
            if runtime.baseline_version(&name, &sha256).is_none() {
                return; // replaced or unloaded while waiting
            }
            let engine = runtime.engine.clone();
            let cache = runtime.cache.clone();
            let hash = sha256.clone();
            let started = Instant::now();
            let compiled = tokio::task::spawn_blocking(move || {
                engine.compile_in_background(&source, &hash, &cache)
            })
            .await
            .map_err(|e| LoadError::Compile(format!("compiler task failed: {e}")))
            .and_then(|compiled| compiled);
            match compiled {
                Ok(component) => {
                    runtime
                        .adopt_optimized(&name, &sha256, component, started.elapsed())
                        .await
                }
                Err(e) => tracing::warn!(
                    handler = %name,
                    version = short(&sha256),
                    "no optimised code, baseline code keeps serving: {e}"
                ),
            }
        });
    }

    /// The loaded handler `name` if it is version `sha256` on baseline code.
    fn baseline_version(&self, name: &str, sha256: &str) -> Option<Arc<Handler>> {
        self.chain
            .load()
            .handlers
            .iter()
            .find(|h| &*h.name == name && h.sha256 == sha256 && h.tier == Tier::Baseline)
            .cloned()
    }

    async fn adopt_optimized(
        self: &Arc<Self>,
        name: &str,
        sha256: &str,
        component: wasmtime::component::Component,
        took: Duration,
    ) {
        let _one_at_a_time = self.name_lock(name).lock_owned().await;
        let Some(current) = self.baseline_version(name, sha256) else {
            return;
        };
        let recompiled = match self.engine.prepare(Tier::Optimized, &component) {
            Ok(code) => current.recompiled(code).await.map_err(LoadError::from),
            Err(e) => Err(e),
        };
        match recompiled {
            Ok(handler) => {
                self.put_in_service(Arc::new(handler), Some(current));
                tracing::info!(
                    handler = name,
                    version = short(sha256),
                    compile_ms = took.as_millis() as u64,
                    "handler runs optimised code"
                );
            }
            Err(e) => tracing::warn!(
                handler = name,
                version = short(sha256),
                "optimised code refused, baseline code keeps serving: {e}"
            ),
        }
    }

    /// Puts `handler` in the chain in place of `old` (same name), which is retired.
    fn put_in_service(self: &Arc<Self>, handler: Arc<Handler>, old: Option<Arc<Handler>>) {
        match self.faulted.load().get(&*handler.name) {
            Some(f) if f.version == handler.sha256 => {
                handler.stats.set_switched_off(Some(f.clone()));
            }
            Some(_) => {
                // A new version: it starts with a clean record.
                let name = handler.name.to_string();
                self.faulted.rcu(|all| {
                    let mut all = (**all).clone();
                    all.remove(&name);
                    all
                });
                self.notify(FaultNotice::NewVersion(name));
            }
            None => {}
        }
        if handler.takes_content() && !self.content_granted(&handler.name) {
            tracing::warn!(
                handler = %handler.name,
                "exports on-content but is not granted content events ([handlers.content] allow): it will not see them"
            );
        }
        self.chain.rcu(|chain| chain.with(handler.clone()));
        if let Some(old) = old {
            old.retire();
        }
        self.start_ticker(&handler);
    }

    /// May handler `name` see content events (`[handlers.content] allow`)?
    fn content_granted(&self, name: &str) -> bool {
        self.config.content.allow.iter().any(|n| n == name)
    }

    /// Is `handler`'s `on-content` run: it exports one and is granted content events?
    fn sees_content(&self, handler: &Handler) -> bool {
        handler.takes_content() && self.content_granted(&handler.name)
    }

    fn start_ticker(self: &Arc<Self>, handler: &Arc<Handler>) {
        let Some(ms) = handler.registration.tick_ms else {
            return;
        };
        let period = Duration::from_millis(u64::from(ms.max(100)));
        let weak = Arc::downgrade(handler);
        let runtime = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            interval.tick().await;
            loop {
                interval.tick().await;
                let (Some(handler), Some(runtime)) = (weak.upgrade(), runtime.upgrade()) else {
                    return;
                };
                if handler.is_retired() {
                    return;
                }
                if handler.stats.switched_off().is_some() {
                    continue;
                }
                match handler.on_tick().await {
                    Ok(((), actions)) => {
                        handler.stats.answered();
                        runtime.apply(&handler, None, actions).await;
                    }
                    Err(e) => runtime.after_fault(&handler, &e),
                }
            }
        });
    }

    async fn apply(
        &self,
        handler: &Handler,
        acting: Option<Acting<'_>>,
        actions: Vec<actions::Action>,
    ) {
        let actions = self.vet(handler, acting, actions).await;
        self.carry_out(&handler.name, actions).await;
    }

    async fn carry_out(&self, handler: &str, actions: Vec<actions::Action>) {
        if let (Some(io), Some(directory), false) =
            (self.io.get(), self.directory.get(), actions.is_empty())
        {
            actions::apply(io, directory, handler, actions).await;
        }
    }

    /// Drops the actions in iohost's reserved rooms the operator did not grant `handler`
    /// (`[handlers.reserved_rooms]`), each logged and counted; the rest stay, in order.
    /// `acting` is the socket the call was for: its own user's room is not reserved for it.
    async fn vet(
        &self,
        handler: &Handler,
        acting: Option<Acting<'_>>,
        actions: Vec<actions::Action>,
    ) -> Vec<actions::Action> {
        use actions::Action;
        let granted = self.room_grants.get(&*handler.name);
        let acting_user = acting.and_then(|s| s.user);
        let mut kept = Vec::with_capacity(actions.len());
        for action in actions {
            let (room, owner, what) = match &action {
                Action::EmitToRoom { room, .. }
                | Action::Volatile {
                    target: Target::Room(room),
                    ..
                } => (room, acting_user, "emit"),
                // A user's own room is theirs to use only for their own sockets: joining or
                // leaving another socket needs it to be the same user's, on any node.
                Action::Join { ns, sid, room } | Action::Leave { ns, sid, room } => {
                    let same_user = match acting_user {
                        Some(user) if crate::rooms::reserved_for(room, None) => {
                            (self.user_of(ns, sid, acting).await == Some(user)).then_some(user)
                        }
                        _ => None,
                    };
                    let what = if matches!(action, Action::Join { .. }) {
                        "join"
                    } else {
                        "leave"
                    };
                    (room, same_user, what)
                }
                _ => {
                    kept.push(action);
                    continue;
                }
            };
            if host_api::may_use_room(granted, room, owner) {
                kept.push(action);
                continue;
            }
            host_api::refused_room(&handler.name, room, what);
        }
        kept
    }

    /// The user of socket `sid` in `ns`, on whichever node holds it, for the reserved-room
    /// check.
    async fn user_of(&self, ns: &str, sid: &str, acting: Option<Acting<'_>>) -> Option<u64> {
        if let Some(socket) = acting.filter(|s| s.id == sid && s.namespace == ns) {
            return socket.user;
        }
        let io = self.io.get()?;
        if let Some(socket) = crate::sockets::find(io, ns, sid) {
            return crate::sockets::identity_of(&socket).user.map(|u| u.id);
        }
        // Its own room holds just that socket, wherever it is.
        let room = crate::sockets::socket_room(sid);
        let listed = self.directory.get()?.list(io, Some(ns), Some(&room)).await;
        listed.members.first()?.view.user.as_ref().map(|u| u.id)
    }

    /// Does a loaded handler register this exact event name (not just `*`)?
    pub fn knows_event(&self, name: &str) -> bool {
        self.chain
            .load()
            .handlers
            .iter()
            .any(|h| h.registration.events.iter().any(|e| e == name))
    }

    /// The handlers, in call order, for which `wanted` holds.
    fn select(&self, wanted: impl Fn(&Handler) -> bool) -> Vec<Arc<Handler>> {
        self.chain
            .load()
            .handlers
            .iter()
            .filter(|h| wanted(h))
            .cloned()
            .collect()
    }

    /// Does the event (connection) go on past `handler` after `error`? Under `fail_open`, for
    /// a fault or a switched-off handler; never for `busy` (a flood must not open a limiter).
    fn passes(&self, handler: &Handler, error: &CallError) -> bool {
        let open = self.policy(&handler.name).on_fault == OnFault::FailOpen;
        open && (failure::is_fault(error) || matches!(error, CallError::SwitchedOff { .. }))
    }

    /// Runs `call` into `handler` unless the handler is switched off; a failure counts
    /// toward switching it off.
    /// `accept` reads the call's answer; an answer it refuses (`Err` says why: an ack that is
    /// not a payload, say) is a fault too, and its actions are dropped.
    async fn guarded<T, U>(
        &self,
        handler: &Handler,
        call: impl Future<Output = Result<T, CallError>>,
        accept: impl FnOnce(T) -> Result<U, String>,
    ) -> Result<U, CallError> {
        if let Some(faulted) = handler.stats.switched_off() {
            return Err(CallError::SwitchedOff {
                handler: handler.name.to_string(),
                faults: faulted.faults,
            });
        }
        let failed = match call.await.map(accept) {
            Ok(Ok(answer)) => {
                handler.stats.answered();
                return Ok(answer);
            }
            Ok(Err(reason)) => handler.bad_answer(reason),
            Err(e) => e,
        };
        self.after_fault(handler, &failed);
        Err(failed)
    }

    /// Runs `on-connect` of the handlers that asked for it. `Err` is the reason to refuse the
    /// socket with. Actions are returned, to be carried out once the socket is connected.
    pub async fn on_connect(&self, socket: &SocketRef) -> Result<Vec<actions::Action>, String> {
        let interested = self.select(|h| h.registration.on_connect && h.serves(socket.ns()));
        if interested.is_empty() {
            return Ok(Vec::new());
        }
        let info = socket_info::socket_info(socket);
        let mut all = Vec::new();
        for handler in &interested {
            match self.guarded(handler, handler.on_connect(&info), Ok).await {
                Ok((ConnectResult::Accept, actions)) => {
                    all.extend(self.vet(handler, Some((&info).into()), actions).await);
                }
                Ok((ConnectResult::Reject(reason), _)) => return Err(reason),
                Err(e) => match self.passes(handler, &e) {
                    false => return Err(e.to_string()),
                    true => tracing::debug!("fail_open: the connection goes on: {e}"),
                },
            }
        }
        Ok(all)
    }

    /// Carries out actions held back from `on_connect`.
    pub async fn apply_connect_actions(&self, actions: Vec<actions::Action>) {
        self.carry_out("on-connect", actions).await;
    }

    /// Does a loaded handler want event `name` in namespace `ns`?
    pub fn wants_event(&self, ns: &str, name: &str) -> bool {
        self.chain
            .load()
            .handlers
            .iter()
            .any(|h| h.wants_event(ns, name))
    }

    /// Runs the chain for one client event (see [`Self::wants_event`] to skip it cheaply).
    pub async fn on_event(&self, socket: &SocketRef, name: &str, args: &Args) -> Outcome {
        self.chain_for(Arc::new(CallSocket::live(socket)), name, args)
            .await
    }

    /// Runs the chain for event `name` of `socket`: each interested handler, highest priority
    /// first, until one handles or rejects it. Their actions are carried out as they come
    /// (with no Socket.IO server attached, they are vetted and dropped); every handler reads
    /// the socket as it was when the event arrived, before those actions (the WIT contract).
    /// `socket` may serve several events: each reads its rooms afresh.
    pub async fn run_chain(&self, socket: &CallSocket, name: &str, args: &Args) -> Outcome {
        self.chain_for(Arc::new(socket.renewed()), name, args).await
    }

    /// [`Self::run_chain`] with the event's own `socket` (made for this event only).
    async fn chain_for(&self, socket: Arc<CallSocket>, name: &str, args: &Args) -> Outcome {
        let interested = self.select(|h| h.wants_event(socket.namespace(), name));
        let event = Event {
            name: name.to_owned(),
            args: Payload::from_args(args),
        };
        for handler in &interested {
            let call = handler.on_event(&socket, &event);
            let failed = match self.guarded(handler, call, read_event_answer).await {
                Ok((answer, actions)) => {
                    if actions.iter().any(Action::changes_rooms) {
                        // Rooms are listed lazily: list them now, before this handler's joins
                        // and leaves take effect, for the handlers after it.
                        socket.rooms();
                    }
                    self.apply(handler, Some(socket.acting()), actions).await;
                    match answer {
                        None => continue,
                        Some(outcome) => return outcome,
                    }
                }
                Err(e) => e,
            };
            if !self.passes(handler, &failed) {
                return Outcome::Failed(failed.to_string());
            }
            tracing::debug!("fail_open: the event goes on: {failed}");
        }
        Outcome::Pass
    }

    /// Does a loaded handler export `on-content`, granted content events?
    pub fn takes_content(&self) -> bool {
        self.chain
            .load()
            .handlers
            .iter()
            .any(|h| self.sees_content(h))
    }

    /// Runs `on-content` of the handlers that export it, highest priority first, for one
    /// audience's content event: each sees what the ones before it made of the event. A
    /// failed call drops the event for this audience under `fail_closed` (the default) and
    /// passes it on unchanged under `fail_open`.
    pub async fn on_content(&self, mut event: ContentEvent) -> ContentDecision {
        let mut within = Vec::new();
        let mut changed = false;
        for handler in &self.select(|h| self.sees_content(h)) {
            let call = handler.on_content(&event);
            let failed = match self.guarded(handler, call, check_content_answer).await {
                Ok((result, actions)) => {
                    self.apply(handler, None, actions).await;
                    match result {
                        ContentResult::Pass => continue,
                        ContentResult::Drop => return ContentDecision::Drop,
                        ContentResult::Deliver(delivery) => {
                            if let Some(data) = delivery.data {
                                event.data = data;
                                changed = true;
                            }
                            within.extend(delivery.within);
                            continue;
                        }
                    }
                }
                Err(e) => e,
            };
            if !self.passes(handler, &failed) {
                tracing::warn!(event = %event.name, audience = %event.audience, "content event dropped: {failed}");
                return ContentDecision::Drop;
            }
            tracing::debug!("fail_open: the content event goes on: {failed}");
        }
        ContentDecision::Deliver {
            within,
            data: changed.then_some(event.data),
        }
    }

    /// Runs `on-disconnect` of the handlers that asked for it; failures are logged only.
    pub async fn on_disconnect(&self, socket: &SocketRef, reason: &str) {
        let interested = self.select(|h| h.registration.on_disconnect && h.serves(socket.ns()));
        if interested.is_empty() {
            return;
        }
        let mut info = socket_info::socket_info(socket);
        // socketioxide may already have dropped the socket's rooms: use iohost's copy.
        info.rooms = crate::sockets::joined_rooms(socket);
        for handler in &interested {
            match self
                .guarded(handler, handler.on_disconnect(&info, reason), Ok)
                .await
            {
                Ok(((), actions)) => self.apply(handler, Some((&info).into()), actions).await,
                Err(e) => tracing::debug!("on-disconnect failed: {e}"),
            }
        }
    }
}
