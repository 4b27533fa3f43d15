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
/// spawns only an event that must wait (for an instance, Strapi, a store across the network,
/// a client's ack, or a handler call still running at the next epoch tick). Most events never
/// wait: the spawn, its task and the trip through the scheduler were a cost every event paid
/// (docs/upstream.md).
#[derive(Debug, Clone, Copy)]
pub struct Events;

impl MessageHandler<Adapter, ()> for Events {
    fn call(&self, socket: Arc<Socket<Adapter>>, mut value: Value, ack_id: Option<i64>) {
        // The extractors of `on_event`, in the order socketioxide runs an async handler's.
        let parts = (
            State::<SharedRef>::from_message_parts(&socket, &mut value, &ack_id),
            socketioxide::SocketIo::<Adapter>::from_message_parts(&socket, &mut value, &ack_id),
            Reply::from_message_parts(&socket, &mut value, &ack_id),
        );
        let (Ok(state), Ok(server), Ok(reply)) = parts else {
            tracing::error!(sid = %socket.id, "an event's context could not be read; dropped");
            return;
        };
        let io = Io::new(server, &state.0.node.backplane);
        let sid = socket.id;
        match Data::<Args>::from_message(socket, value, ack_id) {
            Ok(data) => {
                if run_now_or_spawn(Box::pin(on_event(state, io, reply, data))).is_err() {
                    tracing::error!(%sid, "handling an event panicked; the event is dropped");
                }
            }
            // socketioxide drops such an event the same way; `Args` takes any value.
            Err(e) => tracing::debug!("an event's arguments could not be read; dropped: {e}"),
        }
    }
}

type EventFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The event's future panicked (it is dropped, as a panicking task is).
#[derive(Debug)]
struct Panicked;

/// Polls `future` here, spending one unit of the current task's tokio budget; spawns it when
/// it must wait, or at once when the budget is spent. The budget bounds how many events one
/// poll of a reading task handles here (a client can send thousands in one websocket read or
/// one polling POST): past it they are spawned, as socketioxide does with every event, and
/// the reader yields at its next read. A spawned task is always polled once more, which
/// registers its waker: nothing waits on the no-op waker of the first poll.
fn run_now_or_spawn(mut future: EventFuture) -> Result<(), Panicked> {
    let mut cx = Context::from_waker(Waker::noop());
    let Poll::Ready(budget) = tokio::task::coop::poll_proceed(&mut cx) else {
        tokio::spawn(future);
        return Ok(());
    };
    budget.made_progress();
    match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut cx))) {
        Ok(Poll::Ready(())) => Ok(()),
        Ok(Poll::Pending) => {
            tokio::spawn(future);
            Ok(())
        }
        Err(_) => {
            let _ = catch_unwind(AssertUnwindSafe(move || drop(future)));
            Err(Panicked)
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A future that counts its polls and finishes on poll `ready_at`.
    fn counting(polls: Arc<AtomicUsize>, ready_at: usize) -> EventFuture {
        Box::pin(std::future::poll_fn(move |cx| {
            if polls.fetch_add(1, Ordering::SeqCst) + 1 >= ready_at {
                Poll::Ready(())
            } else {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }))
    }

    #[tokio::test]
    async fn an_event_that_does_not_wait_is_done_before_the_call_returns() {
        let polls = Arc::new(AtomicUsize::new(0));
        assert!(run_now_or_spawn(counting(polls.clone(), 1)).is_ok());
        assert_eq!(polls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_event_that_waits_goes_on_in_a_task_of_its_own() {
        let polls = Arc::new(AtomicUsize::new(0));
        let (done, finished) = tokio::sync::oneshot::channel();
        let waits = counting(polls.clone(), 3);
        assert!(
            run_now_or_spawn(Box::pin(async move {
                waits.await;
                let _ = done.send(());
            }))
            .is_ok()
        );
        // Polled once here, not finished: the spawned task polls it to the end.
        assert_eq!(polls.load(Ordering::SeqCst), 1);
        tokio::time::timeout(std::time::Duration::from_secs(10), finished)
            .await
            .expect("the spawned event finished")
            .expect("it sent its result");
        assert_eq!(polls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_panicking_event_is_reported_and_the_next_one_runs() {
        let panics: EventFuture = Box::pin(async { panic!("an event's handling panics") });
        assert!(run_now_or_spawn(panics).is_err());
        let polls = Arc::new(AtomicUsize::new(0));
        assert!(run_now_or_spawn(counting(polls.clone(), 1)).is_ok());
        assert_eq!(polls.load(Ordering::SeqCst), 1);
    }

    /// Thousands of events read in one go are not all handled in one poll of the reader: past
    /// the task's budget they are spawned, and every one of them is still handled.
    #[tokio::test]
    async fn past_the_tasks_budget_events_are_spawned() {
        const EVENTS: usize = 1_000;
        let inline = Arc::new(AtomicUsize::new(0));
        let (done, mut finished) = tokio::sync::mpsc::channel(EVENTS);
        let reader = tokio::spawn({
            let inline = inline.clone();
            async move {
                // One poll of this task, as a reader's handling of one read.
                for _ in 0..EVENTS {
                    let ran = Arc::new(AtomicUsize::new(0));
                    let done = done.clone();
                    let event = Box::pin({
                        let ran = ran.clone();
                        async move {
                            ran.fetch_add(1, Ordering::SeqCst);
                            let _ = done.send(()).await;
                        }
                    });
                    assert!(run_now_or_spawn(event).is_ok());
                    inline.fetch_add(ran.load(Ordering::SeqCst), Ordering::SeqCst);
                }
            }
        });
        reader.await.expect("the reader ran");
        let handled_here = inline.load(Ordering::SeqCst);
        assert!(
            (1..EVENTS).contains(&handled_here),
            "{handled_here} of {EVENTS} events handled in the reader's one poll"
        );
        for _ in 0..EVENTS {
            tokio::time::timeout(std::time::Duration::from_secs(10), finished.recv())
                .await
                .expect("every event is handled")
                .expect("the channel is open");
        }
    }
}
