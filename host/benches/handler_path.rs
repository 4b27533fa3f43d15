//! The cost of the handler path: nanoseconds per event through a no-op handler and through
//! each example, beside the same logic as native Rust. Run: `./scripts/bench-handlers.sh`
//! (or `cargo bench -p iohost --bench handler_path` after `scripts/build-handlers.sh`).
//!
//! "wasm" is one `on-event` call on a warm instance (socket info and arguments already in WIT
//! form); "wasm+conv" adds turning socketioxide arguments into the WIT payload and the ack
//! back. "native" is the same logic as a Rust closure over the same in-memory KV store. The
//! Prometheus recorder is installed, as in a server (`HANDLER_BENCH_NO_METRICS=1`: without).
//!
//! Then the same handler called from several threads at once ("threads", one per core, each
//! with its own socket): whether what calls share (the handler's instance pool, its counters,
//! the KV store's lock) lets events per second grow with cores. Last, wasmtime's own floor: a
//! bare call of an export that takes and returns nothing, sync and async (on a fiber, as iohost
//! calls), on the no-op handler's code: what no change in iohost can take below.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use iohost::config::{HandlerLimits, HandlersConfig};
use iohost::handlers::bindings::iohost::handler::types::{Event, EventResult, Payload, SocketInfo};
use iohost::handlers::{CallSocket, Handler, load_standalone};
use iohost::model::Args;
use iohost::store::{Kv, MemoryStore, Space};

const WARMUP: usize = 2_000;
const ITERATIONS: usize = 20_000;

/// Events measured per case: `ITERATIONS`, or `HANDLER_BENCH_ITERATIONS` (more, to profile).
fn iterations() -> usize {
    std::env::var("HANDLER_BENCH_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(ITERATIONS)
}

struct Case {
    label: &'static str,
    handler: &'static str,
    sidecar: &'static str,
    event: &'static str,
    args: serde_json::Value,
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/handlers");
    let dir = tempfile::tempdir()?;
    let cases = [
        Case {
            label: "no-op",
            handler: "noop",
            sidecar: "",
            event: "bench",
            args: serde_json::json!([]),
        },
        Case {
            label: "echo (3 args)",
            handler: "echo",
            sidecar: "",
            event: "message-with-ack",
            args: serde_json::json!([1, "2", {"3": [true]}]),
        },
        Case {
            label: "rate-limit",
            handler: "rate-limit",
            sidecar: "[config]\nevents_per_minute = 1e12\nburst = 1e12\n",
            event: "anything",
            args: serde_json::json!([]),
        },
        Case {
            label: "chat-typing",
            handler: "chat-typing",
            sidecar: "[config]\nthrottle_ms = 600000\n",
            event: "chat:typing",
            args: serde_json::json!([{"roomId": "1"}]),
        },
        Case {
            label: "presence (list)",
            handler: "presence",
            sidecar: "",
            event: "presence:list",
            args: serde_json::json!(["chat-room-1"]),
        },
    ];
    // `cargo bench --bench handler_path -- rate chat` runs the cases whose label has one of
    // these words; no words runs them all.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    // Every case's handler, whichever run: the threads section uses rate-limit's.
    for case in &cases {
        std::fs::copy(
            built.join(format!("{}.wasm", case.handler)),
            dir.path().join(format!("{}.wasm", case.handler)),
        )
        .map_err(|e| {
            anyhow::anyhow!(
                "{}: {e} (run scripts/build-handlers.sh first)",
                case.handler
            )
        })?;
        std::fs::write(
            dir.path().join(format!("{}.toml", case.handler)),
            case.sidecar,
        )?;
    }
    let cases: Vec<&Case> = cases
        .iter()
        .filter(|c| only.is_empty() || only.iter().any(|w| c.label.contains(w.as_str())))
        .collect();
    let settings = HandlersConfig {
        dir: dir.path().to_path_buf(),
        limits: HandlerLimits {
            call_timeout_ms: 5_000,
            ..HandlerLimits::default()
        },
        ..HandlersConfig::default()
    };

    // As in a server (`HANDLER_BENCH_NO_METRICS=1` leaves the recorder out, to see what it
    // costs a call).
    let metrics = match std::env::var_os("HANDLER_BENCH_NO_METRICS") {
        Some(_) => None,
        None => iohost::metrics::install(),
    };
    println!(
        "handler path, ns per event ({} events after {WARMUP} warm-up, one warm instance, {})",
        iterations(),
        if metrics.is_some() {
            "Prometheus recorder installed"
        } else {
            "no Prometheus recorder"
        }
    );
    println!(
        "{:<18} {:>10} {:>10} {:>12} {:>10} {:>10} {:>8}",
        "handler", "wasm p50", "wasm p99", "wasm+conv p50", "native p50", "overhead", "ratio"
    );
    for case in &cases {
        let kv = Kv::Memory(Arc::new(MemoryStore::new()));
        let handler = load_standalone(&settings, kv.clone(), case.handler).await?;
        let info = Arc::new(CallSocket::from(socket_info()));
        let args: Args = serde_json::from_value(case.args.clone())?;
        let event = Event {
            name: case.event.to_owned(),
            args: Payload::from_args(&args),
        };

        let wasm = measure(|| async { call(&handler, &info, &event).await }).await;
        let conv = measure(|| async {
            let event = Event {
                name: case.event.to_owned(),
                args: Payload::from_args(&args),
            };
            if let EventResult::Handled(Some(ack)) = call(&handler, &info, &event).await {
                std::hint::black_box(ack.into_args().ok());
            }
        })
        .await;
        let native = measure(|| native(case.label, &kv, &args)).await;
        // How many times native's cost the whole handler path is (wasm+conv p50 / native p50).
        let ratio = conv.0 as f64 / native.0.max(1) as f64;
        println!(
            "{:<18} {:>10} {:>10} {:>12} {:>10} {:>10} {:>7.1}x",
            case.label,
            wasm.0,
            wasm.1,
            conv.0,
            native.0,
            wasm.0.saturating_sub(native.0),
            ratio
        );
    }
    if only.is_empty() || only.iter().any(|w| "threads".contains(w.as_str())) {
        threads(&settings).await?;
    }
    if only.is_empty() || only.iter().any(|w| "floor".contains(w.as_str())) {
        floor(&built.join("noop.wasm")).await?;
    }
    Ok(())
}

/// Events per second through rate-limit (two KV calls an event) called from 1 thread, then
/// from 2, 4, ... up to the cores there are: each thread a runtime of its own (as
/// `server.scheduler = "per-core"`) and a socket of its own, all started together. "shared":
/// every thread calls one handler (one instance pool, one set of counters, one KV space), as a
/// server does; "store": each thread its own handler, all on one KV store and space; "apart":
/// each thread its own handler and store, so only the engine is shared. "scaling" is events/s
/// over one thread's.
async fn threads(settings: &HandlersConfig) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut handlers = Vec::new();
    let one_store = Kv::Memory(Arc::new(MemoryStore::new()));
    let mut on_one_store = Vec::new();
    for _ in 0..cores {
        let kv = Kv::Memory(Arc::new(MemoryStore::new()));
        handlers.push(load_standalone(settings, kv, "rate-limit").await?);
        on_one_store.push(load_standalone(settings, one_store.clone(), "rate-limit").await?);
    }
    let per_thread = iterations() * 10;
    println!("threads: rate-limit, {per_thread} events per thread");
    let mut single = 0.0;
    for count in std::iter::successors(Some(1), |n| Some(n * 2)).take_while(|n| *n <= cores) {
        for (how, handlers) in [
            ("shared", &handlers[..1]),
            ("store", &on_one_store[..count]),
            ("apart", &handlers[..count]),
        ] {
            let rate = parallel_rate(handlers, count, per_thread)?;
            if count == 1 {
                single = rate;
            }
            println!(
                "  {count} thread(s), {how:<6} {:>10.0} events/s, {:>6.0} ns per event per thread, scaling {:.2}x",
                rate,
                1e9 * count as f64 / rate,
                rate / single
            );
            if count == 1 {
                break;
            }
        }
    }
    Ok(())
}

/// Events per second over `count` threads that each send `per_thread` events at once, thread
/// `n` to `handlers[n % handlers.len()]`.
fn parallel_rate(
    handlers: &[Arc<Handler>],
    count: usize,
    per_thread: usize,
) -> anyhow::Result<f64> {
    let start = std::sync::Barrier::new(count + 1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..count)
            .map(|n| {
                let (handler, start) = (handlers[n % handlers.len()].clone(), &start);
                scope.spawn(move || -> anyhow::Result<()> {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    let mut info = socket_info();
                    info.id = format!("benchThread{n:05}");
                    let info = Arc::new(CallSocket::from(info));
                    let event = Event {
                        name: "anything".into(),
                        args: Payload::from_args(&Args::default()),
                    };
                    runtime.block_on(async {
                        for _ in 0..WARMUP {
                            call(&handler, &info, &event).await;
                        }
                        start.wait();
                        for _ in 0..per_thread {
                            std::hint::black_box(call(&handler, &info, &event).await);
                        }
                    });
                    Ok(())
                })
            })
            .collect();
        start.wait();
        let began = Instant::now();
        for worker in workers {
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("a benchmark thread panicked"))??;
        }
        Ok((count * per_thread) as f64 / began.elapsed().as_secs_f64())
    })
}

/// p50 of a bare call of the no-op handler's `on-tick` (no arguments, no results, no imports
/// called), straight through wasmtime: sync, and async as iohost calls.
async fn floor(noop: &Path) -> anyhow::Result<()> {
    use wasmtime::component::{Component, Linker};
    let mut config = wasmtime::Config::new();
    config.epoch_interruption(true);
    let engine = wasmtime::Engine::new(&config)?;
    let component = Component::from_file(&engine, noop)?;
    // Sync imports (traps, never called) keep the store usable by sync calls too.
    let mut linker: Linker<()> = Linker::new(&engine);
    linker.define_unknown_imports_as_traps(&component)?;
    let mut store = wasmtime::Store::new(&engine, ());
    store.set_epoch_deadline(u64::MAX / 2);
    let instance = linker.instantiate(&mut store, &component)?;
    let on_tick = instance.get_typed_func::<(), ()>(&mut store, "on-tick")?;
    let mut sync = Vec::with_capacity(iterations());
    let mut on_fiber = Vec::with_capacity(iterations());
    for i in 0..WARMUP + iterations() {
        let start = Instant::now();
        on_tick.call(&mut store, ())?;
        let between = Instant::now();
        on_tick.call_async(&mut store, ()).await?;
        if i >= WARMUP {
            sync.push(between - start);
            on_fiber.push(between.elapsed());
        }
    }
    let (sync, on_fiber) = (p50(sync), p50(on_fiber));
    println!(
        "wasmtime floor: a bare export call (no arguments) p50 {sync} ns sync, {on_fiber} ns async"
    );
    Ok(())
}

async fn call(handler: &Handler, info: &Arc<CallSocket>, event: &Event) -> EventResult {
    match handler.on_event(info, event).await {
        Ok((result, _actions)) => result,
        Err(e) => panic!("benchmark call failed: {e}"),
    }
}

/// Median and 99th percentile, in ns, of one call of `f`.
async fn measure<F, Fut>(mut f: F) -> (u64, u64)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future,
{
    for _ in 0..WARMUP {
        std::hint::black_box(f().await);
    }
    let iterations = iterations();
    let mut samples: Vec<Duration> = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = Instant::now();
        std::hint::black_box(f().await);
        samples.push(start.elapsed());
    }
    samples.sort();
    let ns = |d: Duration| d.as_nanos() as u64;
    (
        ns(samples[samples.len() / 2]),
        ns(samples[samples.len() * 99 / 100]),
    )
}

/// The median, in ns.
fn p50(mut samples: Vec<Duration>) -> u64 {
    samples.sort();
    samples
        .get(samples.len() / 2)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The same logic as each handler, as native Rust on the same store.
async fn native(label: &str, kv: &Kv, args: &Args) -> Option<serde_json::Value> {
    // The space and quota a handler's own keys get.
    let space = Space {
        prefix: "h:native:".into(),
        quota: iohost::handlers::kv_quota(&HandlerLimits::default()),
    };
    let space = &space;
    match label {
        "no-op" => None,
        "echo (3 args)" => Some(serde_json::to_value(args.clone().0).ok()?),
        "rate-limit" => {
            let key = "socket:benchSocket00001";
            let current = kv.get(space, key).await.ok()?;
            let tokens: f64 = current
                .as_deref()
                .and_then(|t| t.parse().ok())
                .unwrap_or(1e12);
            let _ = kv
                .compare_and_set(
                    space,
                    key,
                    current.as_deref(),
                    (tokens - 1.0).to_string(),
                    None,
                )
                .await;
            None
        }
        "chat-typing" => {
            let first = kv
                .compare_and_set(
                    space,
                    "typing:benchSocket00001:chat-room-1",
                    None,
                    "1".into(),
                    Some(Duration::from_secs(600)),
                )
                .await
                .ok()?;
            Some(serde_json::json!({ "success": true, "throttled": !first }))
        }
        _ => Some(serde_json::json!({ "success": true, "room": "chat-room-1", "users": [] })),
    }
}

fn socket_info() -> SocketInfo {
    SocketInfo {
        id: "benchSocket00001".into(),
        namespace: "/".into(),
        rooms: vec!["io-role-public".into(), "chat-room-1".into()],
        role: "public".into(),
        user: None,
        address: "127.0.0.1:50000".into(),
        query: vec![],
        auth: r#"{"name":"bench"}"#.into(),
    }
}
