//! A minimal Socket.IO client over websocket (Engine.IO v4, Socket.IO v5, namespace `/`, text
//! packets only): enough to hold thousands of connections from one process cheaply.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Each connection's websocket read buffer: a read takes at most this much.
const READ_BUFFER_BYTES: usize = 4096;

/// What every client counts, shared.
pub struct Stats {
    /// `bench` events (fan-out) received.
    pub received: AtomicU64,
    /// `chat:typing` broadcasts received (handler path).
    pub typing: AtomicU64,
    base: Instant,
    /// Microseconds after `base` of the latest delivery.
    last: AtomicU64,
    latencies: LatencyLists,
    /// What the acks of [`Client::fire`]d events said.
    pub acks: AckStats,
}

/// Latencies in microseconds, one list per client (each locked only by its own task, and at
/// the end).
#[derive(Default)]
struct LatencyLists(Mutex<Vec<Arc<Mutex<Vec<u64>>>>>);

impl LatencyLists {
    /// A new client's list.
    fn add(&self) -> Arc<Mutex<Vec<u64>>> {
        let list = Arc::new(Mutex::new(Vec::new()));
        if let Ok(mut all) = self.0.lock() {
            all.push(list.clone());
        }
        list
    }

    fn all(&self) -> Vec<u64> {
        let lists = self.0.lock().map(|l| l.clone()).unwrap_or_default();
        lists
            .iter()
            .flat_map(|l| l.lock().map(|v| v.clone()).unwrap_or_default())
            .collect()
    }
}

/// Acks of fired events, counted by the connection tasks themselves (no task per event: the
/// generator must stay cheaper per event than the servers it measures).
#[derive(Default)]
pub struct AckStats {
    /// Acked with anything but `{success: false}` (echo acks with the event's arguments).
    pub ok: AtomicU64,
    pub refused: AtomicU64,
    /// Broadcasts the acks promise: the sender's peers for every ack not saying `throttled`.
    pub promised: AtomicU64,
    /// Acks that arrived while `window` was open: the rate a server keeps up with while loaded,
    /// apart from how long its last answers take after the load stops.
    pub in_window: AtomicU64,
    pub window: AtomicBool,
    latencies: LatencyLists,
    /// The slowest ack of the events sent in each tenth of a second: when a server stalled.
    pub slowest: Timeline,
}

/// The largest latency seen per tenth of a second of send time, from when it was made.
pub struct Timeline {
    base: Instant,
    tenths: Box<[AtomicU64]>,
}

impl Default for Timeline {
    fn default() -> Self {
        // Ten minutes of tenths; later sends are not kept.
        Self {
            base: Instant::now(),
            tenths: (0..6000).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Timeline {
    fn record(&self, sent: Instant, micros: u64) {
        let tenth = sent.saturating_duration_since(self.base).as_millis() / 100;
        if let Some(slot) = usize::try_from(tenth).ok().and_then(|t| self.tenths.get(t)) {
            slot.fetch_max(micros, Ordering::Relaxed);
        }
    }

    /// For each tenth of a second from `from` that saw an event: seconds since `from`, and the
    /// slowest ack in milliseconds.
    pub fn since(&self, from: Instant) -> Vec<(f64, f64)> {
        let first = from.saturating_duration_since(self.base).as_millis() / 100;
        self.tenths
            .iter()
            .enumerate()
            .skip(usize::try_from(first).unwrap_or(usize::MAX))
            .filter_map(|(i, slot)| {
                let us = slot.load(Ordering::Relaxed);
                (us > 0).then(|| ((i as u128 - first) as f64 / 10.0, us as f64 / 1000.0))
            })
            .collect()
    }
}

impl AckStats {
    /// Every ack latency, in microseconds.
    pub fn latencies(&self) -> Vec<u64> {
        self.latencies.all()
    }

    /// Counts the ack `args` (the packet after its id) of an event fired `sent` ago.
    fn record(&self, args: &str, sent: Instant, peers: u64, latencies: &Mutex<Vec<u64>>) {
        if args.starts_with(r#"[{"success":false"#) {
            if self.refused.fetch_add(1, Ordering::Relaxed) == 0 {
                eprintln!("refused: {args}");
            }
            return;
        }
        self.ok.fetch_add(1, Ordering::Relaxed);
        if self.window.load(Ordering::Relaxed) {
            self.in_window.fetch_add(1, Ordering::Relaxed);
        }
        if !args.contains(r#""throttled":true"#) {
            self.promised.fetch_add(peers, Ordering::Relaxed);
        }
        let micros = sent.elapsed().as_micros() as u64;
        self.slowest.record(sent, micros);
        if let Ok(mut list) = latencies.lock() {
            list.push(micros);
        }
    }
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            received: AtomicU64::new(0),
            typing: AtomicU64::new(0),
            base: Instant::now(),
            last: AtomicU64::new(0),
            latencies: LatencyLists::default(),
            acks: AckStats::default(),
        }
    }
}

impl Stats {
    /// Seconds from `start` to the latest delivery.
    pub fn last_delivery_since(&self, start: Instant) -> f64 {
        let last = self.base + Duration::from_micros(self.last.load(Ordering::Relaxed));
        last.saturating_duration_since(start).as_secs_f64()
    }

    /// Every delivery latency, in microseconds.
    pub fn latencies(&self) -> Vec<u64> {
        self.latencies.all()
    }
}

enum Out {
    Ask {
        id: u64,
        text: String,
        reply: oneshot::Sender<String>,
    },
    /// An event whose ack is counted in [`AckStats`], promising `peers` broadcasts.
    Fire { id: u64, text: String, peers: u64 },
}

pub struct Client {
    out: mpsc::UnboundedSender<Out>,
    next_ack: AtomicU64,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn ws_url(url: &str) -> String {
    let base = url
        .replacen("http://", "ws://", 1)
        .replacen("https://", "wss://", 1);
    format!("{base}/socket.io/?EIO=4&transport=websocket")
}

impl Client {
    /// Opens the websocket, waits for Engine.IO's open packet, connects to `/` with `auth`
    /// (the handshake auth object, e.g. `{"token": "<jwt>"}`) if given.
    pub async fn connect(
        url: String,
        auth: Option<Arc<str>>,
        stats: Arc<Stats>,
    ) -> anyhow::Result<Self> {
        // tungstenite zeroes its whole free read buffer before every read (128 KB by
        // default), which took over half of this generator's CPU: the frames here are small.
        let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES);
        // Nagle off, as a browser does: a frame never waits for the server's delayed ACK.
        let (ws, _) =
            tokio_tungstenite::connect_async_with_config(ws_url(&url), Some(config), true)
                .await
                .with_context(|| format!("websocket to {url}"))?;
        let (mut sink, mut stream) = ws.split();
        let mut opened = false;
        loop {
            let Some(message) = stream.next().await else {
                bail!("the server closed the connection during the handshake");
            };
            let Message::Text(text) = message? else {
                continue;
            };
            if !opened && text.starts_with('0') {
                opened = true;
                let connect = match &auth {
                    Some(auth) => format!("40{auth}"),
                    None => "40".to_owned(),
                };
                sink.send(Message::text(connect)).await?;
            } else if text.starts_with("40") {
                break;
            } else if text.starts_with("44") {
                bail!("connect refused: {text}");
            }
        }
        let latencies = stats.latencies.add();
        let ack_latencies = stats.acks.latencies.add();
        let (out, mut outgoing) = mpsc::unbounded_channel::<Out>();
        let task = tokio::spawn(async move {
            let mut waiting: HashMap<u64, oneshot::Sender<String>> = HashMap::new();
            let mut fired: HashMap<u64, (Instant, u64)> = HashMap::new();
            loop {
                tokio::select! {
                    message = stream.next() => {
                        let Some(Ok(Message::Text(text))) = message else { return };
                        let text = text.as_str();
                        if text == "2" {
                            if sink.send(Message::text("3")).await.is_err() {
                                return;
                            }
                        } else if let Some(event) = text.strip_prefix("42") {
                            deliver(event, &stats, &latencies);
                        } else if let Some(ack) = text.strip_prefix("43") {
                            let digits = ack.find('[').unwrap_or(0);
                            let Ok(id) = ack[..digits].parse::<u64>() else { continue };
                            if let Some((sent, peers)) = fired.remove(&id) {
                                stats.acks.record(&ack[digits..], sent, peers, &ack_latencies);
                            } else if let Some(reply) = waiting.remove(&id) {
                                let _ = reply.send(ack[digits..].to_owned());
                            }
                        }
                    }
                    out = outgoing.recv() => {
                        let text = match out {
                            Some(Out::Ask { id, text, reply }) => {
                                waiting.insert(id, reply);
                                text
                            }
                            Some(Out::Fire { id, text, peers }) => {
                                fired.insert(id, (Instant::now(), peers));
                                text
                            }
                            None => return,
                        };
                        if sink.send(Message::text(text)).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Ok(Self {
            out,
            next_ack: AtomicU64::new(0),
            task,
        })
    }

    /// Emits `event` with `args` (a JSON array's items) and waits for the ack's arguments.
    pub async fn ask(
        &self,
        event: &str,
        args: &[serde_json::Value],
    ) -> anyhow::Result<serde_json::Value> {
        let id = self.next_ack.fetch_add(1, Ordering::Relaxed);
        let mut packet = vec![serde_json::Value::from(event)];
        packet.extend(args.iter().cloned());
        let (reply, answer) = oneshot::channel();
        let text = format!("42{id}{}", serde_json::Value::Array(packet));
        self.out
            .send(Out::Ask { id, text, reply })
            .map_err(|_| anyhow::anyhow!("connection closed"))?;
        let answer = tokio::time::timeout(Duration::from_secs(10), answer)
            .await
            .context("no ack within 10 s")??;
        Ok(serde_json::from_str(&answer)?)
    }

    /// Emits `event` with the JSON array items `args` (e.g. `{"roomId":"1"}`) and an ack id;
    /// the ack is counted in [`Stats::acks`] when it comes.
    pub fn fire(&self, event: &str, args: &str, peers: u64) -> anyhow::Result<()> {
        let id = self.next_ack.fetch_add(1, Ordering::Relaxed);
        let text = format!(r#"42{id}["{event}",{args}]"#);
        self.out
            .send(Out::Fire { id, text, peers })
            .map_err(|_| anyhow::anyhow!("connection closed"))
    }

    /// `join-room (room, ack)`; fails unless the ack says success.
    pub async fn join(&self, room: &str) -> anyhow::Result<()> {
        let answer = self.ask("join-room", &[room.into()]).await?;
        if answer[0]["success"] != true {
            bail!("join-room {room} refused: {answer}");
        }
        Ok(())
    }
}

/// A `bench` event `{t, seq}` (HTTP emit) or an `article:update` content event
/// `{data: {attributes: {t, ...}}}` (webhook): counted, with its latency from `t` (send time,
/// µs). `chat:typing` broadcasts are only counted.
fn deliver(event: &str, stats: &Stats, latencies: &Mutex<Vec<u64>>) {
    // The most frequent by far at high rates: counted without parsing.
    if event.starts_with(r#"["chat:typing""#) {
        stats.typing.fetch_add(1, Ordering::Relaxed);
        return;
    }
    if !(event.starts_with(r#"["bench""#) || event.starts_with(r#"["article:update""#)) {
        return;
    }
    // The send time is the only number in the payload under the key "t": read it without
    // parsing the rest (the generator must stay cheaper per delivery than the servers).
    let sent = event
        .find(r#""t":"#)
        .map(|at| &event[at + 4..])
        .and_then(|rest| {
            let digits = rest.find(|c: char| !c.is_ascii_digit());
            rest[..digits.unwrap_or(rest.len())].parse::<u64>().ok()
        })
        .unwrap_or_default();
    let now = super::now_us();
    stats.received.fetch_add(1, Ordering::Relaxed);
    stats
        .last
        .fetch_max(stats.base.elapsed().as_micros() as u64, Ordering::Relaxed);
    if let Ok(mut list) = latencies.lock() {
        list.push(now.saturating_sub(sent));
    }
}
