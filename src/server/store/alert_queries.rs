//! Admin alerts (`alerts`): raised once per condition (a unique dedupe key), listed and
//! acknowledged by admins, and delivered to `ADMIN_ALERT_WEBHOOK_URL` by the `alert_delivery`
//! job, which claims each due row with a conditional update so two instances never send one
//! alert twice. SQL shared by both backends (`impl_alert_queries!`, see `queries.rs` for why a
//! macro).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::unmatched_queries::AuditEntry;
use super::StoreError;

/// A condition to tell the admins about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    /// payment_failed, unmatched_payment, webhook_failing, reconcile_error.
    pub kind: &'static str,
    /// What it is about, e.g. `order:12`, `payment:pay_...`, `webhook:msg_...`.
    pub subject: String,
    pub message: String,
    /// The same condition seen again raises nothing (unique in the table).
    pub dedupe_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct AlertRow {
    pub id: i64,
    pub kind: String,
    pub subject: String,
    pub message: String,
    pub dedupe_key: String,
    /// open, acknowledged.
    pub status: String,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// pending, sending, delivered, failed.
    pub delivery_status: String,
    pub delivery_attempts: i32,
    pub next_delivery_at: DateTime<Utc>,
    pub last_delivery_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
}

pub const ALERT_COLUMNS: &str = "id, kind, subject, message, dedupe_key, status, acknowledged_by, acknowledged_at, \
     created_at, delivery_status, delivery_attempts, next_delivery_at, last_delivery_error, delivered_at";

/// Inserts an alert unless its dedupe key exists: `$1` kind, `$2` subject, `$3` message,
/// `$4` dedupe key, `$5` now (also when its delivery is first due).
pub const INSERT_ALERT: &str = "insert into alerts (kind, subject, message, dedupe_key, status, created_at, \
     delivery_status, delivery_attempts, next_delivery_at) values ($1, $2, $3, $4, 'open', $5, 'pending', 0, $5) \
     on conflict (dedupe_key) do nothing";

/// How a delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryResult {
    Delivered,
    /// Try again at this time.
    Retry {
        error: String,
        at: DateTime<Utc>,
    },
    /// Given up.
    Failed {
        error: String,
    },
}

#[async_trait]
pub trait AlertQueries: Send + Sync {
    /// Raises an alert; false when its dedupe key was raised before (nothing written).
    async fn raise_alert(&self, alert: &NewAlert, now: DateTime<Utc>) -> Result<bool, StoreError>;
    async fn alert_by_id(&self, id: i64) -> Result<Option<AlertRow>, StoreError>;
    /// Newest first, below `before_id` (keyset pagination); only `status` when given.
    async fn list_alerts(
        &self,
        status: Option<&str>,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AlertRow>, StoreError>;
    async fn count_open_alerts(&self) -> Result<i64, StoreError>;
    /// Acknowledges one open alert and writes the audit line in the same transaction; false when
    /// it was not open (nothing written).
    async fn acknowledge_alert(&self, id: i64, audit: &AuditEntry, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Acknowledges every open alert with an id up to `up_to_id` (what the admin saw), with one
    /// audit line in the same transaction; how many.
    async fn acknowledge_all_alerts(
        &self,
        up_to_id: i64,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;
    /// Claims up to `limit` alerts whose delivery is due (pending and due, or `sending` with an
    /// expired lease: its sender died) until `lease_until`. Each row is claimed by a conditional
    /// update, so of two instances racing only one gets it.
    async fn claim_due_alerts(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<AlertRow>, StoreError>;
    /// Records a claimed alert's delivery attempt.
    async fn finish_alert_delivery(
        &self,
        id: i64,
        result: &DeliveryResult,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

macro_rules! impl_alert_queries {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::server::store::alert_queries::AlertQueries for $store {
            async fn raise_alert(
                &self,
                a: &$crate::server::store::alert_queries::NewAlert,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<bool, StoreError> {
                let _permit = self.write_permit().await;
                let done = sqlx::query($crate::server::store::alert_queries::INSERT_ALERT)
                    .bind(a.kind)
                    .bind(&a.subject)
                    .bind(&a.message)
                    .bind(&a.dedupe_key)
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn alert_by_id(
                &self,
                id: i64,
            ) -> Result<Option<$crate::server::store::alert_queries::AlertRow>, StoreError> {
                use $crate::server::store::alert_queries::{AlertRow, ALERT_COLUMNS};
                let q = format!("select {ALERT_COLUMNS} from alerts where id = $1");
                Ok(sqlx::query_as::<_, AlertRow>(&q).bind(id).fetch_optional(&self.pool).await?)
            }

            async fn list_alerts(
                &self,
                status: Option<&str>,
                before_id: Option<i64>,
                limit: i64,
            ) -> Result<Vec<$crate::server::store::alert_queries::AlertRow>, StoreError> {
                use $crate::server::store::alert_queries::{AlertRow, ALERT_COLUMNS};
                // Two shapes rather than `$1 is null or ...`, so each uses the (status, id) index
                // or the primary key alone.
                let before = before_id.unwrap_or(i64::MAX);
                Ok(match status {
                    Some(s) => {
                        let q = format!(
                            "select {ALERT_COLUMNS} from alerts where status = $1 and id < $2 \
                             order by id desc limit $3"
                        );
                        sqlx::query_as::<_, AlertRow>(&q)
                            .bind(s)
                            .bind(before)
                            .bind(limit)
                            .fetch_all(&self.pool)
                            .await?
                    }
                    None => {
                        let q = format!("select {ALERT_COLUMNS} from alerts where id < $1 order by id desc limit $2");
                        sqlx::query_as::<_, AlertRow>(&q)
                            .bind(before)
                            .bind(limit)
                            .fetch_all(&self.pool)
                            .await?
                    }
                })
            }

            async fn count_open_alerts(&self) -> Result<i64, StoreError> {
                Ok(sqlx::query_scalar("select count(*) from alerts where status = 'open'")
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn acknowledge_alert(
                &self,
                id: i64,
                audit: &$crate::server::store::unmatched_queries::AuditEntry,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<bool, StoreError> {
                let _permit = self.write_permit().await;
                let mut tx = self.pool.begin().await?;
                let done = sqlx::query(
                    "update alerts set status = 'acknowledged', acknowledged_by = $1, acknowledged_at = $2 \
                     where id = $3 and status = 'open'",
                )
                .bind(&audit.actor)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    tx.rollback().await?;
                    return Ok(false);
                }
                $crate::server::store::audit::insert_audit!(&mut *tx, &audit.actor, &audit.action, &audit.subject, &audit.before, &audit.after, now);
                tx.commit().await?;
                Ok(true)
            }

            async fn acknowledge_all_alerts(
                &self,
                up_to_id: i64,
                audit: &$crate::server::store::unmatched_queries::AuditEntry,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<u64, StoreError> {
                let _permit = self.write_permit().await;
                let mut tx = self.pool.begin().await?;
                let done = sqlx::query(
                    "update alerts set status = 'acknowledged', acknowledged_by = $1, acknowledged_at = $2 \
                     where status = 'open' and id <= $3",
                )
                .bind(&audit.actor)
                .bind(now)
                .bind(up_to_id)
                .execute(&mut *tx)
                .await?;
                let n = done.rows_affected();
                if n == 0 {
                    tx.rollback().await?;
                    return Ok(0);
                }
                let after = serde_json::json!({ "acknowledged": n, "up_to_id": up_to_id }).to_string();
                $crate::server::store::audit::insert_audit!(&mut *tx, &audit.actor, &audit.action, &audit.subject, &audit.before, after, now);
                tx.commit().await?;
                Ok(n)
            }

            async fn claim_due_alerts(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                lease_until: chrono::DateTime<chrono::Utc>,
                limit: i64,
            ) -> Result<Vec<$crate::server::store::alert_queries::AlertRow>, StoreError> {
                use $crate::server::store::alert_queries::{AlertRow, ALERT_COLUMNS};
                let candidates: Vec<i64> = sqlx::query_scalar(
                    "select id from alerts where (delivery_status = 'pending' and next_delivery_at <= $1) \
                     or (delivery_status = 'sending' and delivery_lease_until < $1) order by id limit $2",
                )
                .bind(now)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                let mut claimed = Vec::new();
                for id in candidates {
                    let _permit = self.write_permit().await;
                    let q = format!(
                        "update alerts set delivery_status = 'sending', delivery_lease_until = $1 \
                         where id = $2 and ((delivery_status = 'pending' and next_delivery_at <= $3) \
                         or (delivery_status = 'sending' and delivery_lease_until < $3)) returning {ALERT_COLUMNS}"
                    );
                    if let Some(row) = sqlx::query_as::<_, AlertRow>(&q)
                        .bind(lease_until)
                        .bind(id)
                        .bind(now)
                        .fetch_optional(&self.pool)
                        .await?
                    {
                        claimed.push(row);
                    }
                }
                Ok(claimed)
            }

            async fn finish_alert_delivery(
                &self,
                id: i64,
                result: &$crate::server::store::alert_queries::DeliveryResult,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), StoreError> {
                use $crate::server::store::alert_queries::DeliveryResult;
                let _permit = self.write_permit().await;
                let (status, error, next, delivered) = match result {
                    DeliveryResult::Delivered => ("delivered", None, now, Some(now)),
                    DeliveryResult::Retry { error, at } => ("pending", Some(error.as_str()), *at, None),
                    DeliveryResult::Failed { error } => ("failed", Some(error.as_str()), now, None),
                };
                sqlx::query(
                    "update alerts set delivery_status = $1, last_delivery_error = $2, next_delivery_at = $3, \
                     delivered_at = $4, delivery_attempts = delivery_attempts + 1, delivery_lease_until = null \
                     where id = $5 and delivery_status = 'sending'",
                )
                .bind(status)
                .bind(error)
                .bind(next)
                .bind(delivered)
                .bind(id)
                .execute(&self.pool)
                .await?;
                Ok(())
            }
        }
    };
}
pub(crate) use impl_alert_queries;
