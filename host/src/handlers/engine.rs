//! The wasmtime engine all handlers share: one compiler configuration, an epoch ticker for
//! call deadlines, the linker with iohost's imports, and compilation with an on-disk cache.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;
use std::time::Duration;

use wasmtime::component::{Component, HasSelf, Linker};

use super::LoadError;
use super::bindings::Handler as HandlerWorld;
use super::host_api::InstanceState;

/// How often the engine's epoch advances: the granularity of call deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

#[derive(Clone)]
pub struct Engine {
    pub wasmtime: wasmtime::Engine,
    pub linker: Linker<InstanceState>,
}

impl Engine {
    pub fn new() -> anyhow::Result<Self> {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        let wasmtime = wasmtime::Engine::new(&config)?;

        let mut linker = Linker::new(&wasmtime);
        // Rust guests import WASI even when they do no I/O; they get an empty context.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        HandlerWorld::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;

        let weak = wasmtime.weak();
        std::thread::Builder::new()
            .name("iohost-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })?;
        Ok(Self { wasmtime, linker })
    }

    /// Epoch ticks for a deadline of `limit` (rounded up, plus one for the tick in progress).
    pub fn ticks(limit: Duration) -> u64 {
        (limit.as_millis().div_ceil(EPOCH_TICK.as_millis()) as u64) + 1
    }

    /// Compiles a component, reusing precompiled code from `cache_dir` when this engine made
    /// it before for the same bytes. Blocking: run it off the async runtime.
    pub fn compile(
        &self,
        bytes: &[u8],
        sha256: &str,
        cache_dir: &Path,
    ) -> Result<Component, LoadError> {
        let mut hasher = DefaultHasher::new();
        self.wasmtime
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        let cached = cache_dir.join(format!("{sha256}-{:016x}.cwasm", hasher.finish()));
        if cached.is_file() {
            match load_precompiled(&self.wasmtime, &cached) {
                Ok(component) => return Ok(component),
                Err(e) => {
                    tracing::warn!(path = %cached.display(), "ignoring unusable cache entry: {e}")
                }
            }
        }
        let precompiled = self
            .wasmtime
            .precompile_component(bytes)
            .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        if let Err(e) = store_precompiled(&cached, &precompiled) {
            tracing::debug!(path = %cached.display(), "cannot write the compile cache: {e}");
        }
        load_bytes(&self.wasmtime, &precompiled).map_err(|e| LoadError::Compile(format!("{e:#}")))
    }
}

fn store_precompiled(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Several iohost processes may share a cache folder: each writes its own temporary file,
    // and the rename makes the entry appear whole.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("{}-{n}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

// Deserialising precompiled code is unsafe because wasmtime cannot check it is code it made.
// It only ever reads what `precompile_component` of a compatible engine wrote above, named by
// the source's sha256 and the engine's compatibility hash, in a cache folder iohost owns (the
// operator must keep it writable by iohost only).
#[allow(unsafe_code)]
fn load_precompiled(engine: &wasmtime::Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: see above: the file was produced by `Engine::precompile_component`.
    unsafe { Component::deserialize_file(engine, path) }
}

#[allow(unsafe_code)]
fn load_bytes(engine: &wasmtime::Engine, bytes: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `bytes` come straight from `Engine::precompile_component` of this engine.
    unsafe { Component::deserialize(engine, bytes) }
}
