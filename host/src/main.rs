//! The `iohost` command line.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use iohost::config::{self, Config, ConfigError, LogFormat};
use iohost::server::App;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "iohost",
    version,
    about = "Real-time Socket.IO for Strapi, with event logic in WebAssembly handlers"
)]
struct Cli {
    /// Configuration file (TOML). Default: ./iohost.toml when it exists, else built-in defaults.
    #[arg(long, short, global = true, env = "IOHOST_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server until SIGINT or SIGTERM.
    Serve,
    /// Work with the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the configuration (file and IOHOST_* variables); exit 2 naming the bad key.
    Check,
    /// Print the effective configuration, defaults included, as TOML.
    Show,
}

/// Exit status for a configuration error, distinct from a runtime failure (1).
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (config, source) = match config::load(cli.config.as_deref()) {
        Ok(loaded) => loaded,
        Err(e) => return config_error(&e),
    };
    match cli.command {
        Command::Config {
            command: ConfigCommand::Check,
        } => {
            let file = source
                .file
                .map_or("no file, defaults".to_owned(), |f| f.display().to_string());
            println!("configuration is valid ({file}, plus IOHOST_* variables)");
            ExitCode::SUCCESS
        }
        Command::Config {
            command: ConfigCommand::Show,
        } => match toml::to_string_pretty(&config) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot print the configuration: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Serve => serve(config),
    }
}

fn config_error(e: &ConfigError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(EXIT_CONFIG)
}

fn serve(config: Config) -> ExitCode {
    init_logging(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async { App::new(config)?.serve().await });
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
