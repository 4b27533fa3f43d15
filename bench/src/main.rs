//! `iohost-bench`: the load generator of the benchmarks (see BENCHMARKS.md and bench/run.mjs).
//! Many Socket.IO clients over websocket from one process — a small Engine.IO v4 / Socket.IO v5
//! client of its own (open, connect, ping/pong, events, acks), one task per connection — and a
//! correctness check: every expected delivery is counted, and what is missing is reported.
//!
//! Prints one JSON object with the results on stdout; progress goes to stderr.

mod client;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde_json::json;

#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// The server, e.g. http://127.0.0.1:1338
    #[arg(long)]
    url: String,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// N sockets in one room; the server's HTTP emit endpoint sends to the room at a fixed rate;
    /// every socket must receive every emit. Reports deliveries/s and delivery latency.
    Fanout {
        #[arg(long, default_value_t = 1000)]
        sockets: usize,
        /// Emits per second.
        #[arg(long, default_value_t = 20)]
        rate: u32,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Bearer key of the emit endpoint.
        #[arg(long)]
        key: String,
    },
    /// N idle sockets, held until stdin closes (the runner reads the server's RSS meanwhile).
    Idle {
        #[arg(long, default_value_t = 1000)]
        sockets: usize,
    },
}

/// Microseconds since the Unix epoch: send and receive times on one machine.
fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or_default()
}

/// Connects `n` clients, at most 200 handshakes in flight.
async fn connect_all(
    url: &str,
    n: usize,
    stats: Arc<client::Stats>,
) -> anyhow::Result<Vec<client::Client>> {
    let started = Instant::now();
    let mut clients = Vec::with_capacity(n);
    let mut pending = Vec::new();
    for i in 0..n {
        pending.push(tokio::spawn(client::Client::connect(
            url.to_owned(),
            stats.clone(),
        )));
        if pending.len() == 200 || i + 1 == n {
            for handle in pending.drain(..) {
                clients.push(handle.await.context("client task")??);
            }
        }
    }
    eprintln!(
        "{n} clients connected in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    Ok(clients)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

async fn fanout(
    url: &str,
    sockets: usize,
    rate: u32,
    seconds: u64,
    key: &str,
) -> anyhow::Result<serde_json::Value> {
    let stats = Arc::new(client::Stats::default());
    let started = Instant::now();
    let clients = connect_all(url, sockets, stats.clone()).await?;
    let connect_s = started.elapsed().as_secs_f64();
    for c in &clients {
        c.join("bench").await?;
    }
    let http = reqwest::Client::new();
    let endpoint = format!("{url}/api/v1/emit");
    let total = u64::from(rate) * seconds;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let failed = Arc::new(AtomicU64::new(0));
    let sending = Instant::now();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut inflight = Vec::new();
    for seq in 0..total {
        tick.tick().await;
        let request = http.post(&endpoint).bearer_auth(key).json(
            &json!({ "event": "bench", "data": { "t": now_us(), "seq": seq }, "rooms": ["bench"] }),
        );
        let failed = failed.clone();
        inflight.push(tokio::spawn(async move {
            match request.send().await {
                Ok(r) if r.status().is_success() => {}
                _ => {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for handle in inflight {
        let _ = handle.await;
    }
    let send_s = sending.elapsed().as_secs_f64();
    let expected = total * sockets as u64;
    // Wait for the stragglers: until every delivery arrived or 10 s of silence.
    let mut last = 0;
    let mut quiet = Instant::now();
    while stats.received.load(Ordering::Relaxed) < expected
        && quiet.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = stats.received.load(Ordering::Relaxed);
        if now != last {
            last = now;
            quiet = Instant::now();
        }
    }
    let received = stats.received.load(Ordering::Relaxed);
    let delivered_s = stats.last_delivery_since(sending).max(send_s);
    let mut latencies = stats.latencies();
    latencies.sort_unstable();
    drop(clients);
    Ok(json!({
        "scenario": "fanout",
        "sockets": sockets,
        "rate": rate,
        "seconds": seconds,
        "emits": total,
        "emitsFailed": failed.load(Ordering::Relaxed),
        "expected": expected,
        "received": received,
        "lost": expected.saturating_sub(received),
        "deliveriesPerSecond": received as f64 / delivered_s,
        "latencyP50Ms": percentile(&latencies, 0.50),
        "latencyP99Ms": percentile(&latencies, 0.99),
        "connectSeconds": connect_s,
    }))
}

async fn idle(url: &str, sockets: usize) -> anyhow::Result<serde_json::Value> {
    let stats = Arc::new(client::Stats::default());
    let started = Instant::now();
    let clients = connect_all(url, sockets, stats).await?;
    let connect_s = started.elapsed().as_secs_f64();
    // Tell the runner, then hold the sockets until it closes our stdin.
    println!(
        "{}",
        json!({ "scenario": "idle", "sockets": clients.len(), "connectSeconds": connect_s })
    );
    let mut line = String::new();
    let _ = tokio::task::spawn_blocking(move || std::io::stdin().read_line(&mut line)).await;
    drop(clients);
    Ok(serde_json::Value::Null)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Built with the host, reqwest has rustls without a provider: give it ring (http only here).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = cli.url.trim_end_matches('/');
    let result = match cli.scenario {
        Scenario::Fanout {
            sockets,
            rate,
            seconds,
            key,
        } => fanout(url, sockets, rate, seconds, &key).await?,
        Scenario::Idle { sockets } => idle(url, sockets).await?,
    };
    if !result.is_null() {
        println!("{result}");
    }
    Ok(())
}
