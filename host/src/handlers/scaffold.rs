//! `iohost handlers new NAME --lang rust|js|python`: a handler project that builds and loads
//! as it is: a Rust crate on the guest SDK, a JavaScript module for componentize-js, or a
//! Python app for componentize-py (both with a copy of the WIT world).

use std::path::{Path, PathBuf};

use crate::config::valid_handler_name as valid_name;

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

/// The WIT world handlers are built against, as this iohost serves it.
pub const WIT: &str = include_str!("../../../wit/handler.wit");
/// The guest SDK's JavaScript helpers (every export defaulted; answer builders).
const JS_HELPERS: &str = include_str!("../../../guest-sdk/js/iohost.js");
/// The guest SDK's Python helpers (a base class with every export defaulted; builders).
const PYTHON_HELPERS: &str = include_str!("../../../guest-sdk/python/iohost_handler.py");

/// The languages `iohost handlers new` writes projects in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Js,
    Python,
}

/// Where this build of iohost found the guest SDK, the default for new handlers.
pub fn bundled_sdk() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk");
    path.canonicalize().ok()
}

/// Writes `<parent>/<name>/` with a project in `lang` (Rust: depending on the SDK at `sdk`).
/// Returns the project folder.
pub fn new_handler(
    name: &str,
    parent: &Path,
    lang: Lang,
    sdk: &Path,
) -> Result<PathBuf, ScaffoldError> {
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
    let files = match lang {
        Lang::Rust => vec![
            ("Cargo.toml".to_owned(), cargo_toml(name, sdk)),
            ("src/lib.rs".to_owned(), lib_rs(name, &type_name)),
            (".gitignore".to_owned(), "/target\n".to_owned()),
            ("README.md".to_owned(), readme(name)),
            ("test.toml".to_owned(), test_script(name, "ann")),
        ],
        Lang::Js => vec![
            ("package.json".to_owned(), js_package(name)),
            ("build.mjs".to_owned(), js_build(name)),
            (format!("src/{name}.js"), js_source(name)),
            ("src/iohost.js".to_owned(), JS_HELPERS.to_owned()),
            ("wit/handler.wit".to_owned(), WIT.to_owned()),
            (
                ".gitignore".to_owned(),
                "node_modules/\n*.wasm\n".to_owned(),
            ),
            ("README.md".to_owned(), js_readme(name)),
            ("test.toml".to_owned(), test_script(name, "s1")),
        ],
        Lang::Python => vec![
            ("app.py".to_owned(), python_app(name)),
            ("iohost_handler.py".to_owned(), PYTHON_HELPERS.to_owned()),
            ("wit/handler.wit".to_owned(), WIT.to_owned()),
            (".gitignore".to_owned(), "__pycache__/\n*.wasm\n".to_owned()),
            ("README.md".to_owned(), python_readme(name)),
            ("test.toml".to_owned(), test_script(name, "s1")),
        ],
    };
    for (file, text) in files {
        let path = dir.join(&file);
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
         iohost handlers test target/wasm32-wasip2/release/{file}.wasm test.toml   # its own tests, in-process\n\
         cp target/wasm32-wasip2/release/{file}.wasm /path/to/handlers/{name}.wasm\n\
         iohost handlers check /path/to/handlers/{name}.wasm\n```\n",
        file = name.replace('-', "_")
    )
}

/// The project's own test script (`iohost handlers test`); `from` is what the template's ack
/// says the scripted socket is (Rust: its user's name; JavaScript and Python: its id).
fn test_script(name: &str, from: &str) -> String {
    format!(
        r#"# `iohost handlers test {name}.wasm test.toml` runs the built handler in-process against
# these steps: scripted sockets, events with arguments, and what each must answer and emit
# (also `connect`, `disconnect`, `tick` steps, `[kv]` contents at the end). Add your own.

[[socket]]
id = "s1"
role = "authenticated"
user = {{ id = 1, username = "ann" }}

[[step]]
socket = "s1"
event = "{name}:ping"
args = ["hello"]
expect = {{ ack = [{{ pong = "hello", from = "{from}" }}] }}
actions = []

# Events it did not register pass to the next handler.
[[step]]
socket = "s1"
event = "other"
expect = "pass"
"#
    )
}

/// The componentize-js release the JavaScript example is built and tested with.
const COMPONENTIZE_JS: &str = "0.23.0";
/// componentize-js needs it but declares it an optional peer: a clean `npm ci` leaves it out.
const PREVIEW2_SHIM: &str = "0.25.0";
/// The componentize-py release the Python example is built and tested with.
pub const COMPONENTIZE_PY: &str = "0.25.1";

fn js_package(name: &str) -> String {
    format!(
        r#"{{
  "name": "iohost-handler-{name}",
  "private": true,
  "type": "module",
  "scripts": {{
    "build": "node build.mjs"
  }},
  "devDependencies": {{
    "@bytecodealliance/componentize-js": "{COMPONENTIZE_JS}",
    "@bytecodealliance/preview2-shim": "{PREVIEW2_SHIM}"
  }}
}}
"#
    )
}

fn js_build(name: &str) -> String {
    format!(
        r#"// Builds src/{name}.js into {name}.wasm, a component of the iohost:handler world (wit/).
import {{ renameSync, writeFileSync }} from 'node:fs';

import {{ componentize }} from '@bytecodealliance/componentize-js';

const {{ component }} = await componentize({{
  sourcePath: 'src/{name}.js',
  witPath: 'wit',
  worldName: 'handler',
  // iohost links no network, files or environment: leave out what would import them.
  disableFeatures: ['http', 'fetch-event', 'stdio', 'random', 'clocks'],
}});
writeFileSync('{name}.wasm.partial', component);
renameSync('{name}.wasm.partial', '{name}.wasm');
console.log(`built {name}.wasm (${{(component.length / 1e6).toFixed(1)}} MB)`);
"#
    )
}

fn js_source(name: &str) -> String {
    format!(
        r#"// The `{name}` handler for iohost, in JavaScript. Imports are the WIT interfaces in wit/
// (`iohost:handler/sockets@0.1.2`, `kv`, `log`, `clock`, `config`, `strapi`); u64 values (kv
// TTLs, incr) are BigInts. ./iohost.js fills in the exports you leave out.
import {{ log }} from 'iohost:handler/log@0.1.2';

import {{ ack, args, handler, registration }} from './iohost.js';

export const {{ init, onConnect, onEvent, onDisconnect, onTick }} = handler({{
  /** Which events to receive; called once per instance with the sidecar's [config] as JSON. */
  init(configText) {{
    JSON.parse(configText);
    return registration(['{name}:ping']);
  }},

  /** `{name}:ping (anything, ack)` -> ack `{{pong: anything, from: <socket id>}}`. */
  onEvent(socket, event) {{
    const [first] = args(event);
    log('debug', `ping from ${{socket.id}}`);
    // pass() leaves the event to the next handler; reject(reason) refuses it.
    return ack({{ pong: first ?? null, from: socket.id }});
  }},
}});
"#
    )
}

fn js_readme(name: &str) -> String {
    format!(
        "# {name}\n\nAn iohost handler in JavaScript (componentize-js {COMPONENTIZE_JS}).\n\n```sh\n\
         npm install\nnpm run build            # -> {name}.wasm (about 12 MB)\n\
         iohost handlers test {name}.wasm test.toml   # its own tests, in-process\n\
         cp {name}.wasm /path/to/handlers/{name}.wasm\n\
         iohost handlers check /path/to/handlers/{name}.wasm\n```\n\n\
         wit/handler.wit is the world this iohost serves; keep it in step when you upgrade iohost.\n"
    )
}

fn python_app(name: &str) -> String {
    format!(
        r#""""The `{name}` handler for iohost, in Python (componentize-py {COMPONENTIZE_PY}).

Build: componentize-py -d wit -w handler componentize app -o {name}.wasm
iohost_handler.py (beside this file) fills in the exports you leave out.
"""

from __future__ import annotations

import json

from iohost_handler import Handler, ack, arguments, registration
from wit_world.imports import log, types


class WitWorld(Handler):
    def init(self, config: str) -> types.Registration:
        """Which events to receive; `config` is the sidecar's [config] as JSON."""
        json.loads(config)
        return registration(["{name}:ping"])

    def on_event(self, socket: types.SocketInfo, event: types.Event) -> types.EventResult:
        """`{name}:ping (anything, ack)` -> ack `{{pong: anything, from: <socket id>}}`."""
        args = arguments(event)
        log.log(log.Level.DEBUG, f"ping from {{socket.id}}")
        # pass_on() leaves the event to the next handler; reject(reason) refuses it.
        return ack({{"pong": args[0] if args else None, "from": socket.id}})
"#
    )
}

fn python_readme(name: &str) -> String {
    format!(
        "# {name}\n\nAn iohost handler in Python (componentize-py {COMPONENTIZE_PY}).\n\n```sh\n\
         pip install componentize-py=={COMPONENTIZE_PY}\n\
         componentize-py -d wit -w handler componentize app -o {name}.wasm   # about 18 MB\n\
         iohost handlers test {name}.wasm test.toml   # its own tests, in-process\n\
         cp {name}.wasm /path/to/handlers/{name}.wasm\n\
         iohost handlers check /path/to/handlers/{name}.wasm\n```\n\n\
         wit/handler.wit is the world this iohost serves; keep it in step when you upgrade iohost.\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_project_and_refuses_to_overwrite() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir =
            new_handler("audit-log", tmp.path(), Lang::Rust, Path::new("/sdk")).expect("scaffold");
        let lib = std::fs::read_to_string(dir.join("src/lib.rs")).expect("lib.rs");
        assert!(lib.contains("struct AuditLog;"));
        assert!(lib.contains("audit_log.wasm"));
        let cargo = std::fs::read_to_string(dir.join("Cargo.toml")).expect("Cargo.toml");
        assert!(cargo.contains(r#"iohost-guest = { path = "/sdk" }"#));
        assert!(matches!(
            new_handler("audit-log", tmp.path(), Lang::Js, Path::new("/sdk")),
            Err(ScaffoldError::Exists(_))
        ));
        assert!(matches!(
            new_handler("Bad Name", tmp.path(), Lang::Python, Path::new("/sdk")),
            Err(ScaffoldError::BadName(_))
        ));
    }
}
