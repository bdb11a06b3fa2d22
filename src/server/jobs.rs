//! Background work, as named jobs. Each job lives in its own file and does one step in
//! `run_once`, which returns a report of what it did; `Jobs` runs each in a thin loop with its
//! interval and stops them all on shutdown, waiting (up to a limit) for a step in flight so a
//! half-done step is never cut off mid-way. Tests call `run_once` directly instead of sleeping.

pub mod alert_delivery;
pub mod host_webhooks;
pub mod housekeeping;
pub mod reconcile;
pub mod sim_delivery;
pub mod webhook_apply;

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use alert_delivery::AlertDelivery;
pub use host_webhooks::HostWebhooks;
pub use housekeeping::Housekeeping;
pub use reconcile::Reconcile;
pub use sim_delivery::SimDelivery;
pub use webhook_apply::WebhookApply;

/// One kind of background work.
#[async_trait]
pub trait Job: Send + Sync + 'static {
    /// What one step did, logged when it did something.
    type Report: Debug + Send;

    /// A short name for logs (`housekeeping`).
    fn name(&self) -> &'static str;

    /// Pause between the end of one step and the start of the next.
    fn interval(&self) -> Duration;

    /// Does one step of work. An error is logged and the loop goes on at the next interval.
    async fn run_once(&self) -> anyhow::Result<Self::Report>;

    /// After failed steps in a row the pause doubles, up to this (None: always `interval`).
    /// For jobs whose failures mean something outside is down (Whop): hammering it helps nobody.
    fn max_backoff(&self) -> Option<Duration> {
        None
    }

    /// Whether a report is worth an info line (idle steps stay quiet).
    fn is_noteworthy(&self, _report: &Self::Report) -> bool {
        true
    }
}

/// The running jobs and the switch that stops them.
pub struct Jobs {
    stop: watch::Sender<bool>,
    running: Vec<(&'static str, JoinHandle<()>)>,
}

impl Default for Jobs {
    fn default() -> Self {
        Self::new()
    }
}

impl Jobs {
    pub fn new() -> Jobs {
        Jobs {
            stop: watch::channel(false).0,
            running: Vec::new(),
        }
    }

    /// Starts `job`: one step at once, then one step per interval until stopped.
    pub fn spawn<J: Job>(&mut self, job: J) {
        let name = job.name();
        let mut stop = self.stop.subscribe();
        let handle = tokio::spawn(async move {
            tracing::info!(job = name, every = ?job.interval(), "job started");
            let mut failures = 0u32;
            loop {
                // A step is never interrupted: the stop signal is only watched between steps.
                match job.run_once().await {
                    Ok(report) => {
                        failures = 0;
                        if job.is_noteworthy(&report) {
                            tracing::info!(job = name, ?report, "job step")
                        }
                    }
                    Err(e) => {
                        failures = failures.saturating_add(1);
                        tracing::warn!(job = name, error = format!("{e:#}"), failures, "job step failed")
                    }
                }
                let pause = pause_after(job.interval(), failures, job.max_backoff());
                tokio::select! {
                    _ = stop.wait_for(|stopped| *stopped) => break,
                    _ = tokio::time::sleep(pause) => {}
                }
            }
            tracing::info!(job = name, "job stopped");
        });
        self.running.push((name, handle));
    }

    /// The names of the running jobs, in start order.
    pub fn names(&self) -> Vec<&'static str> {
        self.running.iter().map(|(n, _)| *n).collect()
    }

    /// Tells every job to stop after its current step, and waits up to `limit` in all for them.
    /// A job still busy after that is aborted (and named in the log). Returns how many stopped
    /// on their own.
    pub async fn shutdown(self, limit: Duration) -> usize {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + limit;
        let mut clean = 0;
        for (name, mut handle) in self.running {
            match tokio::time::timeout_at(deadline, &mut handle).await {
                Ok(_) => clean += 1,
                Err(_) => {
                    tracing::warn!(job = name, ?limit, "job did not stop in time; aborted");
                    handle.abort();
                }
            }
        }
        clean
    }
}

/// The pause before the next step: `interval`, doubled per failed step in a row when the job
/// backs off, never above `max` (nor below `interval`).
pub fn pause_after(interval: Duration, failures: u32, max: Option<Duration>) -> Duration {
    match max {
        Some(max) if failures > 0 => interval
            .saturating_mul(2u32.saturating_pow(failures.min(31)))
            .min(max)
            .max(interval),
        _ => interval,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn failing_steps_back_off_doubling_up_to_the_cap() {
        let s = Duration::from_secs;
        let cap = Some(s(900));
        let pauses: Vec<u64> = (0..8).map(|f| pause_after(s(60), f, cap).as_secs()).collect();
        assert_eq!(pauses, [60, 120, 240, 480, 900, 900, 900, 900]);
        // Without a cap the interval holds; a cap below the interval never shortens it.
        assert_eq!(pause_after(s(60), 5, None), s(60));
        assert_eq!(pause_after(s(60), 3, Some(s(10))), s(60));
        // No overflow however long the outage.
        assert_eq!(pause_after(s(60), u32::MAX, cap), s(900));
    }

    /// A job whose steps take `step` and count how many finished.
    struct Slow {
        step: Duration,
        started: Arc<AtomicUsize>,
        finished: Arc<AtomicUsize>,
    }

    #[async_trait]
    impl Job for Slow {
        type Report = usize;
        fn name(&self) -> &'static str {
            "slow"
        }
        fn interval(&self) -> Duration {
            Duration::from_millis(10)
        }
        async fn run_once(&self) -> anyhow::Result<usize> {
            self.started.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.step).await;
            Ok(self.finished.fetch_add(1, Ordering::SeqCst) + 1)
        }
    }

    fn slow(step: Duration) -> (Slow, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let (s, f) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        (
            Slow {
                step,
                started: s.clone(),
                finished: f.clone(),
            },
            s,
            f,
        )
    }

    #[tokio::test]
    async fn shutdown_waits_for_the_step_in_flight() {
        let (job, started, finished) = slow(Duration::from_millis(300));
        let mut jobs = Jobs::new();
        jobs.spawn(job);
        assert_eq!(jobs.names(), ["slow"]);
        while started.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Stop in the middle of the first step: it completes, no second step starts.
        assert_eq!(jobs.shutdown(Duration::from_secs(5)).await, 1);
        assert_eq!(finished.load(Ordering::SeqCst), 1);
        assert_eq!(started.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_step_that_overruns_the_limit_is_aborted() {
        let (job, started, finished) = slow(Duration::from_secs(3600));
        let mut jobs = Jobs::new();
        jobs.spawn(job);
        while started.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let t = std::time::Instant::now();
        assert_eq!(jobs.shutdown(Duration::from_millis(200)).await, 0);
        assert!(t.elapsed() < Duration::from_secs(2));
        assert_eq!(finished.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn steps_repeat_at_the_interval_until_stopped() {
        let (job, _, finished) = slow(Duration::from_millis(1));
        let mut jobs = Jobs::new();
        jobs.spawn(job);
        while finished.load(Ordering::SeqCst) < 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(jobs.shutdown(Duration::from_secs(1)).await, 1);
        let after = finished.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(finished.load(Ordering::SeqCst), after, "no step after shutdown");
    }
}
