//! `iohost handlers new NAME`: a handler crate that builds and loads as it is.

use std::path::{Path, PathBuf};

use super::loader::valid_name;

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error("handler names are lower-case letters, digits, `-` and `_`: `{0}` is not one")]
    BadName(String),
    #[error("{0} already exists")]
    Exists(String),
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Where this build of iohost found the guest SDK, the default for new handlers.
pub fn bundled_sdk() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk");
    path.canonicalize().ok()
}

/// Writes `<parent>/<name>/` with a Cargo project depending on the SDK at `sdk`. Returns the
/// project folder.
pub fn new_handler(name: &str, parent: &Path, sdk: &Path) -> Result<PathBuf, ScaffoldError> {
    if !valid_name(name) {
        return Err(ScaffoldError::BadName(name.to_owned()));
    }
    let dir = parent.join(name);
    if dir.exists() {
        return Err(ScaffoldError::Exists(dir.display().to_string()));
    }
    let type_name: String = name
        .split(['-', '_'])
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    let files = [
        ("Cargo.toml", cargo_toml(name, sdk)),
        ("src/lib.rs", lib_rs(name, &type_name)),
        (".gitignore", "/target\n".to_owned()),
        ("README.md", readme(name)),
    ];
    for (file, text) in files {
        let path = dir.join(file);
        let write = || -> std::io::Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, text)
        };
        write().map_err(|source| ScaffoldError::Io {
            path: path.display().to_string(),
            source,
        })?;
    }
    Ok(dir)
}

fn cargo_toml(name: &str, sdk: &Path) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
iohost-guest = {{ path = "{sdk}" }}
serde = {{ version = "1", features = ["derive"] }}
serde_json = "1"

# A standalone project, not part of any surrounding workspace.
[workspace]

# Small components load fast: iohost compiles each version when it appears.
[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
strip = true
panic = "abort"
"#,
        sdk = sdk.display()
    )
}

fn lib_rs(name: &str, type_name: &str) -> String {
    format!(
        r#"//! The `{name}` handler for iohost.
//!
//! Build: `cargo build --release --target wasm32-wasip2`
//! Install: copy `target/wasm32-wasip2/release/{file}.wasm` to iohost's handlers folder as
//! `{name}.wasm`; iohost loads it within a second and reloads it on every change.

use iohost_guest::{{Config, Event, Handler, Outcome, Registration, Socket}};
use serde_json::json;

struct {type_name};

impl Handler for {type_name} {{
    /// Which events to receive; called once per instance.
    fn init(_config: &Config) -> Result<Registration, String> {{
        Ok(Registration::events(["{name}:ping"]))
    }}

    /// `{name}:ping (anything, ack)` -> ack `{{pong: anything, from: <your name>}}`.
    fn on_event(socket: &Socket, event: &Event) -> Outcome {{
        let payload = event.json(0).cloned().unwrap_or_default();
        Outcome::ack(&json!({{ "pong": payload, "from": socket.display_name() }}))
    }}
}}

iohost_guest::export_handler!({type_name});
"#,
        file = name.replace('-', "_")
    )
}

fn readme(name: &str) -> String {
    format!(
        "# {name}\n\nAn iohost handler.\n\n```sh\ncargo build --release --target wasm32-wasip2\n\
         cp target/wasm32-wasip2/release/{file}.wasm /path/to/handlers/{name}.wasm\n\
         iohost handlers check /path/to/handlers/{name}.wasm\n```\n",
        file = name.replace('-', "_")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_project_and_refuses_to_overwrite() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = new_handler("audit-log", tmp.path(), Path::new("/sdk")).expect("scaffold");
        let lib = std::fs::read_to_string(dir.join("src/lib.rs")).expect("lib.rs");
        assert!(lib.contains("struct AuditLog;"));
        assert!(lib.contains("audit_log.wasm"));
        let cargo = std::fs::read_to_string(dir.join("Cargo.toml")).expect("Cargo.toml");
        assert!(cargo.contains(r#"iohost-guest = { path = "/sdk" }"#));
        assert!(matches!(
            new_handler("audit-log", tmp.path(), Path::new("/sdk")),
            Err(ScaffoldError::Exists(_))
        ));
        assert!(matches!(
            new_handler("Bad Name", tmp.path(), Path::new("/sdk")),
            Err(ScaffoldError::BadName(_))
        ));
    }
}
