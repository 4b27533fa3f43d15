//! `iohost config check|show`.

use std::process::ExitCode;

use super::{ConfigCommand, config_error, warn_ignored};
use crate::config;

pub fn run(command: &ConfigCommand, file: Option<&std::path::Path>) -> ExitCode {
    let (config, source) = match config::load(file) {
        Ok(loaded) => loaded,
        Err(e) => return config_error(&e),
    };
    warn_ignored(&source);
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
