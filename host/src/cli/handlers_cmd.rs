//! `iohost handlers check|new`.

use std::path::PathBuf;
use std::process::ExitCode;

use super::HandlersCommand;
use crate::handlers::{Engine, inspect, scaffold};

pub fn run(command: &HandlersCommand) -> ExitCode {
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
