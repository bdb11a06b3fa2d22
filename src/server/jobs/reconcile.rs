//! Reconciliation every `RECONCILE_INTERVAL_SECS` (see `service::reconcile`). With several
//! instances on one database only the holder of the `reconcile` lease runs a pass; a holder that
//! dies loses the lease when it expires, and another instance takes over.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::Job;
use crate::server::service::alerts;
use crate::server::service::reconcile::{self, ReconcileSummary};
use crate::server::store::Store;
use crate::server::whop::WhopSetup;

/// The lease's name in `job_leases`.
pub const LEASE: &str = "reconcile";
/// How long the lease lasts unless renewed: a holder killed in the middle of a pass (kill -9, a
/// lost machine) holds up every other instance's reconciliation for at most this long. A live
/// holder renews it every third of it (`with_lease_renewed`), so a long pass keeps it. (It was
/// 10 minutes without renewal: the crash-storm test saw a lost webhook wait that long.)
pub const LEASE_TTL: Duration = Duration::from_secs(30);
/// The longest pause between passes while they keep failing.
pub const MAX_BACKOFF: Duration = Duration::from_secs(900);

/// Runs `pass` while renewing this holder's lease, which it must have taken. A pass that loses
/// the lease anyway (a stall longer than the TTL) runs to its end: passes are idempotent, so
/// two at once cost a repeat, never a double effect.
pub async fn with_lease_renewed<T>(store: &dyn Store, holder: &str, pass: impl std::future::Future<Output = T>) -> T {
    tokio::pin!(pass);
    let mut renew = tokio::time::interval(LEASE_TTL / 3);
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    renew.tick().await; // the first tick is at once, and the lease was just taken
    loop {
        tokio::select! {
            out = &mut pass => return out,
            _ = renew.tick() => {
                let now = Utc::now();
                match store.take_lease(LEASE, holder, now, now + chrono::Duration::from_std(LEASE_TTL).unwrap_or_default()).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!("the reconcile lease was taken over during a long pass"),
                    Err(e) => tracing::warn!(error = %e, "could not renew the reconcile lease"),
                }
            }
        }
    }
}

pub struct Reconcile {
    store: Arc<dyn Store>,
    whop: Arc<WhopSetup>,
    interval: Duration,
    /// This instance's name as a lease holder.
    holder: String,
}

/// One step: a pass, or why there was none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReconcileReport {
    Pass(ReconcileSummary),
    /// Another instance holds the lease.
    NotLeaseHolder,
}

impl Reconcile {
    pub fn new(store: Arc<dyn Store>, whop: Arc<WhopSetup>, interval: Duration) -> Reconcile {
        let holder = format!(
            "{}-{}",
            std::process::id(),
            crate::server::service::auth::random_token()
        );
        Reconcile {
            store,
            whop,
            interval,
            holder,
        }
    }

    /// One step as of `now` (tests pass a later time instead of waiting for the grace period).
    pub async fn run_at(&self, now: DateTime<Utc>) -> anyhow::Result<ReconcileReport> {
        let until = now + chrono::Duration::from_std(LEASE_TTL)?;
        if !self.store.take_lease(LEASE, &self.holder, now, until).await? {
            return Ok(ReconcileReport::NotLeaseHolder);
        }
        let pass = reconcile::run_pass(self.store.as_ref(), &self.whop.client, &self.whop.company_id, None, now);
        let result = with_lease_renewed(self.store.as_ref(), &self.holder, pass).await;
        crate::server::metrics::reconcile_run(result.is_err());
        // Give the lease back even after a failed pass, so the next interval (here or on
        // another instance) tries again at once rather than after the TTL.
        self.store.release_lease(LEASE, &self.holder).await?;
        match &result {
            Err(e) => alerts::raise(self.store.as_ref(), alerts::reconcile_error(now, &e.to_string())).await,
            Ok(summary) if summary.errors > 0 => {
                let detail = format!(
                    "{} payments could not be checked or applied (see the log)",
                    summary.errors
                );
                alerts::raise(self.store.as_ref(), alerts::reconcile_error(now, &detail)).await
            }
            Ok(_) => {}
        }
        Ok(ReconcileReport::Pass(result?))
    }
}

#[async_trait]
impl Job for Reconcile {
    type Report = ReconcileReport;

    fn name(&self) -> &'static str {
        "reconcile"
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    async fn run_once(&self) -> anyhow::Result<ReconcileReport> {
        self.run_at(Utc::now()).await
    }

    /// A pass that failed (Whop unreachable, erroring or slow) waits twice as long each time,
    /// up to `MAX_BACKOFF`: Whop is not hammered while down, and other work is untouched.
    fn max_backoff(&self) -> Option<Duration> {
        Some(MAX_BACKOFF)
    }

    fn is_noteworthy(&self, _report: &ReconcileReport) -> bool {
        // A pass logs its own summary line.
        false
    }
}
