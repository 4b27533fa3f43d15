//! `iohost_events_total` handles, kept per namespace and event label: every client event
//! counts itself, and looking a counter up by name and labels in the recorder allocates both
//! label values and hashes them on each event.

use std::collections::HashMap;
use std::sync::RwLock;

use metrics::Counter;

use super::EVENTS;

/// Counters of [`EVENTS`] by namespace and event label. The caller bounds the labels (client
/// names are counted as `other` unless something knows them), so the map stays small.
#[derive(Default)]
pub struct EventCounters {
    by_namespace: RwLock<HashMap<String, HashMap<String, Counter>>>,
}

impl EventCounters {
    /// Counts one event named `label` in `namespace`.
    pub fn increment(&self, namespace: &str, label: &str) {
        if let Ok(map) = self.by_namespace.read()
            && let Some(counter) = map.get(namespace).and_then(|events| events.get(label))
        {
            counter.increment(1);
            return;
        }
        self.register(namespace, label).increment(1);
    }

    fn register(&self, namespace: &str, label: &str) -> Counter {
        let counter = metrics::counter!(EVENTS, "namespace" => namespace.to_owned(), "event" => label.to_owned());
        // A poisoned lock only means another thread panicked mid-insert: counting goes on
        // through the recorder, uncached.
        if let Ok(mut map) = self.by_namespace.write() {
            map.entry(namespace.to_owned())
                .or_default()
                .insert(label.to_owned(), counter.clone());
        }
        counter
    }
}

impl std::fmt::Debug for EventCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventCounters").finish_non_exhaustive()
    }
}
