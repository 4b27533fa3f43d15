//! The `iohost` command line.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use iohost::app::App;
use iohost::config::{self, Config, ConfigError, LogFormat};
use iohost::handlers::{Engine, inspect, scaffold};
use iohost::strapi::setup;
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
enum StrapiCommand {
    /// Create (or update) Strapi's webhook to this iohost with a fresh secret, get an API token
    /// for user lookups, and write both into the config file (default ./iohost.toml).
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
    },
}

#[derive(Subcommand)]
enum HandlersCommand {
    /// Check that a .wasm file is a component fitting the iohost:handler world; print its
    /// imports and exports. Exit 1 if it does not fit.
    Check { file: PathBuf },
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
    let config_file = cli.config.as_deref();
    match &cli.command {
        // These two read no configuration (`strapi setup` reads the file itself, to edit it).
        Command::Handlers { command } => handlers_command(command),
        Command::Strapi { command } => strapi_command(command, config_file),
        Command::Config { command } => config_command(command, config_file),
        Command::Serve => match config::load(config_file) {
            Ok((config, _)) => serve(config),
            Err(e) => config_error(&e),
        },
    }
}

fn config_command(command: &ConfigCommand, file: Option<&std::path::Path>) -> ExitCode {
    let (config, source) = match config::load(file) {
        Ok(loaded) => loaded,
        Err(e) => return config_error(&e),
    };
    match command {
        ConfigCommand::Check => {
            let file = source
                .file
                .map_or("no file, defaults".to_owned(), |f| f.display().to_string());
            println!("configuration is valid ({file}, plus IOHOST_* variables)");
            ExitCode::SUCCESS
        }
        ConfigCommand::Show => match toml::to_string_pretty(&config.redacted()) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot print the configuration: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn handlers_command(command: &HandlersCommand) -> ExitCode {
    match command {
        HandlersCommand::Check { file } => check_handler(file),
        HandlersCommand::New {
            name,
            dir,
            lang,
            sdk,
        } => {
            let sdk = match (lang, sdk.clone().or_else(scaffold::bundled_sdk)) {
                (_, Some(sdk)) => sdk,
                (scaffold::Lang::Rust, None) => {
                    eprintln!("error: cannot find the iohost-guest crate; pass --sdk PATH");
                    return ExitCode::FAILURE;
                }
                (_, None) => PathBuf::new(),
            };
            match scaffold::new_handler(name, dir, *lang, &sdk) {
                Ok(project) => {
                    println!("created {}", project.display());
                    let build = match lang {
                        scaffold::Lang::Rust => {
                            "cargo build --release --target wasm32-wasip2".to_owned()
                        }
                        scaffold::Lang::Js => "npm install && npm run build".to_owned(),
                        scaffold::Lang::Python => format!(
                            "pip install componentize-py=={} && componentize-py -d wit -w handler componentize app -o {name}.wasm",
                            scaffold::COMPONENTIZE_PY
                        ),
                    };
                    println!("build it:  cd {} && {build}", project.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn strapi_command(command: &StrapiCommand, config: Option<&std::path::Path>) -> ExitCode {
    let StrapiCommand::Setup {
        strapi_url,
        email,
        password,
        public_url,
        ca_file,
    } = command;
    let config_file = config.map_or_else(
        || PathBuf::from(config::DEFAULT_FILE),
        std::path::Path::to_path_buf,
    );
    let webhook_path = config::StrapiConfig::default().webhook_path;
    let options = setup::Options {
        strapi_url,
        email,
        password,
        public_url,
        webhook_path: &webhook_path,
        config_file: &config_file,
        ca_file: ca_file.as_deref(),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(setup::run(&options)) {
        Ok(report) => {
            let verb = |created| if created { "created" } else { "updated" };
            println!(
                "Strapi webhook `{}` {} -> {}",
                setup::NAME,
                verb(report.webhook_created),
                report.webhook_url
            );
            println!(
                "Strapi API token `{}` {}",
                setup::NAME,
                verb(report.token_created)
            );
            println!(
                "Strapi admin user `{}` (role `{}`: may only read API tokens and role permissions) {}",
                setup::READER_EMAIL,
                setup::READER_ROLE,
                verb(report.reader_created)
            );
            println!(
                "wrote strapi.url, webhook_secret, api_token, admin_email and admin_password to {}",
                config_file.display()
            );
            println!(
                "still to do: set strapi.jwt_secret to Strapi's JWT_SECRET (IOHOST_STRAPI__JWT_SECRET), then restart iohost"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn check_handler(file: &std::path::Path) -> ExitCode {
    let engine = match Engine::new() {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("error: cannot start the WebAssembly engine: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    match inspect(&engine, file) {
        Ok(report) => {
            println!("{}", file.display());
            println!("  imports:");
            for name in &report.imports {
                println!("    {name}");
            }
            println!("  exports:");
            for name in &report.exports {
                println!("    {name}");
            }
            match report.fits_world {
                Ok(()) => {
                    println!("fits the iohost:handler world");
                    ExitCode::SUCCESS
                }
                Err(reason) => {
                    println!("does NOT fit the iohost:handler world: {reason}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("error: {}: {e}", file.display());
            ExitCode::FAILURE
        }
    }
}

fn config_error(e: &ConfigError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(EXIT_CONFIG)
}

/// How long `serve` waits, once stopped, for blocking work still running (file writes, compiles).
const SHUTDOWN_BLOCKING_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

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
    let result = runtime.block_on(async { App::new(config).await?.serve().await });
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
