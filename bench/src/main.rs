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
    /// The server, e.g. http://127.0.0.1:1338; several, comma-separated (the processes of
    /// one service), take the sockets in turn.
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
        /// Bearer key of the emit endpoint (or, with `--webhook`, the webhook secret).
        #[arg(long)]
        key: String,
        /// Send Strapi webhooks (`entry.update` of an article) to this path instead of HTTP
        /// emits; the sockets stay in their role room (public), which must receive articles.
        #[arg(long)]
        webhook: Option<String>,
    },
    /// N idle sockets, held until stdin closes (the runner reads the server's RSS meanwhile).
    Idle {
        #[arg(long, default_value_t = 1000)]
        sockets: usize,
    },
    /// Client events with acks at a fixed offered rate, spread over N sockets; every event
    /// must be acked with `success: true`. With `--room-size K` the sockets sit in rooms
    /// `chat-room-<n>` of K and send `chat:typing {roomId}` (the handler path: rate-limit +
    /// chat-typing), and every typing broadcast the acks promise is counted.
    Events {
        #[arg(long, default_value_t = 1000)]
        sockets: usize,
        /// Events per second, all sockets together.
        #[arg(long, default_value_t = 1000)]
        rate: u32,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Sockets per chat room; 0: no rooms, send `--event` with `--arg`.
        #[arg(long, default_value_t = 0)]
        room_size: usize,
        /// Before each chat room's number, so that several generators use rooms of their own.
        #[arg(long, default_value = "")]
        room_prefix: String,
        #[arg(long, default_value = "message-with-ack")]
        event: String,
        /// The event's one argument, JSON.
        #[arg(long, default_value = "{}")]
        arg: String,
    },
    /// N clients connecting at once, each with a JWT from `--tokens` (one per line, used in
    /// turn); time until all are connected.
    Storm {
        #[arg(long, default_value_t = 10000)]
        sockets: usize,
        #[arg(long)]
        tokens: std::path::PathBuf,
    },
}

/// Microseconds since the Unix epoch: send and receive times on one machine.
fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or_default()
}

/// Connects `n` clients, at most 200 handshakes in flight; any failure fails the run.
async fn connect_all(
    url: &str,
    n: usize,
    stats: Arc<client::Stats>,
) -> anyhow::Result<Vec<client::Client>> {
    let (clients, mut failures) = connect_batched(url, n, &[], 200, stats).await;
    match failures.pop() {
        Some(e) => Err(e.context(format!(
            "{} of {n} clients failed to connect",
            failures.len() + 1
        ))),
        None => Ok(clients),
    }
}

/// Connects `n` clients, `batch` handshakes in flight, client `i` with `auths[i % len]`.
/// Returns the connected clients and the failures.
async fn connect_batched(
    url: &str,
    n: usize,
    auths: &[Arc<str>],
    batch: usize,
    stats: Arc<client::Stats>,
) -> (Vec<client::Client>, Vec<anyhow::Error>) {
    let started = Instant::now();
    let mut clients = Vec::with_capacity(n);
    let mut failures = Vec::new();
    let mut pending = Vec::new();
    let urls: Vec<&str> = url.split(',').collect();
    for i in 0..n {
        let auth = (!auths.is_empty()).then(|| auths[i % auths.len()].clone());
        pending.push(tokio::spawn(client::Client::connect(
            urls[i % urls.len()].trim_end_matches('/').to_owned(),
            auth,
            stats.clone(),
        )));
        if pending.len() == batch || i + 1 == n {
            for handle in pending.drain(..) {
                match handle.await {
                    Ok(Ok(client)) => clients.push(client),
                    Ok(Err(e)) => failures.push(e),
                    Err(e) => failures.push(e.into()),
                }
            }
        }
    }
    eprintln!(
        "{} of {n} clients connected in {:.2} s",
        clients.len(),
        started.elapsed().as_secs_f64()
    );
    (clients, failures)
}

/// Latencies (µs, sorted) as `[[upper bound µs, count], ...]` in buckets 2% wide, so that the
/// results of several generators can be merged into percentiles (within 2%).
fn histogram(sorted: &[u64]) -> serde_json::Value {
    let mut buckets: Vec<(u64, u64)> = Vec::new();
    for &us in sorted {
        match buckets.last_mut() {
            Some((bound, count)) if us <= *bound => *count += 1,
            _ => buckets.push((upper_bound(us), 1)),
        }
    }
    json!(buckets)
}

/// The upper bound of the 2%-wide bucket `us` falls in: the least 1.02^k at or above it.
fn upper_bound(us: u64) -> u64 {
    let k = (us.max(1) as f64).ln() / 1.02f64.ln();
    (1.02f64.powf(k.ceil()).ceil() as u64).max(us)
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
    webhook: Option<&str>,
) -> anyhow::Result<serde_json::Value> {
    let stats = Arc::new(client::Stats::default());
    let started = Instant::now();
    let clients = connect_all(url, sockets, stats.clone()).await?;
    let connect_s = started.elapsed().as_secs_f64();
    if webhook.is_none() {
        for c in &clients {
            c.join("bench").await?;
        }
    }
    let http = reqwest::Client::new();
    let endpoint = match webhook {
        Some(path) => format!("{url}{path}"),
        None => format!("{url}/api/v1/emit"),
    };
    // What Strapi sends on an update of a published row (reference/strapi.md; a type without
    // draft & publish: a draft row would reach only roles that read drafts), with the send
    // time in a field.
    let body = |seq: u64| match webhook {
        Some(_) => json!({
            "event": "entry.update", "createdAt": "2026-11-25T19:00:02.953Z", "model": "article",
            "uid": "api::article.article",
            "entry": { "id": seq, "documentId": "benchdoc", "title": "Hello", "t": now_us(),
                       "createdAt": "2026-11-25T19:00:02.924Z", "updatedAt": "2026-11-25T19:00:02.924Z",
                       "publishedAt": "2026-11-25T19:00:02.927Z" },
        }),
        None => {
            json!({ "event": "bench", "data": { "t": now_us(), "seq": seq }, "rooms": ["bench"] })
        }
    };
    let total = u64::from(rate) * seconds;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let failed = Arc::new(AtomicU64::new(0));
    let sending = Instant::now();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut inflight = Vec::new();
    for seq in 0..total {
        tick.tick().await;
        let request = http.post(&endpoint).bearer_auth(key).json(&body(seq));
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

/// The scenario's sizes.
struct EventLoad<'a> {
    sockets: usize,
    rate: u32,
    seconds: u64,
    room_size: usize,
    room_prefix: &'a str,
}

async fn events(
    url: &str,
    load: EventLoad<'_>,
    event: &str,
    arg: &str,
) -> anyhow::Result<serde_json::Value> {
    let EventLoad {
        sockets,
        rate,
        seconds,
        room_size,
        room_prefix,
    } = load;
    let stats = Arc::new(client::Stats::default());
    let clients = connect_all(url, sockets, stats.clone()).await?;
    // Socket i's chat room (none with --room-size 0).
    let room_of = |i: usize| i.checked_div(room_size);
    let (event, args): (&str, Vec<String>) = match room_of(0) {
        Some(_) => {
            let mut args = Vec::with_capacity(sockets);
            for (i, c) in clients.iter().enumerate() {
                let room = room_of(i).unwrap_or_default();
                let id = format!("{room_prefix}{room}");
                c.join(&format!("chat-room-{id}")).await?;
                args.push(json!({ "roomId": id }).to_string());
            }
            ("chat:typing", args)
        }
        None => {
            let arg: serde_json::Value = serde_json::from_str(arg).context("--arg is not JSON")?;
            (event, vec![arg.to_string()])
        }
    };
    // Peers of each socket: the room's other members (the last room may be smaller).
    let peers = |i: usize| -> u64 {
        room_of(i).map_or(0, |room| {
            (sockets.min((room + 1) * room_size) - room * room_size - 1) as u64
        })
    };
    let total = u64::from(rate) * seconds;
    // Tells the runner that the load starts now: it measures the server's CPU from here.
    println!("firing");
    let started = Instant::now();
    let cpu_at_start = cpu_seconds();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // The steady window: acks counted from a fifth of the load's time (at most 1 s: the
    // start, while queues fill, left out) until the last event is sent.
    let warm_up = Duration::from_secs(seconds)
        .mul_f64(0.2)
        .min(Duration::from_secs(1));
    let mut window_opened: Option<Instant> = None;
    let mut sent = 0u64;
    while sent < total {
        tick.tick().await;
        if window_opened.is_none() && started.elapsed() >= warm_up {
            stats.acks.window.store(true, Ordering::Relaxed);
            window_opened = Some(Instant::now());
        }
        // Offered load: as many as are due by now, whatever the timer's granularity.
        let due = ((started.elapsed().as_secs_f64() * f64::from(rate)) as u64).min(total);
        while sent < due {
            let i = (sent as usize) % sockets;
            clients[i].fire(event, &args[i % args.len()], peers(i))?;
            sent += 1;
        }
    }
    let offered_s = started.elapsed().as_secs_f64();
    stats.acks.window.store(false, Ordering::Relaxed);
    let window_s = window_opened.map_or(0.0, |at| at.elapsed().as_secs_f64());
    // Every ack (and every broadcast the acks promise) is due: wait until they are all in, or
    // nothing more has come for 10 s.
    let acks = &stats.acks;
    let answered = || acks.ok.load(Ordering::Relaxed) + acks.refused.load(Ordering::Relaxed);
    let mut last = (answered(), stats.typing.load(Ordering::Relaxed));
    let mut quiet = Instant::now();
    let mut acked_s = offered_s;
    while (answered() < total
        || stats.typing.load(Ordering::Relaxed) < acks.promised.load(Ordering::Relaxed))
        && quiet.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let now = (answered(), stats.typing.load(Ordering::Relaxed));
        if now != last {
            if now.0 != last.0 {
                acked_s = started.elapsed().as_secs_f64();
            }
            last = now;
            quiet = Instant::now();
        }
    }
    // How busy this generator was: near 1.0 its own queue is in the latencies it reports.
    let generator_cpu = cpu_at_start
        .zip(cpu_seconds())
        .map(|(before, after)| (after - before) / started.elapsed().as_secs_f64());
    let promised = acks.promised.load(Ordering::Relaxed);
    let typing = stats.typing.load(Ordering::Relaxed);
    let mut latencies = acks.latencies();
    latencies.sort_unstable();
    let ok = acks.ok.load(Ordering::Relaxed);
    // Acked per second while the load ran (after its warm-up): the offered rate when the
    // server keeps up, however long its last answers take.
    let steady = if window_s > 0.0 {
        acks.in_window.load(Ordering::Relaxed) as f64 / window_s
    } else {
        0.0
    };
    let refused = acks.refused.load(Ordering::Relaxed);
    Ok(json!({
        "scenario": "events",
        "sockets": sockets,
        "rate": rate,
        "sent": total,
        "offeredSeconds": offered_s,
        "acked": ok,
        "refused": refused,
        "missing": total - ok - refused,
        "lost": total - ok,
        "eventsPerSecond": ok as f64 / acked_s,
        "steadyEventsPerSecond": steady,
        // [seconds after the load started, slowest ack ms] per tenth of a second of send time.
        "slowestByTenth": acks.slowest.since(started),
        "latencyP50Ms": percentile(&latencies, 0.50),
        "latencyP99Ms": percentile(&latencies, 0.99),
        "latencyMaxMs": latencies.last().map_or(0.0, |&us| us as f64 / 1000.0),
        "latencyHistogram": histogram(&latencies),
        "broadcastsPromised": promised,
        "broadcastsReceived": typing,
        "broadcastsLost": promised.saturating_sub(typing),
        "generatorCpu": generator_cpu,
    }))
}

/// CPU seconds this process has used (user and system), from `/proc/self/stat` in Linux's
/// clock ticks of 1/100 s; `None` where that file cannot be read.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name, in parentheses, may hold spaces: count fields after it. `utime` and
    // `stime` are the 14th and 15th fields, the 12th and 13th after the name.
    let mut after_name = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let user: f64 = after_name.next()?.parse().ok()?;
    let system: f64 = after_name.next()?.parse().ok()?;
    Some((user + system) / 100.0)
}

async fn storm(
    url: &str,
    sockets: usize,
    tokens: &std::path::Path,
) -> anyhow::Result<serde_json::Value> {
    let text =
        std::fs::read_to_string(tokens).with_context(|| format!("reading {}", tokens.display()))?;
    let auths: Vec<Arc<str>> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|t| Arc::from(json!({ "token": t.trim() }).to_string()))
        .collect();
    anyhow::ensure!(!auths.is_empty(), "{} holds no tokens", tokens.display());
    let stats = Arc::new(client::Stats::default());
    let started = Instant::now();
    // All at once: every handshake in flight together.
    let (clients, failures) = connect_batched(url, sockets, &auths, sockets, stats).await;
    let seconds = started.elapsed().as_secs_f64();
    if let Some(e) = failures.first() {
        eprintln!(
            "{} clients failed to connect, the first: {e:#}",
            failures.len()
        );
    }
    // The tokens must have counted: the first and last clients are in the authenticated room.
    for c in [clients.first(), clients.last()].into_iter().flatten() {
        let rooms = c.ask("get-rooms", &[]).await?;
        anyhow::ensure!(
            rooms.to_string().contains("io-role-authenticated"),
            "a client with a JWT is not in io-role-authenticated: {rooms}"
        );
    }
    let connected = clients.len();
    drop(clients);
    Ok(json!({
        "scenario": "storm",
        "sockets": sockets,
        "connected": connected,
        "failed": failures.len(),
        "seconds": seconds,
        "connectionsPerSecond": connected as f64 / seconds,
    }))
}

// One thread: the generator is pinned to one core, where worker threads would only hand
// wake-ups to each other.
#[tokio::main(flavor = "current_thread")]
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
            webhook,
        } => fanout(url, sockets, rate, seconds, &key, webhook.as_deref()).await?,
        Scenario::Idle { sockets } => idle(url, sockets).await?,
        Scenario::Events {
            sockets,
            rate,
            seconds,
            room_size,
            room_prefix,
            event,
            arg,
        } => {
            let load = EventLoad {
                sockets,
                rate,
                seconds,
                room_size,
                room_prefix: &room_prefix,
            };
            events(url, load, &event, &arg).await?
        }
        Scenario::Storm { sockets, tokens } => storm(url, sockets, &tokens).await?,
    };
    if !result.is_null() {
        println!("{result}");
    }
    Ok(())
}
