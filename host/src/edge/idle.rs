//! A connection that goes quiet is closed: no byte read or written for `server.idle_timeout_ms`
//! (a half-sent request, a keep-alive connection nobody uses, a reader that stopped reading).
//! Socket.IO's heartbeat keeps live connections busy: a websocket sees a ping every
//! `ping_interval_ms`, a long-poll is answered within it. While a request is being answered
//! the connection is not quiet, however long the answer takes (hyper watches the socket for
//! the client going away meanwhile). The connection's [`Permit`] lives here, so its place is
//! freed whenever the connection goes, upgraded to a websocket or not.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::gate::Permit;

pub struct Idle<T> {
    inner: T,
    timeout: Duration,
    /// Wakes the connection to check [`Self::deadline`]; moved forward lazily.
    sleep: Pin<Box<Sleep>>,
    /// Last activity + `timeout`.
    deadline: Instant,
    /// Requests of this connection being answered now.
    answering: Arc<AtomicUsize>,
    _permit: Permit,
}

/// Counts one request being answered for as long as it lives.
pub struct Answering(Arc<AtomicUsize>);

impl Answering {
    pub fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Self(count.clone())
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<T> Idle<T> {
    pub fn new(inner: T, timeout: Duration, permit: Permit, answering: Arc<AtomicUsize>) -> Self {
        let deadline = Instant::now() + timeout;
        Self {
            inner,
            timeout,
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
            deadline,
            answering,
            _permit: permit,
        }
    }

    fn active(&mut self) {
        self.deadline = Instant::now() + self.timeout;
    }

    /// Ready with an error once the connection has been quiet past its deadline.
    fn poll_quiet(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        loop {
            if self.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if self.answering.load(Ordering::Acquire) > 0 {
                self.active();
            } else if Instant::now() >= self.deadline {
                metrics::counter!(crate::metrics::EDGE_TIMEOUTS, "kind" => "idle").increment(1);
                return Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no traffic for server.idle_timeout_ms",
                ));
            }
            let deadline = self.deadline;
            self.sleep.as_mut().reset(deadline);
        }
    }
}

impl<T> Idle<T> {
    /// What a write did: bytes out are activity; a write the peer does not take counts as
    /// quiet (a client that stopped reading is closed too).
    fn wrote(
        &mut self,
        written: Poll<io::Result<usize>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        match written {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.active();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.poll_quiet(cx).map(Err),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Idle<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.active();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.poll_quiet(cx).map(Err),
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Idle<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.wrote(written, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.wrote(written, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
