//! Every client event enters here: first the handler chain, then the built-in events.

use socketioxide::SocketIo;
use socketioxide::extract::{Data, State};

use super::reply::Reply;
use super::{SharedRef, builtins};
use crate::handlers::Verdict;
use crate::model::Args;

pub async fn on_event(
    State(shared): State<SharedRef>,
    io: SocketIo,
    reply: Reply,
    Data(args): Data<Args>,
) {
    match shared
        .runtime
        .on_event(reply.socket(), reply.event(), &args)
        .await
    {
        Verdict::Pass => builtins::run(&shared, &io, reply, &args),
        Verdict::Handled(ack) => reply.ok(&ack.unwrap_or_default()),
        Verdict::Rejected(reason) | Verdict::Failed(reason) => reply.fail(reason),
    }
}
