//! `GET /live`: a server-sent event stream for the admin page. Every second a `snapshot`
//! (stats, sockets, handlers, settings); each client event as it happens, as `event` (only
//! while someone watches does iohost record them). Authenticated like every API call, so the
//! page reads it with `fetch` (an `EventSource` cannot send the key without putting it in a URL).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;

use super::handlers::{HandlersResponse, collect_handlers};
use super::sockets::all_sockets;
use super::stats::{Stats, collect_stats};
use super::{ApiState, Params};
use crate::metrics::LogEntry;
use crate::model::SocketView;
use crate::settings::Settings;

#[derive(Serialize)]
struct Snapshot {
    stats: Stats,
    sockets: Vec<SocketView>,
    handlers: HandlersResponse,
    settings: Settings,
    /// The permission matrix in force (settings over the config file).
    permissions: crate::strapi::content::Permissions,
}

enum Next {
    Tick,
    Entry(LogEntry),
    Skipped(u64),
}

/// The next client event, or never when the watcher did not ask for them.
async fn next_entry(
    receiver: &mut Option<tokio::sync::broadcast::Receiver<LogEntry>>,
) -> Result<LogEntry, RecvError> {
    match receiver {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

fn json_event(name: &str, body: &impl Serialize) -> Event {
    Event::default()
        .event(name)
        .data(serde_json::to_string(body).unwrap_or_else(|_| "null".to_owned()))
}

/// What a watcher wants.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveQuery {
    /// Also each client event as it happens (default true; iohost records them only while
    /// someone watches with this on).
    pub events: Option<bool>,
    /// Milliseconds between snapshots: 250 to 60000, default 1000.
    pub interval_ms: Option<u64>,
}

pub async fn live(
    State(state): State<ApiState>,
    Params(query): Params<LiveQuery>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let (recent, receiver) = match query.events.unwrap_or(true) {
        true => {
            let (recent, receiver) = state.node.event_log.watch();
            (recent, Some(receiver))
        }
        false => (Vec::new(), None),
    };
    let every = query.interval_ms.unwrap_or(1000).clamp(250, 60_000);
    let mut interval = tokio::time::interval(Duration::from_millis(every));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let first: Vec<Event> = recent.iter().map(|e| json_event("event", e)).collect();

    let updates = stream::unfold(
        (state, interval, receiver),
        |(state, mut interval, mut receiver)| async move {
            let next = tokio::select! {
                _ = interval.tick() => Next::Tick,
                entry = next_entry(&mut receiver) => match entry {
                    Ok(entry) => Next::Entry(entry),
                    Err(RecvError::Lagged(n)) => Next::Skipped(n),
                    Err(RecvError::Closed) => return None,
                },
            };
            // A stopping node ends the stream, so that its drain does not wait for it.
            if !state.node.is_ready() {
                return None;
            }
            let event = match next {
                Next::Tick => {
                    let snapshot = Snapshot {
                        stats: collect_stats(&state).await,
                        sockets: all_sockets(&state).await,
                        handlers: collect_handlers(&state),
                        settings: state.settings.now().settings.clone(),
                        permissions: (*state.settings.now().permissions).clone(),
                    };
                    json_event("snapshot", &snapshot)
                }
                Next::Entry(entry) => json_event("event", &entry),
                Next::Skipped(n) => json_event("skipped", &n),
            };
            Some((Ok(event), (state, interval, receiver)))
        },
    );
    let stream = futures_util::StreamExt::chain(stream::iter(first.into_iter().map(Ok)), updates);
    Sse::new(stream).keep_alive(KeepAlive::default())
}
