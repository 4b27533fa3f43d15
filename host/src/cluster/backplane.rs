//! The pub/sub link between iohost nodes, as socketioxide-redis's `Driver`: nothing at all on a
//! single node (`Local`), Redis pub/sub in a cluster. The Redis side runs on a redis-rs
//! `ConnectionManager`: when Redis goes away it reconnects with exponential backoff and
//! subscribes again to every channel, so cross-node delivery resumes by itself.
//!
//! While Redis is unreachable the backplane reports itself down and publishes nothing, so
//! broadcasts still reach this node's sockets at once (socketioxide-redis would otherwise fail
//! the whole broadcast, local delivery included) and queries count only this node.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, PushInfo, PushKind, RedisError, Value};
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use tokio::sync::mpsc;

/// channel -> where its messages go (the adapter's stream for it).
type Subscribers = Arc<RwLock<HashMap<String, mpsc::Sender<ChanItem>>>>;

#[derive(Clone)]
pub enum Backplane {
    /// One node: broadcasts stay local, no other server ever answers.
    Local,
    Redis(RedisBackplane),
}

impl std::fmt::Debug for Backplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Local => "Backplane::Local",
            Self::Redis(_) => "Backplane::Redis",
        })
    }
}

#[derive(Clone)]
pub struct RedisBackplane {
    conn: ConnectionManager,
    subscribers: Subscribers,
    /// False from a failed Redis call until a ping succeeds again.
    up: Arc<AtomicBool>,
    /// Messages for the other nodes, published in order by one task: a broadcast never waits
    /// for Redis (its local delivery goes on at once).
    outbox: mpsc::Sender<ChanItem>,
}

/// Messages waiting to be published at most; past it (Redis too slow) new ones are dropped.
const OUTBOX: usize = 16_384;

/// How often a down backplane checks whether Redis is back.
const CHECK_EVERY: Duration = Duration::from_millis(500);

/// Hands a pub/sub message to the stream subscribed to its channel. A full stream drops the
/// message (the adapter is behind; socketioxide's own policy for its streams).
fn route(push: PushInfo, subscribers: &Subscribers) {
    if push.kind != PushKind::Message {
        return;
    }
    let mut data = push.data.into_iter();
    let (Some(Value::BulkString(channel)), Some(Value::BulkString(payload))) =
        (data.next(), data.next())
    else {
        return;
    };
    let Ok(channel) = String::from_utf8(channel) else {
        return;
    };
    let sender = subscribers
        .read()
        .ok()
        .and_then(|s| s.get(&channel).cloned());
    if let Some(sender) = sender
        && sender.try_send((channel, payload)).is_err()
    {
        tracing::warn!("cluster message dropped: the adapter's stream is full or closed");
    }
}

impl RedisBackplane {
    /// Connects (RESP3, needed for pub/sub pushes on a multiplexed connection).
    pub async fn connect(client: &redis::Client) -> Result<Self, RedisError> {
        let subscribers: Subscribers = Arc::default();
        let routed = subscribers.clone();
        let config = ConnectionManagerConfig::new()
            .set_push_sender(move |push: PushInfo| {
                route(push, &routed);
                Ok::<(), std::convert::Infallible>(())
            })
            .set_automatic_resubscription()
            .set_min_delay(Duration::from_millis(100))
            .set_max_delay(Duration::from_secs(5))
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)));
        let conn = ConnectionManager::new_with_config(client.clone(), config).await?;
        let (outbox, pending) = mpsc::channel(OUTBOX);
        let backplane = Self {
            conn,
            subscribers,
            up: Arc::new(AtomicBool::new(true)),
            outbox,
        };
        tokio::spawn(backplane.clone().watch());
        tokio::spawn(backplane.clone().publish_all(pending));
        Ok(backplane)
    }

    /// Publishes queued messages in order; while Redis is down they are dropped (the other
    /// nodes could not get them, and stale room emits are worse than none).
    async fn publish_all(self, mut pending: mpsc::Receiver<ChanItem>) {
        let mut conn = self.conn.clone();
        while let Some((chan, val)) = pending.recv().await {
            if !self.is_up() {
                metrics::counter!(crate::metrics::CLUSTER_DROPPED).increment(1);
                continue;
            }
            if let Err(e) = conn.publish::<_, _, Value>(chan, val).await {
                metrics::counter!(crate::metrics::CLUSTER_DROPPED).increment(1);
                self.went_down(&e);
            }
        }
    }

    /// Is Redis reachable (as of the last call or check)?
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Marks Redis unreachable (once: the first failure is logged) until a ping succeeds.
    pub fn went_down(&self, e: &dyn std::fmt::Display) {
        if self.up.swap(false, Ordering::Relaxed) {
            tracing::error!(
                "Redis is unreachable ({e}): serving this node's clients only, retrying"
            );
            metrics::gauge!(crate::metrics::CLUSTER_UP).set(0.0);
        }
    }

    /// Pings Redis while it is down; the manager reconnects and resubscribes meanwhile.
    async fn watch(self) {
        metrics::gauge!(crate::metrics::CLUSTER_UP).set(1.0);
        loop {
            tokio::time::sleep(CHECK_EVERY).await;
            let mut conn = self.conn.clone();
            let ping = redis::cmd("PING");
            let pong = tokio::time::timeout(CHECK_EVERY * 2, ping.query_async::<String>(&mut conn));
            match pong.await {
                Ok(Ok(_)) if !self.is_up() => {
                    self.up.store(true, Ordering::Relaxed);
                    metrics::gauge!(crate::metrics::CLUSTER_UP).set(1.0);
                    tracing::info!("Redis is reachable again: cross-node delivery resumes");
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => self.went_down(&e),
                Err(_) => self.went_down(&"no answer to PING within 1 s"),
            }
        }
    }

    /// Messages published on `channel`, e.g. other nodes' announcements; subscribed again
    /// after a reconnect like the adapter's channels.
    pub async fn listen(
        &self,
        channel: &str,
        capacity: usize,
    ) -> Result<mpsc::Receiver<ChanItem>, RedisError> {
        let (tx, rx) = mpsc::channel(capacity);
        if let Ok(mut subscribers) = self.subscribers.write() {
            subscribers.insert(channel.to_owned(), tx);
        }
        self.conn.clone().subscribe(channel).await?;
        Ok(rx)
    }

    /// A connection for other Redis work (the KV store, settings), sharing this one.
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cluster backplane: {0}")]
pub struct BackplaneError(#[from] RedisError);

impl Driver for Backplane {
    type Error = BackplaneError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), Self::Error> {
        match self {
            Self::Local => Ok(()),
            Self::Redis(r) => {
                if r.outbox.try_send((chan, val)).is_err() {
                    metrics::counter!(crate::metrics::CLUSTER_DROPPED).increment(1);
                    tracing::warn!(
                        "cluster message dropped: {OUTBOX} are already waiting for Redis"
                    );
                }
                Ok(())
            }
        }
    }

    async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> Result<MessageStream<ChanItem>, Self::Error> {
        match self {
            Self::Local => Ok(MessageStream::new_empty()),
            Self::Redis(r) => {
                // Registered before subscribing: nothing published right after is missed.
                let (tx, rx) = mpsc::channel(size);
                if let Ok(mut subscribers) = r.subscribers.write() {
                    subscribers.insert(chan.clone(), tx);
                }
                if let Err(e) = r.conn.clone().subscribe(chan.as_str()).await {
                    r.went_down(&e);
                    return Err(e.into());
                }
                Ok(MessageStream::new(rx))
            }
        }
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), Self::Error> {
        match self {
            Self::Local => Ok(()),
            Self::Redis(r) => {
                if let Ok(mut subscribers) = r.subscribers.write() {
                    subscribers.remove(&chan);
                }
                r.conn.clone().unsubscribe(chan).await?;
                Ok(())
            }
        }
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, Self::Error> {
        match self {
            // Only this node: the adapter then waits for no remote answer.
            Self::Local => Ok(1),
            Self::Redis(r) if r.is_up() => {
                let answer: Result<(String, u16), RedisError> = redis::cmd("PUBSUB")
                    .arg("NUMSUB")
                    .arg(chan)
                    .query_async(&mut r.conn.clone())
                    .await;
                match answer {
                    Ok((_, count)) => Ok(count.max(1)),
                    Err(e) => {
                        r.went_down(&e);
                        Ok(1)
                    }
                }
            }
            Self::Redis(_) => Ok(1),
        }
    }
}
