//! Turning `<dir>/<name>.wasm` (plus an optional `<name>.toml` sidecar) into a [`Handler`]:
//! size and header checks, content hash, compile (optimised code from the cache, else baseline
//! code first when allowed), type-check against the world, then a first instance whose `init`
//! must succeed under its deadline.

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::LoadError;
use super::cache::CodeCache;
use super::engine::{Engine, Tier};
use super::files::{io_error, read_regular};
use super::host_api::Links;
use super::version::{Handler, HandlerParts};
use crate::config::{HandlerLimits, HandlersConfig};
use crate::store::Kv;

/// The first 8 bytes of a WebAssembly component (magic, then layer 1, version 0x0d).
const COMPONENT_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
/// The first 8 bytes of a core module, which iohost cannot run.
const MODULE_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

pub enum LoadOutcome {
    Loaded(Loaded),
    /// Same bytes and sidecar as the version in service.
    Unchanged,
    /// No `.wasm` file (any more), or the sidecar says `enabled = false`.
    Gone,
}

pub struct Loaded {
    pub handler: Box<Handler>,
    /// The file's bytes when the handler runs baseline code: to compile optimised code from.
    pub source: Option<Vec<u8>>,
}

/// `<name>.toml` beside `<name>.wasm`.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Sidecar {
    /// `false` unloads the handler without deleting its file.
    enabled: bool,
    limits: PartialLimits,
    /// Handler settings, handed to `init` as JSON and readable through the `config` import.
    config: toml::Table,
}

impl Default for Sidecar {
    fn default() -> Self {
        Self {
            enabled: true,
            limits: PartialLimits::default(),
            config: toml::Table::new(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct PartialLimits {
    memory_mb: Option<u64>,
    call_timeout_ms: Option<u64>,
    init_timeout_ms: Option<u64>,
    max_instances: Option<usize>,
    max_waiting: Option<usize>,
    table_elements: Option<u64>,
    idle_memory_mb: Option<u64>,
    kv_keys: Option<u64>,
    kv_mb: Option<u64>,
    actions_per_call: Option<u64>,
    action_mb_per_call: Option<u64>,
    ack_wait_ms: Option<u64>,
    kv_wait_ms: Option<u64>,
}

impl PartialLimits {
    /// The sidecar's limits under the operator's: `[handlers.limits]` are ceilings, a sidecar
    /// (which ships with the handler) may only lower them. Returns the keys it asked to raise.
    fn under(&self, ceilings: HandlerLimits) -> (HandlerLimits, Vec<&'static str>) {
        let mut raised = Vec::new();
        let mut pick = |key: &'static str, asked: Option<u64>, ceiling: u64| match asked {
            Some(asked) if asked > ceiling => {
                raised.push(key);
                ceiling
            }
            Some(asked) => asked,
            None => ceiling,
        };
        let limits = HandlerLimits {
            memory_mb: pick("memory_mb", self.memory_mb, ceilings.memory_mb),
            call_timeout_ms: pick(
                "call_timeout_ms",
                self.call_timeout_ms,
                ceilings.call_timeout_ms,
            ),
            init_timeout_ms: pick(
                "init_timeout_ms",
                self.init_timeout_ms,
                ceilings.init_timeout_ms,
            ),
            max_instances: pick(
                "max_instances",
                self.max_instances.map(|n| n as u64),
                ceilings.max_instances as u64,
            ) as usize,
            max_waiting: pick(
                "max_waiting",
                self.max_waiting.map(|n| n as u64),
                ceilings.max_waiting as u64,
            ) as usize,
            table_elements: pick(
                "table_elements",
                self.table_elements,
                ceilings.table_elements,
            ),
            idle_memory_mb: pick(
                "idle_memory_mb",
                self.idle_memory_mb,
                ceilings.idle_memory_mb,
            ),
            kv_keys: pick("kv_keys", self.kv_keys, ceilings.kv_keys),
            kv_mb: pick("kv_mb", self.kv_mb, ceilings.kv_mb),
            actions_per_call: pick(
                "actions_per_call",
                self.actions_per_call,
                ceilings.actions_per_call,
            ),
            action_mb_per_call: pick(
                "action_mb_per_call",
                self.action_mb_per_call,
                ceilings.action_mb_per_call,
            ),
            ack_wait_ms: pick("ack_wait_ms", self.ack_wait_ms, ceilings.ack_wait_ms),
            kv_wait_ms: pick("kv_wait_ms", self.kv_wait_ms, ceilings.kv_wait_ms),
        };
        (limits, raised)
    }
}

/// The largest sidecar read.
const MAX_SIDECAR_BYTES: u64 = 1024 * 1024;

/// The handler names the folder holds (`*.wasm` files), sorted.
pub fn handler_names(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let path = entry.path();
            (path.extension()? == "wasm").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    names.sort();
    Ok(names)
}

/// The handler name a changed path belongs to, if it is a handler or sidecar file.
pub fn name_of(path: &Path) -> Option<String> {
    let ext = path.extension()?.to_str()?;
    matches!(ext, "wasm" | "toml")
        .then(|| path.file_stem()?.to_str().map(str::to_owned))
        .flatten()
}

fn check_header(bytes: &[u8]) -> Result<(), LoadError> {
    match bytes.get(..8) {
        Some(h) if h == COMPONENT_HEADER => Ok(()),
        Some(h) if h == MODULE_HEADER => Err(LoadError::CoreModule),
        _ => Err(LoadError::NotAComponent),
    }
}

/// The handler in service (if any) and what else decides how `name` loads.
pub struct LoadContext<'a> {
    pub current: Option<&'a Handler>,
    pub overrides: Option<&'a serde_json::Map<String, serde_json::Value>>,
    /// Serve baseline code while the optimised code is compiled (`handlers.baseline_first`).
    pub baseline_first: bool,
    pub cache: Arc<CodeCache>,
    /// The handler's load lock, kept until the compile is over even if the load is given up
    /// (a compile cannot be stopped): the next load of this handler waits for it.
    pub held: Option<Arc<tokio::sync::OwnedMutexGuard<()>>>,
}

pub async fn load(
    engine: &Engine,
    config: &HandlersConfig,
    kv: Kv,
    links: Links,
    name: &str,
    context: LoadContext<'_>,
) -> Result<LoadOutcome, LoadError> {
    let LoadContext {
        current,
        overrides,
        baseline_first,
        cache,
        held,
    } = context;
    if !crate::config::valid_handler_name(name) {
        return Err(LoadError::BadName(name.to_owned()));
    }
    let Some((bytes, sidecar)) = read_files(config, name).await? else {
        return Ok(LoadOutcome::Gone);
    };
    check_header(&bytes)?;
    let sidecar_path = config.dir.join(format!("{name}.toml"));
    let Some(settled) = settle(name, &sidecar_path, sidecar, config.limits, overrides)? else {
        return Ok(LoadOutcome::Gone);
    };

    let sha256 = hex::encode(Sha256::digest(&bytes));
    if current.is_some_and(|c| c.sha256 == sha256 && c.sidecar == settled.text) {
        return Ok(LoadOutcome::Unchanged);
    }
    let compiler = engine.clone();
    let hash = sha256.clone();
    let (compiled, bytes) = tokio::task::spawn_blocking(move || {
        let compiled = compiler.compile(&bytes, &hash, &cache, baseline_first);
        drop(held);
        (compiled, bytes)
    })
    .await
    .map_err(|e| LoadError::Compile(format!("compiler task failed: {e}")))?;
    let (component, tier) = compiled?;
    let code = engine.prepare(tier, &component)?;

    let handler = Handler::new(HandlerParts {
        name: Arc::from(name),
        sha256,
        sidecar: settled.text,
        limits: settled.limits,
        config: settled.config,
        code,
        kv,
        links,
    })
    .await?;
    Ok(LoadOutcome::Loaded(Loaded {
        handler: Box::new(handler),
        source: (tier == Tier::Baseline).then_some(bytes),
    }))
}

/// `<name>.wasm` and its sidecar's bytes, off the async runtime; `None` without a `.wasm`.
async fn read_files(
    config: &HandlersConfig,
    name: &str,
) -> Result<Option<(Vec<u8>, Option<Vec<u8>>)>, LoadError> {
    let wasm = config.dir.join(format!("{name}.wasm"));
    let sidecar = config.dir.join(format!("{name}.toml"));
    let (max, dir) = (config.max_file_bytes, config.dir.clone());
    let (wasm, sidecar) = tokio::task::spawn_blocking(move || {
        (
            read_regular(&wasm, max, Some(&dir)),
            read_regular(&sidecar, MAX_SIDECAR_BYTES, Some(&dir)),
        )
    })
    .await
    .map_err(|e| LoadError::Compile(format!("file reader task failed: {e}")))?;
    let Some(bytes) = wasm? else {
        return Ok(None);
    };
    Ok(Some((bytes, sidecar?)))
}

/// What a handler runs with, from its sidecar: limits (under the operator's), config (with the
/// run-time overrides over it), and the text that tells versions apart.
struct Settled {
    limits: HandlerLimits,
    config: serde_json::Map<String, serde_json::Value>,
    text: String,
}

/// The sidecar's settings, or `None` when it says `enabled = false`.
fn settle(
    name: &str,
    path: &Path,
    bytes: Option<Vec<u8>>,
    ceilings: HandlerLimits,
    overrides: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Result<Option<Settled>, LoadError> {
    let sidecar_error = |reason: String| LoadError::Sidecar {
        path: path.display().to_string(),
        reason,
    };
    let mut text = match bytes {
        Some(bytes) => {
            String::from_utf8(bytes).map_err(|_| sidecar_error("not UTF-8 text".into()))?
        }
        None => String::new(),
    };
    let sidecar: Sidecar =
        toml::from_str(&text).map_err(|e| sidecar_error(toml_error(&text, &e)))?;
    if !sidecar.enabled {
        return Ok(None);
    }
    let (limits, raised) = sidecar.limits.under(ceilings);
    if !raised.is_empty() {
        tracing::warn!(
            handler = name,
            "the sidecar asks for more than [handlers.limits] allows ({}): the operator's limits apply",
            raised.join(", ")
        );
    }
    limits
        .validate("limits")
        .map_err(|e| sidecar_error(e.to_string()))?;
    let mut config = match serde_json::to_value(&sidecar.config) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => return Err(sidecar_error("[config] must be a table".into())),
    };
    // Run-time settings (`handlerConfig`) win over the sidecar, key by key.
    if let Some(overrides) = overrides.filter(|o| !o.is_empty()) {
        config.extend(overrides.clone());
        text.push_str(&format!(
            "\n# run-time overrides: {}",
            serde_json::Value::Object(overrides.clone())
        ));
    }
    Ok(Some(Settled {
        limits,
        config,
        text,
    }))
}

/// A sidecar's TOML error with its line, not the line's text: the file may be a link or a
/// copy of something that holds secrets, and load errors reach logs and the HTTP API.
fn toml_error(text: &str, error: &toml::de::Error) -> String {
    match error.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {}", error.message())
        }
        None => error.message().to_owned(),
    }
}

/// What `iohost handlers check` reports about a file.
pub struct Inspection {
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    /// `Err` says why the component does not fit the `iohost:handler` world.
    pub fits_world: Result<(), String>,
}

/// Compiles a file and checks it against the world, without running any of it.
pub fn inspect(engine: &Engine, path: &Path) -> Result<Inspection, LoadError> {
    let bytes = read_regular(path, HandlersConfig::default().max_file_bytes, None)?
        .ok_or_else(|| io_error(path)(std::io::ErrorKind::NotFound.into()))?;
    check_header(&bytes)?;
    let compiler = &engine.optimized;
    let component = wasmtime::component::Component::new(&compiler.wasmtime, &bytes)
        .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
    let ty = component.component_type();
    let imports = ty
        .imports(&compiler.wasmtime)
        .map(|(name, _)| name.to_owned())
        .collect();
    let exports = ty
        .exports(&compiler.wasmtime)
        .map(|(name, _)| name.to_owned())
        .collect();
    let fits_world = compiler
        .prepare(&component)
        .map(|_| ())
        .map_err(|e| match e {
            LoadError::WrongWorld(reason) => reason,
            other => other.to_string(),
        });
    Ok(Inspection {
        imports,
        exports,
        fits_world,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths() {
        assert_eq!(
            name_of(Path::new("/h/presence.wasm")),
            Some("presence".into())
        );
        assert_eq!(
            name_of(Path::new("/h/presence.toml")),
            Some("presence".into())
        );
        assert_eq!(name_of(Path::new("/h/presence.wasm.swp")), None);
    }

    #[test]
    fn headers_are_told_apart() {
        assert!(check_header(&COMPONENT_HEADER).is_ok());
        assert!(matches!(
            check_header(&MODULE_HEADER),
            Err(LoadError::CoreModule)
        ));
        assert!(matches!(
            check_header(b"hello world"),
            Err(LoadError::NotAComponent)
        ));
        assert!(matches!(check_header(b""), Err(LoadError::NotAComponent)));
    }

    #[test]
    fn sidecar_limits_only_lower_the_operators() {
        let sidecar: Sidecar = toml::from_str(
            "[limits]\nmemory_mb = 16\nmax_instances = 64\ncall_timeout_ms = 100000\n[config]\nper_minute = 60\n",
        )
        .expect("parse");
        let ceilings = HandlerLimits::default();
        let (limits, raised) = sidecar.limits.under(ceilings);
        assert_eq!(limits.memory_mb, 16, "lowered");
        assert_eq!(limits.max_instances, ceilings.max_instances, "not raised");
        assert_eq!(
            limits.call_timeout_ms, ceilings.call_timeout_ms,
            "not raised"
        );
        assert_eq!(limits.init_timeout_ms, ceilings.init_timeout_ms, "unset");
        assert_eq!(raised, ["call_timeout_ms", "max_instances"]);
        assert!(sidecar.enabled);
        assert!(
            toml::from_str::<Sidecar>("limit = 1").is_err(),
            "unknown keys are refused"
        );
    }
}
