//! Applies stored webhook events that are still pending: ones whose inline apply in the route
//! never ran (the process stopped between storing and applying) and ones waiting to retry after
//! a transient failure. The same `service::webhook_apply::process` as the route, so a race with
//! the route or another instance ends in one grant and one settled event.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::Job;
use crate::server::service::webhook_apply::{self, Settled};
use crate::server::store::Store;

/// Events taken per step; more wait for the next step, 2 s later.
const BATCH: i64 = 50;

pub struct WebhookApply {
    store: Arc<dyn Store>,
}

/// What one step did with the events it took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebhookApplyReport {
    pub processed: u32,
    pub failed: u32,
    pub ignored: u32,
    /// Transient failures left pending for a later try.
    pub retried: u32,
    /// Settled by someone else meanwhile, or not recordable now (still pending).
    pub skipped: u32,
}

impl WebhookApply {
    pub fn new(store: Arc<dyn Store>) -> WebhookApply {
        WebhookApply { store }
    }

    /// One step as of `now`: the events due by then (tests pass a later time instead of waiting).
    pub async fn run_at(&self, now: DateTime<Utc>) -> anyhow::Result<WebhookApplyReport> {
        let due = self.store.due_webhook_events(now, BATCH).await?;
        let mut report = WebhookApplyReport::default();
        for event in &due {
            match webhook_apply::process(self.store.as_ref(), event, now).await {
                Ok(Settled::Processed(_)) => report.processed += 1,
                Ok(Settled::Failed(_)) => report.failed += 1,
                Ok(Settled::Ignored) => report.ignored += 1,
                Ok(Settled::Retrying(_)) => report.retried += 1,
                Ok(Settled::AlreadySettled) => report.skipped += 1,
                Err(e) => {
                    // Still pending and due: the next step tries again.
                    tracing::warn!(webhook_id = %event.id, error = %e, "webhook event result not recorded");
                    report.skipped += 1;
                }
            }
        }
        Ok(report)
    }
}

#[async_trait]
impl Job for WebhookApply {
    type Report = WebhookApplyReport;

    fn name(&self) -> &'static str {
        "webhook_apply"
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(2)
    }

    async fn run_once(&self) -> anyhow::Result<WebhookApplyReport> {
        self.run_at(Utc::now()).await
    }

    fn is_noteworthy(&self, r: &WebhookApplyReport) -> bool {
        *r != WebhookApplyReport::default()
    }
}
