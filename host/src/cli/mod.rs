//! The `iohost` command line: `serve`, `config check|show`, `handlers check|new`,
//! `strapi setup`. One file per command group; `main.rs` only calls [`run`].

mod config_cmd;
mod handlers_cmd;
mod serve;
mod strapi_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{self, ConfigError};
use crate::handlers::scaffold;

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
    /// Work with WebAssembly handlers.
    Handlers {
        #[command(subcommand)]
        command: HandlersCommand,
    },
    /// Connect iohost to Strapi.
    Strapi {
        #[command(subcommand)]
        command: StrapiCommand,
    },
}

#[derive(Subcommand)]
pub enum StrapiCommand {
    /// Create (or update) Strapi's webhook to this iohost with a fresh secret (or, with
    /// --plugin, an API key for the plugin), an API token for user lookups and an admin user
    /// that may only read API tokens and role permissions, and write them (and Strapi's
    /// JWT_SECRET) into the config file (default ./iohost.toml). Run again, it keeps what still
    /// works and says what it changed.
    Setup {
        /// Strapi's URL, e.g. http://127.0.0.1:1337.
        #[arg(long)]
        strapi_url: String,
        /// A Strapi admin's email.
        #[arg(long, env = "STRAPI_ADMIN_EMAIL")]
        email: String,
        /// The admin's password (prefer the environment variable: it stays out of shell history).
        #[arg(long, env = "STRAPI_ADMIN_PASSWORD", hide_env_values = true)]
        password: String,
        /// The URL Strapi reaches iohost at. Strapi in production refuses loopback addresses.
        #[arg(long)]
        public_url: String,
        /// Extra trusted certificates (PEM) for an https Strapi behind a private authority.
        #[arg(long)]
        ca_file: Option<PathBuf>,
        /// Set up for iohost's Strapi plugin (strapi-plugin/) instead of the webhook: deletes
        /// the `iohost` webhook if there is one, makes an API key for the plugin if api.keys
        /// has none, and prints what to add to the Strapi project.
        #[arg(long)]
        plugin: bool,
        /// The Strapi project's folder: strapi.jwt_secret is read from its .env (JWT_SECRET).
        #[arg(long)]
        strapi_dir: Option<PathBuf>,
        /// Strapi's JWT_SECRET, when not in the project's .env (prefer the environment variable).
        #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
        jwt_secret: Option<String>,
        /// Regenerate the `iohost` API token even when the one in the config file still works
        /// (anything else using that token stops working).
        #[arg(long)]
        rotate_token: bool,
    },
}

#[derive(Subcommand)]
pub enum HandlersCommand {
    /// Check that a .wasm file is a component fitting the iohost:handler world; print its
    /// imports and exports. Exit 1 if it does not fit.
    Check { file: PathBuf },
    /// Run a handler component in-process against a script of sockets and steps (events,
    /// connects, ticks, disconnects) with an in-memory KV store; compare outcomes, acks,
    /// emits and KV contents with what the script expects. Exit 1 if any differ, 2 if the
    /// script or the component is unusable.
    Test {
        file: PathBuf,
        /// The script (TOML); default: FILE's name with `.test.toml` instead of `.wasm`.
        script: Option<PathBuf>,
        /// The handler's sidecar (limits, [config]); default: FILE's name with `.toml`, if
        /// it exists.
        #[arg(long)]
        sidecar: Option<PathBuf>,
    },
    /// Create a handler project NAME (a Rust crate that builds and loads as it is).
    New {
        name: String,
        /// Folder to create the project in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Language of the project.
        #[arg(long, value_enum, default_value = "rust")]
        lang: scaffold::Lang,
        /// Path of the iohost-guest crate, for Rust (default: the one this iohost was built from).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration (file and IOHOST_* variables); exit 2 naming the bad key.
    Check,
    /// Print the effective configuration, defaults included, as TOML.
    Show,
}

/// Exit status for a configuration error, distinct from a runtime failure (1).
const EXIT_CONFIG: u8 = 2;

/// Parses the command line and runs the command; the process's exit status.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let config_file = cli.config.as_deref();
    match &cli.command {
        // These two read no configuration (`strapi setup` reads the file itself, to edit it).
        Command::Handlers { command } => handlers_cmd::run(command),
        Command::Strapi { command } => strapi_cmd::run(command, config_file),
        Command::Config { command } => config_cmd::run(command, config_file),
        Command::Serve => match config::load(config_file) {
            Ok((config, source)) => {
                warn_ignored(&source);
                serve::run(config, source.file)
            }
            Err(e) => config_error(&e),
        },
    }
}

/// Variables that look like misspelt keys, named (before logging starts; never their values).
pub(crate) fn warn_ignored(source: &config::ConfigSource) {
    for warning in &source.ignored {
        eprintln!("warning: {warning}");
    }
}

pub(crate) fn config_error(e: &ConfigError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(EXIT_CONFIG)
}
