//! The wasmtime engines all handlers share: two compilers (a quick baseline one and the
//! optimising one), an epoch ticker for call deadlines, the linker with iohost's imports, and
//! compilation with an on-disk cache of optimised code.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use wasmtime::component::{Component, HasSelf, Linker};

use super::LoadError;
use super::bindings::{Handler as HandlerWorld, HandlerPre};
use super::cache::CodeCache;
use super::host_api::InstanceState;

/// How often the engines' epoch advances: the granularity of call deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Which compiler made the code a handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Winch, wasmtime's baseline compiler: one quick pass, slower code. Serves a new version
    /// while the optimised code is compiled.
    Baseline,
    /// Cranelift: optimised code, cached on disk.
    Optimized,
}

/// One compiler: its engine and a linker for it (a component runs only on the engine that
/// compiled it).
#[derive(Clone)]
pub struct Compiler {
    pub wasmtime: wasmtime::Engine,
    pub linker: Linker<InstanceState>,
}

impl Compiler {
    fn new(strategy: wasmtime::Strategy) -> anyhow::Result<Self> {
        let mut config = wasmtime::Config::new();
        config.strategy(strategy);
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        let wasmtime = wasmtime::Engine::new(&config)?;
        let mut linker = Linker::new(&wasmtime);
        // Rust guests import WASI even when they do no I/O; they get an empty context.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        HandlerWorld::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
        Ok(Self { wasmtime, linker })
    }

    /// Type-checks `component` against the handler world and resolves its imports.
    pub fn prepare(&self, component: &Component) -> Result<HandlerPre<InstanceState>, LoadError> {
        self.linker
            .instantiate_pre(component)
            .and_then(HandlerPre::new)
            .map_err(|e| LoadError::WrongWorld(format!("{e:#}")))
    }
}

/// Compiled code ready to instantiate: which compiler made it, that compiler's engine (stores
/// must come from it) and the code linked against iohost's imports.
pub struct Prepared {
    pub tier: Tier,
    pub engine: wasmtime::Engine,
    pub pre: HandlerPre<InstanceState>,
}

#[derive(Clone)]
pub struct Engine {
    pub optimized: Compiler,
    pub baseline: Compiler,
    /// Threads for optimised compiles in the background (half the cores, at least one): a
    /// long compile there never holds up the quick ones, which use rayon's shared pool.
    background: Arc<rayon::ThreadPool>,
}

impl Engine {
    pub fn new() -> anyhow::Result<Self> {
        // Calls are metered with quanta's clock, which calibrates itself on first use (0.5 to
        // 200 ms): here, not inside the first handler's first call.
        quanta::Instant::now();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let background = rayon::ThreadPoolBuilder::new()
            .num_threads((cores / 2).max(1))
            .thread_name(|i| format!("iohost-optimize-{i}"))
            .build()?;
        let engine = Self {
            optimized: Compiler::new(wasmtime::Strategy::Cranelift)?,
            baseline: Compiler::new(wasmtime::Strategy::Winch)?,
            background: Arc::new(background),
        };
        let weak = [
            engine.optimized.wasmtime.weak(),
            engine.baseline.wasmtime.weak(),
        ];
        std::thread::Builder::new()
            .name("iohost-epoch".into())
            .spawn(move || {
                loop {
                    let alive: Vec<_> = weak.iter().filter_map(|w| w.upgrade()).collect();
                    if alive.is_empty() {
                        return;
                    }
                    alive.iter().for_each(wasmtime::Engine::increment_epoch);
                    drop(alive);
                    std::thread::sleep(EPOCH_TICK);
                }
            })?;
        Ok(engine)
    }

    /// Type-checks and links `component`, which the `tier` compiler made.
    pub fn prepare(&self, tier: Tier, component: &Component) -> Result<Prepared, LoadError> {
        let compiler = match tier {
            Tier::Baseline => &self.baseline,
            Tier::Optimized => &self.optimized,
        };
        Ok(Prepared {
            tier,
            engine: compiler.wasmtime.clone(),
            pre: compiler.prepare(component)?,
        })
    }

    /// Compiles a component: optimised code from `cache` when this engine made it before for
    /// the same bytes; else, with `baseline_first`, baseline code (quick; the caller compiles
    /// optimised code later); else optimised code, cached. Blocking: run it off the async
    /// runtime.
    pub fn compile(
        &self,
        bytes: &[u8],
        sha256: &str,
        cache: &CodeCache,
        baseline_first: bool,
    ) -> Result<(Component, Tier), LoadError> {
        if let Some(component) = self.cached(sha256, cache) {
            return Ok((component, Tier::Optimized));
        }
        if baseline_first {
            match Component::new(&self.baseline.wasmtime, bytes) {
                Ok(component) => return Ok((component, Tier::Baseline)),
                // Winch does not support every proposal Cranelift does: no quick start then.
                Err(e) => tracing::debug!("baseline compiler declined, optimising now: {e:#}"),
            }
        }
        let component = self.compile_optimized(bytes, sha256, cache)?;
        Ok((component, Tier::Optimized))
    }

    /// Optimised code for these bytes, compiled and written to the cache. Blocking.
    pub fn compile_optimized(
        &self,
        bytes: &[u8],
        sha256: &str,
        cache: &CodeCache,
    ) -> Result<Component, LoadError> {
        let precompiled = self
            .optimized
            .wasmtime
            .precompile_component(bytes)
            .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        cache.put(sha256, self.compatibility(), &precompiled);
        load_precompiled(&self.optimized.wasmtime, &precompiled)
            .map_err(|e| LoadError::Compile(format!("{e:#}")))
    }

    /// [`Self::compile_optimized`] on the background threads. Blocking.
    pub fn compile_in_background(
        &self,
        bytes: &[u8],
        sha256: &str,
        cache: &CodeCache,
    ) -> Result<Component, LoadError> {
        self.background
            .install(|| self.compile_optimized(bytes, sha256, cache))
    }

    /// Optimised code from the cache, if it holds code this iohost compiled for these bytes.
    fn cached(&self, sha256: &str, cache: &CodeCache) -> Option<Component> {
        let code = cache.get(sha256, self.compatibility())?;
        load_precompiled(&self.optimized.wasmtime, &code)
            .inspect_err(|e| tracing::warn!("ignoring an unusable compile cache entry: {e:#}"))
            .ok()
    }

    /// What precompiled code must match to run on the optimising engine.
    fn compatibility(&self) -> u64 {
        let mut hasher = DefaultHasher::new();
        self.optimized
            .wasmtime
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        hasher.finish()
    }
}

// Deserialising precompiled code is unsafe because wasmtime cannot check that it made the code.
// Only two kinds of bytes come here: what `precompile_component` of this engine just returned,
// and cache entries whose HMAC tag proves that this iohost wrote them for these source bytes
// (see `cache.rs`); nothing is trusted for its file name.
#[allow(unsafe_code)]
fn load_precompiled(engine: &wasmtime::Engine, code: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: see above: `code` was produced by `Engine::precompile_component`.
    unsafe { Component::deserialize(engine, code) }
}
