//! A request body must arrive whole within `server.body_timeout_ms` (a polling POST trickled a
//! byte at a time would otherwise hold its connection and buffer for as long as it likes).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub struct Deadline<B> {
    inner: B,
    sleep: Pin<Box<Sleep>>,
    limit: Duration,
}

impl<B> Deadline<B> {
    pub fn new(inner: B, limit: Duration) -> Self {
        Self {
            inner,
            sleep: Box::pin(tokio::time::sleep(limit)),
            limit,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0} ms (server.body_timeout_ms)")]
pub struct TooSlow(u128);

impl<B> Body for Deadline<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if this.sleep.as_mut().poll(cx).is_ready() {
            metrics::counter!(crate::metrics::EDGE_TIMEOUTS, "kind" => "body").increment(1);
            return Poll::Ready(Some(Err(TooSlow(this.limit.as_millis()).into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
