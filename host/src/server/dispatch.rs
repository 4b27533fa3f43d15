//! Every client event enters here: first the handler chain, then Strapi's socket listeners
//! (the relay), then the built-in events.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::cluster::{Adapter, Io};
use socketioxide::extract::{Data, State};
use socketioxide::handler::{FromMessage, FromMessageParts, MessageHandler, Value};
use socketioxide::socket::Socket;

use super::reply::Reply;
use super::{SharedRef, builtins};
use crate::handlers::Outcome;
use crate::metrics::{EVENTS_REFUSED, LogEntry};
use crate::model::Args;
use crate::relay::{Refusal, Relayed};

/// Every socket's event handler (its fallback). socketioxide spawns a task for each event an
/// async handler gets; this one runs [`on_event`] at once, in the task that read the event, and
/// spawns only an event that must wait (for Strapi, a store across the network, or a handler
/// that ran for a whole epoch tick). Most events never wait: the spawn, its task and the trip
/// through the scheduler were a cost every event paid (docs/upstream.md).
#[derive(Debug, Clone, Copy)]
pub struct Events;

impl MessageHandler<Adapter, ()> for Events {
    fn call(&self, socket: Arc<Socket<Adapter>>, mut value: Value, ack_id: Option<i64>) {
        // The extractors of `on_event`, in the order socketioxide runs an async handler's.
        let parts = (
            State::from_message_parts(&socket, &mut value, &ack_id),
            Io::from_message_parts(&socket, &mut value, &ack_id),
            Reply::from_message_parts(&socket, &mut value, &ack_id),
        );
        let (Ok(state), Ok(io), Ok(reply)) = parts else {
            tracing::error!(sid = %socket.id, "an event's context could not be read; dropped");
            return;
        };
        match Data::<Args>::from_message(socket, value, ack_id) {
            Ok(data) => run_now_or_spawn(Box::pin(on_event(state, io, reply, data))),
            // socketioxide drops such an event the same way; `Args` takes any value.
            Err(e) => tracing::debug!("an event's arguments could not be read; dropped: {e}"),
        }
    }
}

/// Polls `future` here; spawns it when it must wait. Polling it again in its own task then
/// registers that task's waker: every future re-registers on each poll, so no wake-up is lost
/// with the no-op waker of this first poll. A panic is contained to the event, as in a task.
fn run_now_or_spawn(mut future: Pin<Box<dyn Future<Output = ()> + Send>>) {
    let mut cx = Context::from_waker(Waker::noop());
    match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut cx))) {
        Ok(Poll::Ready(())) => {}
        Ok(Poll::Pending) => {
            tokio::spawn(future);
        }
        Err(_) => {
            tracing::error!("handling an event panicked; the event is dropped");
            let _ = catch_unwind(AssertUnwindSafe(move || drop(future)));
        }
    }
}

async fn on_event(State(shared): State<SharedRef>, io: Io, reply: Reply, Data(args): Data<Args>) {
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
    let label = if known { event } else { "other" };
    shared
        .node
        .event_counters
        .increment(reply.socket().ns(), label);

    let builtin = builtins::EVENTS.contains(&event);
    // This future is boxed for every event (`Events`), and was spawned for every event before:
    // the handler chain's and Strapi's listeners' futures are kilobytes, so they are boxed
    // (allocated once, when wanted) and this one stays small. Unboxed, copying it took ~10%
    // of a core at the handler path's top rate (BENCHMARKS.md).
    let verdict = if shared.runtime.wants_event(reply.socket().ns(), event) {
        Box::pin(shared.runtime.on_event(reply.socket(), event, &args)).await
    } else {
        Outcome::Pass
    };
    let refused = match &verdict {
        Outcome::Rejected(_) => Some("rejected"),
        Outcome::Failed(_) => Some("failed"),
        _ => None,
    };
    if let Some(reason) = refused {
        metrics::counter!(EVENTS_REFUSED, "reason" => reason).increment(1);
    }
    // Taken before the reply is spent: the live log says what became of the event in the end.
    let seen = shared.node.event_log.watched().then(|| Seen::of(&reply));
    let outcome = match verdict {
        Outcome::Pass => {
            Box::pin(after_handlers(&shared, &io, reply, &args, (builtin, known))).await
        }
        Outcome::Handled(ack) => {
            reply.ok(&ack.unwrap_or_default());
            ("handled", None)
        }
        Outcome::Rejected(reason) => {
            reply.fail(&reason);
            ("rejected", Some(reason))
        }
        Outcome::Failed(reason) => {
            reply.fail(&reason);
            ("failed", Some(reason))
        }
    };
    if let Some(seen) = seen {
        shared.node.event_log.record(seen.entry(outcome));
    }
}

/// What the live log says of an event, and (after the handlers and Strapi) what became of it.
type Logged = (&'static str, Option<String>);

/// Strapi's socket listeners (if any), then the built-in events. A built-in event is answered
/// by iohost even when a listener in Strapi also got it.
async fn after_handlers(
    shared: &SharedRef,
    io: &Io,
    reply: Reply,
    args: &Args,
    (builtin, known): (bool, bool),
) -> Logged {
    let socket = reply.socket();
    let relayed = shared
        .relay
        .on_event(
            socket.id.as_str(),
            socket.ns(),
            reply.event(),
            args,
            reply.wants_ack(),
        )
        .await;
    match relayed {
        Relayed::Refused(refusal) => {
            metrics::counter!(EVENTS_REFUSED, "reason" => refusal.label()).increment(1);
            // `socket.use` said no; otherwise the relay failed (timeout, full queue, closed).
            let outcome = match refusal {
                Refusal::ByStrapi(_) => "rejected",
                _ => "failed",
            };
            let detail = refusal.to_string();
            reply.fail(&detail);
            (outcome, Some(detail))
        }
        _ if builtin => {
            builtins::run(shared, io, reply, args).await;
            ("built-in", None)
        }
        Relayed::Acked(ack) => {
            reply.ok(&ack);
            ("strapi", None)
        }
        Relayed::Listened => ("strapi", None),
        Relayed::NotListened => {
            if !known {
                metrics::counter!(EVENTS_REFUSED, "reason" => "no_handler").increment(1);
            }
            builtins::run(shared, io, reply, args).await;
            ("no handler", None)
        }
    }
}

/// The event's place, kept for its live log entry.
struct Seen {
    /// When the event came (the outcome may come later, after Strapi's listeners).
    time: u64,
    namespace: String,
    socket: String,
    event: String,
}

impl Seen {
    fn of(reply: &Reply) -> Self {
        Self {
            time: crate::model::now_ms(),
            namespace: reply.socket().ns().to_owned(),
            socket: reply.socket().id.to_string(),
            event: reply.event().to_owned(),
        }
    }

    fn entry(self, (outcome, detail): Logged) -> LogEntry {
        LogEntry {
            time: self.time,
            namespace: self.namespace,
            socket: self.socket,
            event: self.event,
            outcome: outcome.to_owned(),
            detail,
        }
    }
}
