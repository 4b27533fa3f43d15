//! `iohost handlers check|new|test`.

use std::path::PathBuf;
use std::process::ExitCode;

use super::HandlersCommand;
use crate::handlers::{Engine, inspect, scaffold, testing};

pub fn run(command: &HandlersCommand) -> ExitCode {
    match command {
        HandlersCommand::Check { file } => check_handler(file),
        HandlersCommand::Test {
            file,
            script,
            sidecar,
        } => test_handler(file, script.as_deref(), sidecar.as_deref()),
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
                    let exports = |name: &str| report.exports.iter().any(|e| e == name);
                    let mut how = Vec::new();
                    if exports("on-content") {
                        how.push("as a content handler (content-handler: on-content sees Strapi's content events)");
                    }
                    if exports("on-socket-event") {
                        how.push("reading each event's socket field by field (socket-handler: on-socket-event)");
                    }
                    if how.is_empty() {
                        println!("fits the iohost:handler world");
                    } else {
                        println!("fits the iohost:handler world, {}", how.join(", "));
                    }
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

/// Exit status for a script or component that cannot be used (as for a bad configuration).
const EXIT_UNUSABLE: u8 = 2;

fn test_handler(
    file: &std::path::Path,
    script: Option<&std::path::Path>,
    sidecar: Option<&std::path::Path>,
) -> ExitCode {
    let script_path = script.map_or_else(|| file.with_extension("test.toml"), |s| s.to_path_buf());
    let unusable = |e: &dyn std::fmt::Display| {
        eprintln!("error: {e}");
        ExitCode::from(EXIT_UNUSABLE)
    };
    let parsed = match testing::read_script(&script_path) {
        Ok(parsed) => parsed,
        Err(e) => return unusable(&e),
    };
    // The component runs from a folder of its own, as a handler named after the file.
    let folder = match tempfile::tempdir() {
        Ok(folder) => folder,
        Err(e) => return unusable(&format!("cannot make a temporary folder: {e}")),
    };
    let stem = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let name = match crate::config::valid_handler_name(stem) {
        true => stem.to_owned(),
        false => "handler".to_owned(),
    };
    if let Err(e) = std::fs::copy(file, folder.path().join(format!("{name}.wasm"))) {
        return unusable(&format!("cannot read {}: {e}", file.display()));
    }
    let sidecar = sidecar.map(std::path::Path::to_path_buf).or_else(|| {
        let beside = file.with_extension("toml");
        beside.is_file().then_some(beside)
    });
    if let Some(sidecar) = &sidecar
        && let Err(e) = std::fs::copy(sidecar, folder.path().join(format!("{name}.toml")))
    {
        return unusable(&format!("cannot read {}: {e}", sidecar.display()));
    }
    let config = crate::config::HandlersConfig {
        dir: folder.path().to_path_buf(),
        cache_dir: folder.path().join(".cache"),
        watch: false,
        ..crate::config::HandlersConfig::default()
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return unusable(&format!("cannot start the async runtime: {e}")),
    };
    let report = match runtime.block_on(testing::run(&config, &name, &parsed)) {
        Ok(report) => report,
        Err(e) => return unusable(&e),
    };
    println!("{} with {}", file.display(), script_path.display());
    for (i, step) in report.steps.iter().enumerate() {
        match &step.failure {
            None => println!("ok {} - {}", i + 1, step.title),
            Some(why) => {
                println!("not ok {} - {}", i + 1, step.title);
                for line in why.lines() {
                    println!("  {line}");
                }
            }
        }
    }
    for line in &report.kv {
        println!("not ok - {line}");
    }
    let failed = report.steps.iter().filter(|s| s.failure.is_some()).count() + report.kv.len();
    println!("{} steps, {failed} failed", report.steps.len());
    match report.passed() {
        true => ExitCode::SUCCESS,
        false => ExitCode::FAILURE,
    }
}
