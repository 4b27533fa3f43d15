//! The module order of docs/architecture.md, checked on the source: every `crate::<module>` a
//! module names must come earlier in [`ORDER`] (or be itself). A new import that points up,
//! or a new top-level module not placed in the order, fails here with the offending file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Bottom first: foundations, core, edges, the composition root, the command line.
const ORDER: &[&str] = &[
    // foundations
    "config", "model", "random", "stripes", "metrics", "cluster", "store", "sockets", "node",
    "edge", // core
    "rooms", "strapi", "auth", "handlers", "relay", "settings", // edges
    "server", "api", "webhook", "admin", // composition root and command line
    "app", "cli",
];

/// The top-level module a file of `src/` belongs to (`src/server/connect.rs` -> `server`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    Some(first.trim_end_matches(".rs").to_owned())
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `crate::<name>` in `text`.
fn crate_paths(text: &str) -> Vec<String> {
    text.match_indices("crate::")
        .map(|(at, _)| {
            text[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

#[test]
fn imports_only_point_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let rank: BTreeMap<&str, usize> = ORDER.iter().enumerate().map(|(i, m)| (*m, i)).collect();
    let mut wrong = Vec::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(&own) = rank.get(module.as_str()) else {
            wrong.push(format!(
                "{}: module `{module}` is not placed in ORDER",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("read file");
        for used in crate_paths(&text) {
            match rank.get(used.as_str()) {
                Some(&other) if other > own => wrong.push(format!(
                    "{}: `{module}` imports `{used}`, which is above it",
                    file.display()
                )),
                None => wrong.push(format!(
                    "{}: `crate::{used}` is not a module in ORDER",
                    file.display()
                )),
                _ => {}
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
