//! What one client address, and everyone together, may hold at the edge: open TCP connections
//! (in total and per address), new connections per second per address (a token bucket), and
//! Engine.IO sessions that have not joined a namespace yet (in total and per address; each
//! waits at most `server.connect_timeout_ms`, then Engine.IO closes it).
//!
//! Addresses behind a trusted proxy are the proxy's at the TCP level (only the total applies to
//! its connections); their sessions are counted under the forwarded client address.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::address::Proxies;
use crate::model::limit_key;

/// The limits, from `[server]`.
#[derive(Debug, Clone)]
pub struct GateLimits {
    pub max_tcp_connections: usize,
    pub max_connections_per_address: usize,
    pub connect_rate_per_address: f64,
    pub connect_burst_per_address: f64,
    pub max_pending_sessions: usize,
    pub max_pending_sessions_per_address: usize,
    /// How long a session may wait to join a namespace (`server.connect_timeout_ms`).
    pub session_window: Duration,
}

/// Why a connection or a session was refused; the text reaches the client.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("iohost is at its connection limit (server.max_tcp_connections = {0}), try again")]
    Connections(usize),
    #[error("too many connections from your address (server.max_connections_per_address = {0})")]
    ConnectionsPerAddress(usize),
    #[error(
        "connecting too fast from your address (server.connect_rate_per_address = {0} a second)"
    )]
    ConnectRate(f64),
    #[error(
        "too many Socket.IO sessions are waiting to join a namespace (server.max_pending_sessions = {0}), try again"
    )]
    Sessions(usize),
    #[error(
        "too many Socket.IO sessions from your address are waiting to join a namespace (server.max_pending_sessions_per_address = {0})"
    )]
    SessionsPerAddress(usize),
    #[error("iohost is shutting down: connect to another node, or to this one once it is back")]
    ShuttingDown,
}

impl Refusal {
    /// The label it is counted under in `iohost_edge_refused_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Connections(_) => "connections",
            Self::ConnectionsPerAddress(_) => "connections_per_address",
            Self::ConnectRate(_) => "connect_rate",
            Self::Sessions(_) => "sessions",
            Self::SessionsPerAddress(_) => "sessions_per_address",
            Self::ShuttingDown => "shutting_down",
        }
    }

    /// 503 when the server as a whole is full or stopping, 429 when this client asks too much.
    pub fn status(&self) -> u16 {
        match self {
            Self::Connections(_) | Self::Sessions(_) | Self::ShuttingDown => 503,
            _ => 429,
        }
    }
}

impl From<&crate::config::ServerConfig> for GateLimits {
    fn from(s: &crate::config::ServerConfig) -> Self {
        Self {
            max_tcp_connections: s.max_tcp_connections,
            max_connections_per_address: s.max_connections_per_address,
            connect_rate_per_address: f64::from(s.connect_rate_per_address),
            connect_burst_per_address: f64::from(s.connect_burst_per_address),
            max_pending_sessions: s.max_pending_sessions,
            max_pending_sessions_per_address: s.max_pending_sessions_per_address,
            session_window: s.connect_timeout(),
        }
    }
}

/// A token bucket: `burst` tokens, refilled at `rate` a second.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(burst: f64, now: Instant) -> Self {
        Self {
            tokens: burst,
            at: now,
        }
    }

    fn refill(&mut self, rate: f64, burst: f64, now: Instant) {
        let earned = now.saturating_duration_since(self.at).as_secs_f64() * rate;
        self.tokens = (self.tokens + earned).min(burst);
        self.at = now;
    }

    fn take(&mut self, rate: f64, burst: f64, now: Instant) -> bool {
        self.refill(rate, burst, now);
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

/// What one address holds.
#[derive(Debug)]
struct Peer {
    open: usize,
    connects: Bucket,
    /// When each of its sessions that joined no namespace yet was opened, oldest first.
    pending: VecDeque<Instant>,
}

impl Peer {
    /// Forgets sessions older than `window` (Engine.IO closed them).
    fn expire(&mut self, window: Duration, now: Instant) -> usize {
        let before = self.pending.len();
        while self
            .pending
            .front()
            .is_some_and(|at| now.saturating_duration_since(*at) >= window)
        {
            self.pending.pop_front();
        }
        before - self.pending.len()
    }
}

#[derive(Debug)]
struct Peers {
    map: HashMap<IpAddr, Peer>,
    swept: Instant,
}

#[derive(Debug)]
pub struct Gate {
    limits: GateLimits,
    proxies: Proxies,
    open: AtomicUsize,
    pending: AtomicUsize,
    peers: Mutex<Peers>,
    /// Set when shutdown begins: every new connection is refused from then on.
    closed: AtomicBool,
}

/// One admitted TCP connection; frees its place when dropped (when the connection, upgraded
/// or not, is gone).
#[derive(Debug)]
pub struct Permit {
    gate: Arc<Gate>,
    /// The address it counts under, if it counts under one (not a trusted proxy).
    key: Option<IpAddr>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.gate.open.fetch_sub(1, Ordering::AcqRel);
        metrics::gauge!(crate::metrics::TCP_CONNECTIONS).decrement(1.0);
        if let (Some(key), Ok(mut peers)) = (self.key, self.gate.peers.lock())
            && let Some(peer) = peers.map.get_mut(&key)
        {
            peer.open = peer.open.saturating_sub(1);
        }
    }
}

/// How often the address table is swept of addresses that hold nothing.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

impl Gate {
    pub fn new(limits: GateLimits, proxies: Proxies) -> Self {
        Self {
            limits,
            proxies,
            open: AtomicUsize::new(0),
            pending: AtomicUsize::new(0),
            peers: Mutex::new(Peers {
                map: HashMap::new(),
                swept: Instant::now(),
            }),
            closed: AtomicBool::new(false),
        }
    }

    /// Shutdown has begun: refuse every new connection (503) while the open ones finish.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }

    pub fn proxies(&self) -> &Proxies {
        &self.proxies
    }

    /// TCP connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Lets a new TCP connection from `peer` in, or says why not.
    pub fn admit_connection(self: &Arc<Self>, peer: IpAddr) -> Result<Permit, Refusal> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(Refusal::ShuttingDown);
        }
        let limits = &self.limits;
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limits.max_tcp_connections).then_some(n + 1)
            })
            .map_err(|_| Refusal::Connections(limits.max_tcp_connections))?;
        // From here on the permit frees the place whatever happens.
        let mut permit = Permit {
            gate: self.clone(),
            key: None,
        };
        metrics::gauge!(crate::metrics::TCP_CONNECTIONS).increment(1.0);
        if self.proxies.trusts(peer) {
            return Ok(permit);
        }
        let key = limit_key(peer);
        let now = Instant::now();
        let mut peers = self
            .peers
            .lock()
            .map_err(|_| Refusal::Connections(limits.max_tcp_connections))?;
        self.sweep(&mut peers, now);
        let peer = peers.map.entry(key).or_insert_with(|| Peer {
            open: 0,
            connects: Bucket::full(limits.connect_burst_per_address, now),
            pending: VecDeque::new(),
        });
        if peer.open >= limits.max_connections_per_address {
            return Err(Refusal::ConnectionsPerAddress(
                limits.max_connections_per_address,
            ));
        }
        if !peer.connects.take(
            limits.connect_rate_per_address,
            limits.connect_burst_per_address,
            now,
        ) {
            return Err(Refusal::ConnectRate(limits.connect_rate_per_address));
        }
        peer.open += 1;
        permit.key = Some(key);
        Ok(permit)
    }

    /// Lets `client` open a new Engine.IO session, or says why not. It counts as waiting until
    /// it joins a namespace ([`Self::session_joined`]) or `connect_timeout_ms` passes.
    pub fn admit_session(&self, client: IpAddr) -> Result<(), Refusal> {
        let limits = &self.limits;
        let now = Instant::now();
        let mut peers = self
            .peers
            .lock()
            .map_err(|_| Refusal::Sessions(limits.max_pending_sessions))?;
        // Behind a trusted proxy no connection is counted per address: sweep from here too.
        self.sweep(&mut peers, now);
        if self.pending.load(Ordering::Acquire) >= limits.max_pending_sessions {
            // The total counts sessions of addresses not seen since: expire them all first.
            let expired: usize = peers
                .map
                .values_mut()
                .map(|p| p.expire(limits.session_window, now))
                .sum();
            self.pending.fetch_sub(expired, Ordering::AcqRel);
            if self.pending.load(Ordering::Acquire) >= limits.max_pending_sessions {
                return Err(Refusal::Sessions(limits.max_pending_sessions));
            }
        }
        let peer = peers.map.entry(limit_key(client)).or_insert_with(|| Peer {
            open: 0,
            connects: Bucket::full(limits.connect_burst_per_address, now),
            pending: VecDeque::new(),
        });
        let expired = peer.expire(limits.session_window, now);
        self.pending.fetch_sub(expired, Ordering::AcqRel);
        if peer.pending.len() >= limits.max_pending_sessions_per_address {
            return Err(Refusal::SessionsPerAddress(
                limits.max_pending_sessions_per_address,
            ));
        }
        peer.pending.push_back(now);
        self.pending.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// A session of `client` joined a namespace: it no longer waits.
    pub fn session_joined(&self, client: IpAddr) {
        if let Ok(mut peers) = self.peers.lock()
            && let Some(peer) = peers.map.get_mut(&limit_key(client))
            && peer.pending.pop_front().is_some()
        {
            self.pending.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Every [`SWEEP_EVERY`], forgets addresses that hold nothing and whose bucket is full
    /// again (keeping a drained bucket keeps a fast reconnector slowed down).
    fn sweep(&self, peers: &mut Peers, now: Instant) {
        if now.saturating_duration_since(peers.swept) < SWEEP_EVERY {
            return;
        }
        peers.swept = now;
        let limits = &self.limits;
        let mut expired = 0;
        peers.map.retain(|_, peer| {
            expired += peer.expire(limits.session_window, now);
            peer.connects.refill(
                limits.connect_rate_per_address,
                limits.connect_burst_per_address,
                now,
            );
            peer.open > 0
                || !peer.pending.is_empty()
                || peer.connects.tokens < limits.connect_burst_per_address
        });
        self.pending.fetch_sub(expired, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> GateLimits {
        GateLimits {
            max_tcp_connections: 5,
            max_connections_per_address: 3,
            connect_rate_per_address: 1.0,
            connect_burst_per_address: 4.0,
            max_pending_sessions: 4,
            max_pending_sessions_per_address: 2,
            session_window: Duration::from_millis(50),
        }
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[test]
    fn connections_are_bounded_per_address_in_total_and_in_rate() {
        let gate = Arc::new(Gate::new(limits(), Proxies::default()));
        let a: Vec<_> = (0..3)
            .map(|_| gate.admit_connection(ip(1)).expect("a"))
            .collect();
        assert_eq!(
            gate.admit_connection(ip(1)).map(|_| ()),
            Err(Refusal::ConnectionsPerAddress(3))
        );
        let b = gate.admit_connection(ip(2)).expect("b");
        let c = gate.admit_connection(ip(3)).expect("c");
        assert_eq!(gate.open(), 5);
        assert_eq!(
            gate.admit_connection(ip(4)).map(|_| ()),
            Err(Refusal::Connections(5))
        );
        drop((b, c));
        drop(a);
        assert_eq!(gate.open(), 0, "every place freed");
        // The 4th connection of address 1 within a second: its bucket (burst 4) ran dry,
        // closing the others does not refill it.
        gate.admit_connection(ip(1)).map(drop).expect("4th");
        assert_eq!(
            gate.admit_connection(ip(1)).map(|_| ()),
            Err(Refusal::ConnectRate(1.0))
        );
        let refused = Refusal::ConnectRate(1.0);
        assert_eq!((refused.status(), refused.reason()), (429, "connect_rate"));
    }

    #[test]
    fn a_closed_gate_refuses_every_new_connection_but_keeps_the_open_ones() {
        let proxy: ipnet::IpNet = "192.0.2.9/32".parse().expect("net");
        let gate = Arc::new(Gate::new(limits(), Proxies::new(vec![proxy])));
        let open = gate.admit_connection(ip(1)).expect("before the close");
        gate.close();
        for peer in [ip(1), ip(2), ip(9)] {
            let refused = gate.admit_connection(peer).map(|_| ());
            assert_eq!(refused, Err(Refusal::ShuttingDown), "{peer}");
        }
        assert_eq!(Refusal::ShuttingDown.status(), 503);
        assert_eq!(
            gate.open.load(Ordering::SeqCst),
            1,
            "only the one let in before"
        );
        drop(open);
        assert_eq!(gate.open.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn trusted_proxies_count_only_towards_the_total() {
        let proxy: ipnet::IpNet = "192.0.2.9/32".parse().expect("net");
        let gate = Arc::new(Gate::new(limits(), Proxies::new(vec![proxy])));
        let held: Vec<_> = (0..5)
            .map(|_| gate.admit_connection(ip(9)).expect("proxy"))
            .collect();
        assert_eq!(held.len(), 5);
        assert!(
            gate.admit_connection(ip(9)).is_err(),
            "the total still holds"
        );
    }

    #[test]
    fn sessions_that_join_no_namespace_are_bounded_until_they_expire() {
        let gate = Gate::new(limits(), Proxies::default());
        gate.admit_session(ip(1)).expect("1");
        gate.admit_session(ip(1)).expect("2");
        assert_eq!(
            gate.admit_session(ip(1)),
            Err(Refusal::SessionsPerAddress(2))
        );
        gate.session_joined(ip(1));
        gate.admit_session(ip(1)).expect("one joined: room again");
        gate.admit_session(ip(2)).expect("3");
        gate.admit_session(ip(3)).expect("4");
        assert_eq!(gate.admit_session(ip(4)), Err(Refusal::Sessions(4)));
        std::thread::sleep(Duration::from_millis(60));
        gate.admit_session(ip(4))
            .expect("the others expired: Engine.IO closed them");
        assert_eq!(gate.pending.load(Ordering::Acquire), 1);
    }
}
