//! Every client event enters here: first the handler chain, then the built-in events.

use crate::cluster::Io;
use socketioxide::extract::{Data, State};

use super::reply::Reply;
use super::{SharedRef, builtins};
use crate::handlers::Outcome;
use crate::metrics::{EVENTS, EVENTS_REFUSED, LogEntry};
use crate::model::Args;

pub async fn on_event(
    State(shared): State<SharedRef>,
    io: Io,
    reply: Reply,
    Data(args): Data<Args>,
) {
    shared.node.rate.record();
    let max = shared.config.server.max_event_name_bytes;
    if reply.event().len() > max {
        // Refused before anything else sees it, and never echoed whole.
        metrics::counter!(EVENTS_REFUSED, "reason" => "name_too_long").increment(1);
        let error = format!(
            "event names are at most {max} bytes (server.max_event_name_bytes); this one has {}",
            reply.event().len()
        );
        return reply.shorten_event(32).fail(error);
    }
    let event = reply.event();
    let known = builtins::EVENTS.contains(&event) || shared.runtime.knows_event(event);
    // Clients can make up any name: only names something here knows become label values.
    let label = if known {
        event.to_owned()
    } else {
        "other".to_owned()
    };
    metrics::counter!(EVENTS, "namespace" => reply.socket().ns().to_owned(), "event" => label)
        .increment(1);

    let verdict = shared.runtime.on_event(reply.socket(), event, &args).await;
    let refused = match &verdict {
        Outcome::Rejected(_) => Some("rejected"),
        Outcome::Failed(_) => Some("failed"),
        Outcome::Pass if !known => Some("no_handler"),
        _ => None,
    };
    if let Some(reason) = refused {
        metrics::counter!(EVENTS_REFUSED, "reason" => reason).increment(1);
    }
    if shared.node.event_log.watched() {
        log_event(&shared, &reply, &verdict, builtins::EVENTS.contains(&event));
    }
    match verdict {
        Outcome::Pass => builtins::run(&shared, &io, reply, &args).await,
        Outcome::Handled(ack) => reply.ok(&ack.unwrap_or_default()),
        Outcome::Rejected(reason) | Outcome::Failed(reason) => reply.fail(reason),
    }
}

fn log_event(shared: &SharedRef, reply: &Reply, verdict: &Outcome, builtin: bool) {
    let (outcome, detail) = match verdict {
        Outcome::Handled(_) => ("handled", None),
        Outcome::Rejected(reason) => ("rejected", Some(reason.clone())),
        Outcome::Failed(reason) => ("failed", Some(reason.clone())),
        Outcome::Pass if builtin => ("built-in", None),
        Outcome::Pass => ("no handler", None),
    };
    shared.node.event_log.record(LogEntry {
        time: crate::model::now_ms(),
        namespace: reply.socket().ns().to_owned(),
        socket: reply.socket().id.to_string(),
        event: reply.event().to_owned(),
        outcome: outcome.to_owned(),
        detail,
    });
}
