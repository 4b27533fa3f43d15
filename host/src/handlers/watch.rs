//! Hot reload: watch the handlers folder (not the files: editors and build tools replace files
//! by renaming over them, which a watch on the old file would miss), wait until writes settle,
//! then reload each handler whose `.wasm` or `.toml` changed.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};

use super::Runtime;
use super::loader::name_of;

/// Keeps the folder watched while alive.
pub struct Watcher {
    _debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
}

impl Runtime {
    pub fn watch(self: &Arc<Self>) -> anyhow::Result<Watcher> {
        let dir = self.settings().dir.clone();
        std::fs::create_dir_all(&dir)?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<PathBuf>>();
        let debounce = Duration::from_millis(self.settings().debounce_ms);
        let mut debouncer =
            new_debouncer(
                debounce,
                None,
                move |result: DebounceEventResult| match result {
                    Ok(events) => {
                        let _ = tx.send(events.into_iter().flat_map(|e| e.event.paths).collect());
                    }
                    Err(errors) => {
                        for e in errors {
                            tracing::warn!("handlers folder watch error: {e}");
                        }
                    }
                },
            )?;
        debouncer.watch(&dir, RecursiveMode::NonRecursive)?;

        let runtime = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(paths) = rx.recv().await {
                let names: BTreeSet<String> = paths.iter().filter_map(|p| name_of(p)).collect();
                let Some(runtime) = runtime.upgrade() else {
                    return;
                };
                for name in names {
                    runtime.reload(&name).await;
                }
            }
        });
        tracing::info!(dir = %dir.display(), "watching for handler changes");
        Ok(Watcher {
            _debouncer: debouncer,
        })
    }
}
