//! Shared by the benchmarks: gathers the per-request latencies of concurrent tasks into a rate
//! and percentiles, and prints them as one table row.

use std::time::{Duration, Instant};

/// Waits for every task's latencies; returns operations per second since `start`, and all
/// latencies sorted.
pub async fn gather(start: Instant, tasks: Vec<tokio::task::JoinHandle<Vec<Duration>>>) -> (f64, Vec<Duration>) {
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let rate = all.len() as f64 / start.elapsed().as_secs_f64();
    all.sort();
    (rate, all)
}

/// `label  rate  p50  p99  max` (milliseconds), the label padded to `width`.
pub fn print_row(label: &str, width: usize, rate: f64, lat: &[Duration]) {
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1000.0;
    println!(
        "{label:<width$} {rate:>10.0} {:>10.2} {:>10.2} {:>10.2}",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
}
