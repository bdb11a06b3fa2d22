//! Load over HTTP: closed loop (a fixed number of keep-alive clients, each sending its next
//! request when the last is answered) and open loop (requests started at a fixed rate whatever
//! the answers, latency counted from the moment each was due, so a stall is not hidden).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Sends request number `i` and checks its answer (panics on a wrong one).
pub type Call = Arc<dyn Fn(usize) -> Reply + Send + Sync>;
/// The answer of one request, checked.
pub type Reply = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Requests `first..first + total` by `clients` concurrent clients; rate and latencies.
pub async fn closed(send: Call, clients: usize, first: usize, total: usize) -> (f64, Vec<Duration>) {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (send, next) = (send.clone(), next.clone());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break lat;
                    }
                    let t = Instant::now();
                    send(first + i).await;
                    lat.push(t.elapsed());
                }
            })
        })
        .collect();
    super::latency::gather(start, tasks).await
}

/// Requests `first..first + total` started at `rate` per second; the achieved rate and the
/// latencies from each request's due time to its answer.
pub async fn open(send: Call, rate: f64, first: usize, total: usize) -> (f64, Vec<Duration>) {
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let send = send.clone();
        tasks.push(tokio::spawn(async move {
            send(first + i).await;
            vec![due.elapsed()]
        }));
    }
    super::latency::gather(start, tasks).await
}
