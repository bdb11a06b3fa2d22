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
/// How long a pass may hold the lease before another instance may assume its holder died.
pub const LEASE_TTL: Duration = Duration::from_secs(600);
/// The longest pause between passes while they keep failing.
pub const MAX_BACKOFF: Duration = Duration::from_secs(900);

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
        let result =
            reconcile::run_pass(self.store.as_ref(), &self.whop.client, &self.whop.company_id, None, now).await;
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
