//! The pub/sub link between iohost nodes, as socketioxide-redis's `Driver`: nothing at all on a
//! single node (`Local`), Redis pub/sub in a cluster. The Redis side runs on a redis-rs
//! `ConnectionManager`: when Redis goes away it reconnects with exponential backoff and
//! subscribes again to every channel, so cross-node delivery resumes by itself.
//!
//! Behind Sentinel ([`Target::Sentinel`]) the link also asks the Sentinels every
//! [`CHECK_EVERY`] which server is the master; when they name another one (a failover), it
//! connects there, subscribes again to every channel and swaps the new connection in for
//! everything that uses Redis (the KV store and the settings take [`Connection::current`] per
//! operation).
//!
//! While Redis is unreachable the backplane reports itself down and holds what it would publish
//! (for [`HOLD`] at most), so broadcasts still reach this node's sockets at once
//! (socketioxide-redis would otherwise fail the whole broadcast, local delivery included),
//! reach the other nodes once Redis is back, and queries count only this node.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::sentinel::SentinelClient;
use redis::{AsyncCommands, ConnectionAddr, PushInfo, PushKind, RedisError, Value};
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

/// Where the cluster's Redis is.
pub enum Target {
    /// One server.
    Single(redis::Client),
    /// The master a set of Sentinels names, followed through failovers.
    Sentinel {
        /// The Sentinels, asked in order.
        sentinels: Vec<redis::Client>,
        /// The master's name in the Sentinels' configuration.
        master: String,
        /// Finds the master and checks its role (a server that says it is a replica is not
        /// used).
        client: SentinelClient,
    },
}

/// The connection to the cluster's Redis: replaced whole when the Sentinels name another
/// master, so users take the [`current`](Self::current) one for each operation.
#[derive(Clone)]
pub struct Connection(Arc<ArcSwap<ConnectionManager>>);

impl Connection {
    /// A connection that is never replaced (one server).
    pub fn fixed(conn: ConnectionManager) -> Self {
        Self(Arc::new(ArcSwap::from_pointee(conn)))
    }

    pub fn current(&self) -> ConnectionManager {
        self.0.load().as_ref().clone()
    }

    fn replace(&self, conn: ConnectionManager) {
        self.0.store(Arc::new(conn));
    }
}

/// What following the Sentinels needs.
struct Follow {
    sentinels: Vec<redis::Client>,
    master: String,
    client: tokio::sync::Mutex<SentinelClient>,
    /// The master in use, as `host:port`.
    current: std::sync::Mutex<String>,
}

/// Messages for the other nodes not published yet, oldest first.
struct Held {
    messages: VecDeque<(Instant, ChanItem)>,
    /// How many nodes received the last message on each channel.
    receivers: HashMap<String, i64>,
    /// The outages seen so far, and when publishing resumed after the last one.
    outages_seen: u64,
    back_since: Instant,
}

impl Default for Held {
    fn default() -> Self {
        Self {
            messages: VecDeque::new(),
            receivers: HashMap::new(),
            outages_seen: 0,
            // Nothing to wait for at start: no receivers are known yet.
            back_since: Instant::now(),
        }
    }
}

impl Held {
    /// Drops what waited longer than [`HOLD`]; how many.
    fn drop_stale(&mut self) -> usize {
        let stale = self
            .messages
            .iter()
            .take_while(|(at, _)| at.elapsed() > HOLD)
            .count();
        if stale > 0 {
            self.messages.drain(..stale);
            metrics::counter!(crate::metrics::CLUSTER_DROPPED).increment(stale as u64);
            tracing::warn!(
                stale,
                "cluster messages dropped: Redis was unreachable for over {} s",
                HOLD.as_secs()
            );
        }
        stale
    }
}

#[derive(Clone)]
pub struct RedisBackplane {
    conn: Connection,
    subscribers: Subscribers,
    /// False from a failed Redis call until a ping succeeds again.
    up: Arc<AtomicBool>,
    /// How many times Redis went down.
    outages: Arc<AtomicU64>,
    /// Messages queued for the other nodes and not yet published (or dropped).
    unpublished: Arc<AtomicUsize>,
    /// Messages for the other nodes, published in order by one task: a broadcast never waits
    /// for Redis (its local delivery goes on at once).
    outbox: mpsc::Sender<ChanItem>,
    /// Behind Sentinel: how to find the master again.
    follow: Option<Arc<Follow>>,
}

/// Messages waiting to be published at most; past it (Redis too slow) new ones are dropped.
const OUTBOX: usize = 16_384;

/// How long messages for the other nodes wait for an unreachable Redis before they are dropped.
pub const HOLD: Duration = Duration::from_secs(5);

/// How long, after an outage, held messages wait for the other nodes to subscribe again.
const SETTLE: Duration = Duration::from_secs(2);

/// How long one PUBLISH may take before Redis counts as down and the message is held.
const PUBLISH_WAIT: Duration = Duration::from_secs(1);

/// How often held messages are tried again while no new ones come.
const RETRY_HELD: Duration = Duration::from_millis(100);

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

/// The manager's settings: pushes go to the subscribers, subscriptions come back after a
/// reconnect, and Redis gets 2 s to connect or answer.
fn manager_config(subscribers: &Subscribers) -> ConnectionManagerConfig {
    let routed = subscribers.clone();
    ConnectionManagerConfig::new()
        .set_push_sender(move |push: PushInfo| {
            route(push, &routed);
            Ok::<(), std::convert::Infallible>(())
        })
        .set_automatic_resubscription()
        .set_min_delay(Duration::from_millis(100))
        .set_max_delay(Duration::from_secs(5))
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)))
}

/// `host:port` of a client's server.
fn address_of(client: &redis::Client) -> String {
    match client.get_connection_info().addr() {
        ConnectionAddr::Tcp(host, port) => format!("{host}:{port}"),
        other => other.to_string(),
    }
}

impl RedisBackplane {
    /// Connects (RESP3, needed for pub/sub pushes on a multiplexed connection) to the server,
    /// or to the master the Sentinels name.
    pub async fn connect(target: Target) -> Result<Self, RedisError> {
        let subscribers: Subscribers = Arc::default();
        let (client, follow) = match target {
            Target::Single(client) => (client, None),
            Target::Sentinel {
                sentinels,
                master,
                mut client,
            } => {
                let found = client.async_get_client().await?;
                let follow = Follow {
                    sentinels,
                    master,
                    client: tokio::sync::Mutex::new(client),
                    current: std::sync::Mutex::new(address_of(&found)),
                };
                tracing::info!(
                    master = address_of(&found),
                    "the Sentinels name this master"
                );
                (found, Some(Arc::new(follow)))
            }
        };
        let conn = ConnectionManager::new_with_config(client, manager_config(&subscribers)).await?;
        let (outbox, pending) = mpsc::channel(OUTBOX);
        let backplane = Self {
            conn: Connection::fixed(conn),
            subscribers,
            up: Arc::new(AtomicBool::new(true)),
            outages: Arc::default(),
            unpublished: Arc::default(),
            outbox,
            follow,
        };
        tokio::spawn(backplane.clone().watch());
        tokio::spawn(backplane.clone().publish_all(pending));
        Ok(backplane)
    }

    /// Publishes queued messages in order. While Redis is unreachable they are held, for
    /// [`HOLD`] at most, and published once it is back (after a restart or a Sentinel
    /// failover), still in order: a short outage delays cross-node delivery instead of losing
    /// it. Older ones are dropped: a stale room emit is worse than none.
    async fn publish_all(self, mut pending: mpsc::Receiver<ChanItem>) {
        let mut outbox = Held::default();
        let mut retry = tokio::time::interval(RETRY_HELD);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                next = pending.recv() => match next {
                    Some(item) => outbox.messages.push_back((Instant::now(), item)),
                    None => return,
                },
                _ = retry.tick(), if !outbox.messages.is_empty() => {}
            }
            let dropped = outbox.drop_stale();
            self.unpublished.fetch_sub(dropped, Ordering::Relaxed);
            while self.is_up() && !outbox.messages.is_empty() {
                if !self.publish_front(&mut outbox).await {
                    break;
                }
            }
        }
    }

    /// Publishes the oldest held message; false when it must wait for the next try.
    async fn publish_front(&self, outbox: &mut Held) -> bool {
        let Some((_, (chan, val))) = outbox.messages.front() else {
            return false;
        };
        let mut conn = self.conn.current();
        // Just back from an outage: the other nodes subscribe again each at its own pace (a
        // reconnect, or their own move to a new master), and a message published before they
        // have is lost for them. Wait until the channel has as many receivers as before, for
        // SETTLE at most (a node may be gone for good).
        let outages = self.outages.load(Ordering::Relaxed);
        if outbox.outages_seen != outages {
            outbox.outages_seen = outages;
            outbox.back_since = Instant::now();
        }
        let back_since = outbox.back_since;
        let before = outbox.receivers.get(chan).copied().unwrap_or(0);
        if before > 0 && back_since.elapsed() < SETTLE {
            let mut numsub = redis::cmd("PUBSUB");
            numsub.arg("NUMSUB").arg(chan.as_str());
            let asked = numsub.query_async::<(String, i64)>(&mut conn);
            match self.bounded("PUBSUB", asked).await {
                Some((_, now)) if now >= before => {}
                _ => return false,
            }
        }
        // Bounded: a connection to a dead master can keep reconnecting for many seconds, and
        // the held messages must go to the next master meanwhile. On failure the message is
        // kept for the next try once Redis is back.
        let publish = conn.publish::<_, _, i64>(chan.as_str(), val.as_slice());
        let Some(received) = self.bounded("PUBLISH", publish).await else {
            return false;
        };
        let chan = chan.clone();
        outbox.messages.pop_front();
        self.unpublished.fetch_sub(1, Ordering::Relaxed);
        outbox.receivers.insert(chan, received);
        true
    }

    /// Is Redis reachable (as of the last call or check)?
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Marks Redis unreachable (once: the first failure is logged) until a ping succeeds.
    pub fn went_down(&self, e: &dyn std::fmt::Display) {
        if self.up.swap(false, Ordering::Relaxed) {
            self.outages.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                "Redis is unreachable ({e}): serving this node's clients only, retrying"
            );
            metrics::gauge!(crate::metrics::CLUSTER_UP).set(0.0);
        }
    }

    /// Pings Redis while it is down; the manager reconnects and resubscribes meanwhile.
    /// Behind Sentinel, also asks which server is the master and follows it when it changes.
    async fn watch(self) {
        metrics::gauge!(crate::metrics::CLUSTER_UP).set(1.0);
        let mut sentinel = None;
        loop {
            tokio::time::sleep(CHECK_EVERY).await;
            if let Some(follow) = &self.follow {
                self.follow_master(follow, &mut sentinel).await;
            }
            let mut conn = self.conn.current();
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

    /// Asks a Sentinel which server is the master; when it is not the one in use, connects
    /// there, subscribes again to every channel and swaps the connection in.
    async fn follow_master(&self, follow: &Follow, sentinel: &mut Option<MultiplexedConnection>) {
        let Some(named) = master_named(follow, sentinel).await else {
            return;
        };
        let current = follow.current.lock().map(|c| c.clone()).unwrap_or_default();
        if named == current {
            return;
        }
        // The master the Sentinels name, its role checked (a failover may still be under way).
        let found = {
            let mut client = follow.client.lock().await;
            tokio::time::timeout(CHECK_EVERY * 2, client.async_get_client()).await
        };
        let client = match found {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => {
                tracing::warn!(
                    named,
                    "the Sentinels name a new master, not usable yet: {e}"
                );
                return;
            }
            Err(_) => return,
        };
        let address = address_of(&client);
        let config = manager_config(&self.subscribers);
        let connect = ConnectionManager::new_with_config(client, config);
        let conn = match tokio::time::timeout(CHECK_EVERY * 4, connect).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => {
                tracing::warn!(address, "cannot connect to the new master yet: {e}");
                return;
            }
            Err(_) => return,
        };
        self.conn.replace(conn.clone());
        let channels: Vec<String> = self
            .subscribers
            .read()
            .map(|s| s.keys().cloned().collect())
            .unwrap_or_default();
        for channel in channels {
            if let Err(e) = conn.clone().subscribe(channel.as_str()).await {
                tracing::warn!(channel, "cannot subscribe again on the new master: {e}");
            }
        }
        if let Ok(mut current) = follow.current.lock() {
            current.clone_from(&address);
        }
        tracing::warn!(
            from = current,
            to = address,
            "Redis master changed (Sentinel failover): following it"
        );
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
        self.conn.current().subscribe(channel).await?;
        Ok(rx)
    }

    /// The connection for other Redis work (the settings), as of now.
    pub fn connection(&self) -> ConnectionManager {
        self.conn.current()
    }

    /// The connection, following the master through failovers (the KV store).
    pub fn shared_connection(&self) -> Connection {
        self.conn.clone()
    }
}

/// What [`Backplane::claim`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key was free: this node holds it now.
    Mine,
    /// Another claim holds it, with this value.
    Taken(String),
}

impl Backplane {
    /// Claims `key` for the whole cluster with `value`, for `ttl` (Redis `SET NX PX`, then
    /// `GET` when it is taken). Alone, or while Redis is unreachable, `None`: the caller
    /// decides with what this node remembers.
    pub async fn claim(&self, key: &str, value: &str, ttl: Duration) -> Option<Claim> {
        let r = self.reachable()?;
        let mut conn = r.conn.current();
        let mut set = redis::cmd("SET");
        set.arg(key)
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis() as u64);
        if r.bounded("SET", set.query_async::<Option<String>>(&mut conn))
            .await?
            .is_some()
        {
            return Some(Claim::Mine);
        }
        let mut get = redis::cmd("GET");
        get.arg(key);
        let held = r
            .bounded("GET", get.query_async::<Option<String>>(&mut conn))
            .await?;
        // Expired between the two calls: free again, but one try is enough.
        Some(Claim::Taken(held.unwrap_or_default()))
    }

    /// Sets `key` to `value` for `ttl`, whoever held it; false if Redis did not take it.
    pub async fn overwrite(&self, key: &str, value: &str, ttl: Duration) -> bool {
        let Some(r) = self.reachable() else {
            return false;
        };
        let mut conn = r.conn.current();
        let mut set = redis::cmd("SET");
        set.arg(key)
            .arg(value)
            .arg("PX")
            .arg(ttl.as_millis() as u64);
        r.bounded("SET", set.query_async::<Option<String>>(&mut conn))
            .await
            .is_some()
    }

    /// Waits until the messages queued for the other nodes are published, `within` at most
    /// (a stopping node's last emits, which would otherwise go down with it); false if some
    /// were still waiting.
    pub async fn flush(&self, within: Duration) -> bool {
        let Self::Redis(r) = self else {
            return true;
        };
        let deadline = Instant::now() + within;
        while r.unpublished.load(Ordering::Relaxed) > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    fn reachable(&self) -> Option<&RedisBackplane> {
        match self {
            Self::Redis(r) if r.is_up() => Some(r),
            _ => None,
        }
    }
}

impl RedisBackplane {
    /// Redis command `what`, given [`PUBLISH_WAIT`] at most; an error or no answer in time
    /// marks Redis down (the watch brings it back up with a ping).
    async fn bounded<T>(
        &self,
        what: &str,
        call: impl std::future::Future<Output = Result<T, RedisError>>,
    ) -> Option<T> {
        match tokio::time::timeout(PUBLISH_WAIT, call).await {
            Ok(Ok(answer)) => Some(answer),
            Ok(Err(e)) => {
                self.went_down(&e);
                None
            }
            Err(_) => {
                self.went_down(&format!("no answer to {what} within 1 s"));
                None
            }
        }
    }
}

/// `host:port` of the master, as the first Sentinel that answers names it.
async fn master_named(
    follow: &Follow,
    sentinel: &mut Option<MultiplexedConnection>,
) -> Option<String> {
    let deadline = CHECK_EVERY * 2;
    if sentinel.is_none() {
        for client in &follow.sentinels {
            let connect = client.get_multiplexed_async_connection();
            if let Ok(Ok(conn)) = tokio::time::timeout(deadline, connect).await {
                *sentinel = Some(conn);
                break;
            }
        }
    }
    let conn = sentinel.as_mut()?;
    let mut command = redis::cmd("SENTINEL");
    command.arg("get-master-addr-by-name").arg(&follow.master);
    let ask = command.query_async::<Option<(String, String)>>(conn);
    match tokio::time::timeout(deadline, ask).await {
        Ok(Ok(Some((host, port)))) => Some(format!("{host}:{port}")),
        Ok(Ok(None)) => None,
        // Try the next Sentinel next time.
        Ok(Err(_)) | Err(_) => {
            *sentinel = None;
            None
        }
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
                // Counted before it is queued, so the publisher never counts below zero.
                r.unpublished.fetch_add(1, Ordering::Relaxed);
                if r.outbox.try_send((chan, val)).is_err() {
                    r.unpublished.fetch_sub(1, Ordering::Relaxed);
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
                if let Err(e) = r.conn.current().subscribe(chan.as_str()).await {
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
                r.conn.current().unsubscribe(chan).await?;
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
                    .query_async(&mut r.conn.current())
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
