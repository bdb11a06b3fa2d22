//! Hourly housekeeping: deletes expired sessions (they are refused anyway; this keeps the table
//! small), rate-limit windows that have ended, and sign-in links and widget tokens a day past their
//! expiry.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;

use super::Job;
use crate::server::service::rate_limit;
use crate::server::store::Store;

/// How long an expired sign-in link is kept before it is deleted.
pub const KEEP_EXPIRED_LINKS_HOURS: i64 = 24;

pub struct Housekeeping {
    store: Arc<dyn Store>,
}

/// What one housekeeping step removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HousekeepingReport {
    pub expired_sessions: u64,
    /// Sign-in links expired for more than `KEEP_EXPIRED_LINKS_HOURS` (kept that long so a late click
    /// still gets the "expired" page rather than "not valid").
    pub expired_sign_in_links: u64,
    /// Rate-limit counters whose window has ended.
    pub ended_rate_limit_windows: u64,
    /// Widget tokens that expired more than a day ago.
    pub expired_widget_tokens: u64,
}

impl Housekeeping {
    pub fn new(store: Arc<dyn Store>) -> Housekeeping {
        Housekeeping { store }
    }
}

#[async_trait]
impl Job for Housekeeping {
    type Report = HousekeepingReport;

    fn name(&self) -> &'static str {
        "housekeeping"
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(3600)
    }

    async fn run_once(&self) -> anyhow::Result<HousekeepingReport> {
        let now = Utc::now();
        let expired_sessions = self.store.delete_expired_sessions(now).await?;
        let ended_rate_limit_windows = rate_limit::prune_ended(self.store.as_ref(), now.timestamp()).await?;
        let expired_sign_in_links = self
            .store
            .delete_expired_sign_in_links(now - chrono::Duration::hours(KEEP_EXPIRED_LINKS_HOURS))
            .await?;
        let expired_widget_tokens = self
            .store
            .delete_expired_widget_tokens(now - chrono::Duration::days(1))
            .await?;
        Ok(HousekeepingReport {
            expired_sessions,
            expired_sign_in_links,
            ended_rate_limit_windows,
            expired_widget_tokens,
        })
    }

    fn is_noteworthy(&self, r: &HousekeepingReport) -> bool {
        *r != HousekeepingReport::default()
    }
}
