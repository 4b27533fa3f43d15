//! A minimal Socket.IO client over websocket (Engine.IO v4, Socket.IO v5, namespace `/`, text
//! packets only): enough to hold thousands of connections from one process cheaply.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

/// What every client counts, shared.
pub struct Stats {
    pub received: AtomicU64,
    base: Instant,
    /// Microseconds after `base` of the latest delivery.
    last: AtomicU64,
    /// One latency list per client (each locked only by its own task, and at the end).
    latencies: Mutex<Vec<Arc<Mutex<Vec<u64>>>>>,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            received: AtomicU64::new(0),
            base: Instant::now(),
            last: AtomicU64::new(0),
            latencies: Mutex::new(Vec::new()),
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
        let lists = self.latencies.lock().map(|l| l.clone()).unwrap_or_default();
        lists
            .iter()
            .flat_map(|l| l.lock().map(|v| v.clone()).unwrap_or_default())
            .collect()
    }
}

enum Out {
    Ask {
        id: u64,
        text: String,
        reply: oneshot::Sender<String>,
    },
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
    /// Opens the websocket, waits for Engine.IO's open packet, connects to `/`.
    pub async fn connect(url: String, stats: Arc<Stats>) -> anyhow::Result<Self> {
        let (ws, _) = tokio_tungstenite::connect_async(ws_url(&url))
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
                sink.send(Message::text("40")).await?;
            } else if text.starts_with("40") {
                break;
            } else if text.starts_with("44") {
                bail!("connect refused: {text}");
            }
        }
        let latencies = Arc::new(Mutex::new(Vec::new()));
        if let Ok(mut all) = stats.latencies.lock() {
            all.push(latencies.clone());
        }
        let (out, mut outgoing) = mpsc::unbounded_channel::<Out>();
        let task = tokio::spawn(async move {
            let mut waiting: HashMap<u64, oneshot::Sender<String>> = HashMap::new();
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
                            if let Ok(id) = ack[..digits].parse::<u64>()
                                && let Some(reply) = waiting.remove(&id)
                            {
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

    /// `join-room (room, ack)`; fails unless the ack says success.
    pub async fn join(&self, room: &str) -> anyhow::Result<()> {
        let answer = self.ask("join-room", &[room.into()]).await?;
        if answer[0]["success"] != true {
            bail!("join-room {room} refused: {answer}");
        }
        Ok(())
    }
}

/// A `bench` event `{t, seq}`: counted, with its latency from `t` (send time, µs).
fn deliver(event: &str, stats: &Stats, latencies: &Mutex<Vec<u64>>) {
    let Ok(serde_json::Value::Array(items)) = serde_json::from_str::<serde_json::Value>(event)
    else {
        return;
    };
    if items.first().and_then(|v| v.as_str()) != Some("bench") {
        return;
    }
    let sent = items
        .get(1)
        .and_then(|d| d["t"].as_u64())
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
