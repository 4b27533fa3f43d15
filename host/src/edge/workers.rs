//! Which runtime a connection runs on. With `server.scheduler = "per-core"` iohost runs one
//! single-threaded runtime per core (the accept loop's own and one per further core), and each
//! accepted connection goes to the runtime with the fewest open connections. Everything the
//! connection starts (its socket's reader and writer, the handler calls of its events) is
//! spawned there too and stays there: no task moves between cores, so an event costs no
//! work-stealing bookkeeping; an emit to a socket on another runtime wakes that runtime.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::TcpStream;
use tokio::runtime::Handle;

/// The runtimes connections are spread over. The default is the accept loop's runtime alone.
#[derive(Clone)]
pub struct Workers {
    inner: Arc<Inner>,
}

impl Default for Workers {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

struct Inner {
    /// Runtimes besides the accept loop's; connection `i > 0` runs on `others[i - 1]`.
    others: Vec<Handle>,
    /// Open connections per runtime, the accept loop's first.
    open: Vec<AtomicUsize>,
}

impl Workers {
    /// The accept loop's runtime and `others`.
    pub fn new(others: Vec<Handle>) -> Self {
        let open = (0..=others.len()).map(|_| AtomicUsize::new(0)).collect();
        Self {
            inner: Arc::new(Inner { others, open }),
        }
    }

    /// Runs `serve(tcp)` on the runtime with the fewest open connections. `tcp` was accepted
    /// on the caller's runtime; another runtime takes it over (its reactor then watches it).
    pub fn spawn<S, F>(&self, tcp: TcpStream, serve: S)
    where
        S: FnOnce(TcpStream) -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        // One runtime (the default, "work-stealing"): nothing to choose, nothing to count.
        if self.inner.others.is_empty() {
            tokio::spawn(serve(tcp));
            return;
        }
        let chosen = self.least_busy();
        let counted = Counted::new(self.inner.clone(), chosen);
        let Some(runtime) = chosen.checked_sub(1).map(|i| &self.inner.others[i]) else {
            tokio::spawn(async move {
                serve(tcp).await;
                drop(counted);
            });
            return;
        };
        let tcp = match tcp.into_std() {
            Ok(tcp) => tcp,
            Err(e) => {
                tracing::debug!("cannot hand a connection to another runtime: {e}");
                return;
            }
        };
        runtime.spawn(async move {
            match TcpStream::from_std(tcp) {
                Ok(tcp) => serve(tcp).await,
                Err(e) => tracing::debug!("cannot take over a connection: {e}"),
            }
            drop(counted);
        });
    }

    fn least_busy(&self) -> usize {
        let open = &self.inner.open;
        (0..open.len())
            .min_by_key(|&i| open[i].load(Ordering::Relaxed))
            .unwrap_or(0)
    }
}

/// One open connection counted against its runtime until dropped.
struct Counted {
    inner: Arc<Inner>,
    runtime: usize,
}

impl Counted {
    fn new(inner: Arc<Inner>, runtime: usize) -> Self {
        inner.open[runtime].fetch_add(1, Ordering::Relaxed);
        Self { inner, runtime }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.inner.open[self.runtime].fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default serves every connection on the accept loop's runtime.
    #[tokio::test]
    async fn by_default_serves_on_the_accept_loops_runtime() {
        let workers = Workers::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("listen");
        let _client = TcpStream::connect(listener.local_addr().expect("address"))
            .await
            .expect("connect");
        let (tcp, _) = listener.accept().await.expect("accept");
        let (served, done) = tokio::sync::oneshot::channel();
        workers.spawn(tcp, move |_tcp| async move {
            let _ = served.send(std::thread::current().id());
        });
        assert_eq!(done.await.expect("served"), std::thread::current().id());
        assert_eq!(
            workers.inner.open[0].load(Ordering::Relaxed),
            0,
            "nothing counted with one runtime"
        );
    }

    /// Connections go to the runtime with the fewest open ones, and each is served on the
    /// runtime it was given (its reads and writes work there).
    #[test]
    fn spreads_connections_over_runtimes_and_serves_them_there() {
        let extra: Vec<_> = (0..2)
            .map(|_| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                let handle = rt.handle().clone();
                let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
                let thread = std::thread::spawn(move || {
                    let _ = rt.block_on(stopped);
                });
                (handle, stop, thread)
            })
            .collect();
        let main = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let workers = Workers::new(extra.iter().map(|(h, _, _)| h.clone()).collect());
        let served_on = main.block_on(async {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("listen");
            let addr = listener.local_addr().expect("address");
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let mut clients = Vec::new();
            for _ in 0..6 {
                let mut client = TcpStream::connect(addr).await.expect("connect");
                let (tcp, _) = listener.accept().await.expect("accept");
                let tx = tx.clone();
                workers.spawn(tcp, move |mut tcp| async move {
                    let thread = std::thread::current().id();
                    let mut byte = [0];
                    if tcp.read_exact(&mut byte).await.is_ok() {
                        let _ = tcp.write_all(&byte).await;
                    }
                    let _ = tx.send(thread);
                    // Held open until the test ends: the count stays.
                    std::future::pending::<()>().await;
                });
                client.write_all(b"x").await.expect("write");
                let mut echo = [0];
                client.read_exact(&mut echo).await.expect("echo");
                assert_eq!(&echo, b"x");
                clients.push(client);
            }
            let mut threads = Vec::new();
            for _ in 0..6 {
                threads.push(rx.recv().await.expect("served"));
            }
            threads
        });
        let counts: Vec<usize> = (0..3)
            .map(|i| workers.inner.open[i].load(Ordering::Relaxed))
            .collect();
        assert_eq!(counts, [2, 2, 2]);
        let distinct: std::collections::HashSet<_> = served_on.iter().collect();
        assert_eq!(
            distinct.len(),
            3,
            "served on the accept loop's thread and two others"
        );
        for (_, stop, thread) in extra {
            let _ = stop.send(());
            let _ = thread.join();
        }
    }
}
