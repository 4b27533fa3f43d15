//! `iohost serve`: logging, the runtime, the server until SIGINT or SIGTERM.

use std::io::IsTerminal;
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

use crate::app::App;
use crate::config::{Config, LogFormat, Scheduler};
use crate::edge::Workers;

/// How long `serve` waits, once stopped, for blocking work still running (file writes, compiles).
const SHUTDOWN_BLOCKING_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// The async runtimes for the cores this process may use. On one core (a 1-vCPU container,
/// or pinned with `taskset`) the single-threaded scheduler: it runs ready tasks in the order
/// they were woken, where the multi-threaded one with its one worker let a socket's writer
/// wait behind the readers (its LIFO slot and 256-task local queue). On the handler path at
/// 40,000 events/s offered that was a 3x lower p99 (BENCHMARKS.md). On more cores, by
/// `server.scheduler`: one single-threaded runtime per core (this thread's and one thread
/// each for the others), or tokio's multi-threaded one.
struct Runtimes {
    main: tokio::runtime::Runtime,
    others: Vec<CoreRuntime>,
}

/// A single-threaded runtime on a thread of its own, running until told to stop.
struct CoreRuntime {
    handle: tokio::runtime::Handle,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Runtimes {
    fn build(scheduler: Scheduler) -> std::io::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        tracing::info!(cores, ?scheduler, "async runtime(s) on {cores} core(s)");
        let single = || {
            let mut builder = tokio::runtime::Builder::new_current_thread();
            builder.enable_all();
            builder
        };
        if cores == 1 || scheduler == Scheduler::PerCore {
            let main = single().build()?;
            let others = (1..cores)
                .map(|i| CoreRuntime::start(i, single().build()?))
                .collect::<std::io::Result<_>>()?;
            Ok(Self { main, others })
        } else {
            let main = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            Ok(Self {
                main,
                others: Vec::new(),
            })
        }
    }

    /// Where connections run: the main runtime and the others.
    fn workers(&self) -> Workers {
        Workers::new(self.others.iter().map(|r| r.handle.clone()).collect())
    }

    fn shutdown(self) {
        // Connections are closed by now. A compile of optimised code may still run in the
        // background (tens of seconds for a large handler): give blocking work a moment, not
        // that.
        self.main.shutdown_timeout(SHUTDOWN_BLOCKING_GRACE);
        for runtime in self.others {
            let _ = runtime.stop.send(());
            let _ = runtime.thread.join();
        }
    }
}

impl CoreRuntime {
    fn start(index: usize, runtime: tokio::runtime::Runtime) -> std::io::Result<Self> {
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(format!("iohost-core-{index}"))
            .spawn(move || {
                let _ = runtime.block_on(stopped);
                runtime.shutdown_timeout(SHUTDOWN_BLOCKING_GRACE);
            })?;
        Ok(Self {
            handle,
            stop,
            thread,
        })
    }
}

/// Runs the server with `config`, read from `file` (if any: followed for Strapi credentials).
pub fn run(config: Config, file: Option<std::path::PathBuf>) -> ExitCode {
    init_logging(&config);
    let runtimes = match Runtimes::build(config.server.scheduler) {
        Ok(runtimes) => runtimes,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let workers = runtimes.workers();
    let result = runtimes.main.block_on(async {
        App::new(config)
            .await?
            .with_config_file(file)
            .with_workers(workers)
            .serve()
            .await
    });
    runtimes.shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(config: &Config) {
    // RUST_LOG wins when set and not empty; the config was validated, so its level parses.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(&config.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
