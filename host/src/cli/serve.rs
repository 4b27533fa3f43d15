//! `iohost serve`: logging, the runtime, the server until SIGINT or SIGTERM.

use std::io::IsTerminal;
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

use crate::app::App;
use crate::config::{Config, LogFormat};

/// How long `serve` waits, once stopped, for blocking work still running (file writes, compiles).
const SHUTDOWN_BLOCKING_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// The async runtime for the cores this process may use. On one core (a 1-vCPU container,
/// or pinned with `taskset`) the single-threaded scheduler: it runs ready tasks in the order
/// they were woken, where the multi-threaded one with its one worker let a socket's writer
/// wait behind the readers (its LIFO slot and 256-task local queue). On the handler path at
/// 40,000 events/s offered that was a 3x lower p99 (BENCHMARKS.md).
fn runtime_builder() -> tokio::runtime::Builder {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    tracing::info!(cores, "async runtime on {cores} core(s)");
    if cores == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    }
}

/// Runs the server with `config`, read from `file` (if any: followed for Strapi credentials).
pub fn run(config: Config, file: Option<std::path::PathBuf>) -> ExitCode {
    init_logging(&config);
    let runtime = match runtime_builder().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result =
        runtime.block_on(async { App::new(config).await?.with_config_file(file).serve().await });
    // Connections are closed by now. A compile of optimised code may still run in the
    // background (tens of seconds for a large handler): give blocking work a moment, not that.
    runtime.shutdown_timeout(SHUTDOWN_BLOCKING_GRACE);
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
