//! Hot reload: watch the handlers folder (not the files: editors and build tools replace files
//! by renaming over them, which a watch on the old file would miss), wait until writes settle,
//! then reload each handler whose `.wasm` or `.toml` changed.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::RecursiveMode;
use notify::event::{AccessKind, AccessMode, EventKind};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};

use super::Runtime;
use super::loader::name_of;

/// Keeps the folder watched while alive.
pub struct Watcher {
    _debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
}

impl Runtime {
    pub fn watch(self: &Arc<Self>) -> anyhow::Result<Watcher> {
        let dir = self.config().dir.clone();
        std::fs::create_dir_all(&dir)?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<PathBuf>>();
        let debounce = Duration::from_millis(self.config().debounce_ms);
        let mut debouncer =
            new_debouncer(
                debounce,
                None,
                move |result: DebounceEventResult| match result {
                    Ok(events) => {
                        let changed: Vec<PathBuf> = events
                            .into_iter()
                            .filter(|e| changes_content(&e.event.kind))
                            .flat_map(|e| e.event.paths)
                            .collect();
                        if !changed.is_empty() {
                            let _ = tx.send(changed);
                        }
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

/// Whether an event can mean new content. Reading a file is an event too (inotify reports
/// opens and closes): reacting to those would reload, read the file again, and loop forever.
fn changes_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use notify::event::{CreateKind, ModifyKind, RemoveKind, RenameMode};

    use super::*;

    #[test]
    fn reads_are_not_changes() {
        assert!(!changes_content(&EventKind::Access(AccessKind::Open(
            AccessMode::Read
        ))));
        assert!(!changes_content(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(changes_content(&EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
        assert!(changes_content(&EventKind::Create(CreateKind::File)));
        assert!(changes_content(&EventKind::Modify(ModifyKind::Name(
            RenameMode::To
        ))));
        assert!(changes_content(&EventKind::Remove(RemoveKind::File)));
    }
}
