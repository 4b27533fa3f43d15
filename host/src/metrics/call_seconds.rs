//! `iohost_handler_call_seconds`, counted here rather than in the exporter's histogram. That
//! one keeps every sample until the next scrape or upkeep: a push onto a list all cores share,
//! and a block allocated every 64 samples, ~30 ns at the median and ~90 ns on average of
//! each call (BENCHMARKS.md). Here a call adds one to a bucket and its duration to a sum, in
//! its thread's stripe; `/metrics` writes the totals after the exporter's text.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::stripes::Striped;

/// Bucket edges (`le`) in ns: from 1 µs (a warm no-op) to the default 100 ms limit and beyond.
const EDGES_NS: [u64; 15] = [
    1_000,
    2_000,
    5_000,
    10_000,
    20_000,
    50_000,
    100_000,
    500_000,
    1_000_000,
    5_000_000,
    10_000_000,
    50_000_000,
    100_000_000,
    500_000_000,
    1_000_000_000,
];

/// One handler's call durations (all its versions').
#[derive(Debug)]
pub struct CallSeconds {
    stripes: Striped<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    /// Calls per bucket, not cumulative; the last is past every edge (`+Inf`).
    buckets: [AtomicU64; EDGES_NS.len() + 1],
    sum_ns: AtomicU64,
}

impl CallSeconds {
    fn new() -> Self {
        Self {
            stripes: Striped::default(),
        }
    }

    pub fn record(&self, took: Duration) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        // The first edge at or above it (`le`).
        let bucket = EDGES_NS.partition_point(|edge| *edge < ns);
        let counts = self.stripes.mine();
        counts.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        counts.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Calls per bucket and the sum of their durations, over all stripes.
    fn totals(&self) -> ([u64; EDGES_NS.len() + 1], u64) {
        let mut buckets = [0u64; EDGES_NS.len() + 1];
        let mut sum_ns = 0u64;
        for stripe in self.stripes.iter() {
            for (total, count) in buckets.iter_mut().zip(&stripe.buckets) {
                *total += count.load(Ordering::Relaxed);
            }
            sum_ns = sum_ns.wrapping_add(stripe.sum_ns.load(Ordering::Relaxed));
        }
        (buckets, sum_ns)
    }
}

/// By handler name, for as long as the process runs (as the exporter kept its series).
static BY_HANDLER: Mutex<BTreeMap<String, Arc<CallSeconds>>> = Mutex::new(BTreeMap::new());

fn by_handler() -> std::sync::MutexGuard<'static, BTreeMap<String, Arc<CallSeconds>>> {
    BY_HANDLER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Handler `name`'s histogram, made on first use (a version looks it up once, when loaded).
pub fn call_seconds(name: &str) -> Arc<CallSeconds> {
    by_handler()
        .entry(name.to_owned())
        .or_insert_with(|| Arc::new(CallSeconds::new()))
        .clone()
}

/// Every handler's histogram in Prometheus' text format, after `out`.
pub fn render_call_seconds(out: &mut String) {
    let name = super::HANDLER_CALL_SECONDS;
    let all = by_handler();
    if all.is_empty() {
        return;
    }
    // Writing to a String cannot fail.
    let _ = writeln!(out, "# HELP {name} Handler call durations");
    let _ = writeln!(out, "# TYPE {name} histogram");
    for (handler, histogram) in all.iter() {
        let handler = escape(handler);
        let (buckets, sum_ns) = histogram.totals();
        let mut below = 0u64;
        for (edge, count) in EDGES_NS.iter().zip(&buckets) {
            below += count;
            let le = *edge as f64 / 1e9;
            let _ = writeln!(
                out,
                "{name}_bucket{{handler=\"{handler}\",le=\"{le}\"}} {below}"
            );
        }
        let all_calls = below + buckets[EDGES_NS.len()];
        let _ = writeln!(
            out,
            "{name}_bucket{{handler=\"{handler}\",le=\"+Inf\"}} {all_calls}"
        );
        let sum = sum_ns as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum{{handler=\"{handler}\"}} {sum}");
        let _ = writeln!(out, "{name}_count{{handler=\"{handler}\"}} {all_calls}");
    }
}

/// A label value as the text format wants it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rendered lines of `handler`'s series, as (name, le, value).
    fn series(handler: &str) -> Vec<(String, Option<String>, f64)> {
        let mut text = String::new();
        render_call_seconds(&mut text);
        let label = format!("handler=\"{}\"", escape(handler));
        text.lines()
            .filter(|l| l.contains(&label))
            .map(|line| {
                let (metric, value) = line.rsplit_once(' ').expect("name and value");
                let le = metric
                    .split_once("le=\"")
                    .map(|(_, rest)| rest.trim_end_matches("\"}").to_owned());
                let name = metric.split('{').next().unwrap_or_default().to_owned();
                (name, le, value.parse().expect("a number"))
            })
            .collect()
    }

    #[test]
    fn buckets_are_cumulative_with_a_sum_and_a_count_from_every_thread() {
        let handler = "call-seconds-test \"odd\\ name\"";
        let histogram = call_seconds(handler);
        assert!(
            Arc::ptr_eq(&histogram, &call_seconds(handler)),
            "one per name"
        );
        // 1 µs sits on the first edge (`le` is inclusive); 3 µs and 3 ms between edges; 2 s
        // past them all.
        let took = [1_000u64, 3_000, 3_000_000, 2_000_000_000].map(Duration::from_nanos);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| took.iter().for_each(|d| histogram.record(*d)));
            }
        });
        let lines = series(handler);
        let bucket = |le: &str| {
            lines
                .iter()
                .find(|(n, l, _)| n.ends_with("_bucket") && l.as_deref() == Some(le))
                .map(|(_, _, v)| *v)
        };
        assert_eq!(bucket("0.000001"), Some(4.0));
        assert_eq!(bucket("0.000002"), Some(4.0));
        assert_eq!(bucket("0.000005"), Some(8.0));
        assert_eq!(bucket("0.001"), Some(8.0));
        assert_eq!(bucket("0.005"), Some(12.0));
        assert_eq!(bucket("1"), Some(12.0));
        assert_eq!(bucket("+Inf"), Some(16.0));
        let value = |suffix: &str| {
            lines
                .iter()
                .find(|(n, _, _)| n.ends_with(suffix))
                .map(|(_, _, v)| *v)
        };
        assert_eq!(value("_count"), Some(16.0));
        let sum = value("_sum").expect("a sum");
        assert!((sum - 4.0 * 2.003_004).abs() < 1e-9, "{sum}");
        // Buckets never decrease along the edges.
        let counts: Vec<f64> = lines
            .iter()
            .filter(|(n, _, _)| n.ends_with("_bucket"))
            .map(|(_, _, v)| *v)
            .collect();
        assert_eq!(counts.len(), EDGES_NS.len() + 1);
        assert!(counts.windows(2).all(|w| w[0] <= w[1]));
    }
}
