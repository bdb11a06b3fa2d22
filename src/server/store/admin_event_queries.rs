//! What the admin's webhook log, audit log and metrics pages read: filtered keyset pages of
//! `webhook_events` and `audit_log`, re-opening an event for a replay, and the raw facts the
//! metrics are computed from. SQL shared by both backends (`impl_admin_event_queries!`, see
//! `queries.rs` for why a macro). Times are bound as `DateTime<Utc>`, stored by sqlx as RFC 3339
//! text in SQLite (which compares in time order) and as timestamptz in PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::rows::WebhookEventRow;
use super::unmatched_queries::AuditRow;
use super::StoreError;

/// The newest possible keyset cursor: later than any stored time on both backends (and, as
/// SQLite text, greater than any "20xx-..." time).
pub fn cursor_start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("9999-12-31T23:59:59Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Which webhook events to list.
#[derive(Debug, Clone, Default)]
pub struct WebhookFilter {
    pub status: Option<String>,
    pub event_type: Option<String>,
    /// Only events strictly older than this (received_at, id), newest first.
    pub before: Option<(DateTime<Utc>, String)>,
}

/// How a text filter matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextMatch {
    Exact(String),
    Prefix(String),
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<TextMatch>,
    pub action: Option<TextMatch>,
    pub before_id: Option<i64>,
}

/// An order paid in the period (by `paid_at`), for revenue per day and time to credit.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct PaidOrderFact {
    pub payment_method: String,
    pub price_cents: i64,
    pub credits_amount: i64,
    pub created_at: DateTime<Utc>,
    pub paid_at: DateTime<Utc>,
    pub credited_at: Option<DateTime<Utc>>,
}

/// A Whop refund applied in the period.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct RefundFact {
    pub amount_cents: i64,
    pub created_at: DateTime<Utc>,
}

/// A manual order approved (credited) in the period: created -> credited is its wait.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct ApprovedManualFact {
    pub created_at: DateTime<Utc>,
    pub credited_at: DateTime<Utc>,
}

/// Everything the metrics of one period are computed from (`service::metrics`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsFacts {
    /// Whop orders created in the period, how many of them are paid, how many failed.
    pub whop_created: i64,
    pub whop_created_paid: i64,
    pub whop_created_failed: i64,
    /// Orders of either method paid in the period (at most the fetch limit, newest last).
    pub paid: Vec<PaidOrderFact>,
    pub refunds: Vec<RefundFact>,
    pub approved_manual: Vec<ApprovedManualFact>,
    /// Disputes opened in the period (their `dispute_hold` ledger rows).
    pub disputes: i64,
    /// Payments queued as unmatched in the period.
    pub unmatched: i64,
}

#[async_trait]
pub trait AdminEventQueries: Send + Sync {
    /// Webhook events newest first by (received_at, id), filtered.
    async fn list_webhook_page(&self, f: &WebhookFilter, limit: i64) -> Result<Vec<WebhookEventRow>, StoreError>;
    /// Makes a settled event pending and due now again, for a replay through `process`.
    /// False when there is no such event.
    async fn reopen_webhook_event(&self, id: &str) -> Result<bool, StoreError>;
    async fn count_pending_webhook_events(&self) -> Result<i64, StoreError>;
    /// Audit lines newest first, below `before_id`, filtered.
    async fn list_audit_page(&self, f: &AuditFilter, limit: i64) -> Result<Vec<AuditRow>, StoreError>;
    /// The facts of [from, to); each list holds at most `limit` rows.
    async fn metrics_facts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: i64,
    ) -> Result<MetricsFacts, StoreError>;
}

macro_rules! impl_admin_event_queries {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::server::store::admin_event_queries::AdminEventQueries for $store {
            async fn list_webhook_page(
                &self,
                f: &$crate::server::store::admin_event_queries::WebhookFilter,
                limit: i64,
            ) -> Result<Vec<$crate::server::store::WebhookEventRow>, StoreError> {
                use $crate::server::store::admin_event_queries::cursor_start;
                // Conditions only for the filters given, so each query can use its index
                // (status or type, then received_at, id) instead of an `is null or` that cannot.
                let mut q = format!(
                    "select {} from webhook_events where received_at <= $1 and (received_at < $1 or id < $2)",
                    sql::WEBHOOK_EVENT_COLUMNS
                );
                let mut n = 2;
                if f.status.is_some() {
                    n += 1;
                    q.push_str(&format!(" and status = ${n}"));
                }
                if f.event_type.is_some() {
                    n += 1;
                    q.push_str(&format!(" and event_type = ${n}"));
                }
                q.push_str(&format!(" order by received_at desc, id desc limit ${}", n + 1));
                let (at, id) = match &f.before {
                    Some((at, id)) => (*at, id.clone()),
                    // Nothing is stored at the start cursor's time, so the id is never compared.
                    None => (cursor_start(), String::new()),
                };
                let mut query = sqlx::query_as::<_, $crate::server::store::WebhookEventRow>(&q)
                    .bind(at)
                    .bind(id);
                if let Some(s) = &f.status {
                    query = query.bind(s.clone());
                }
                if let Some(t) = &f.event_type {
                    query = query.bind(t.clone());
                }
                Ok(query.bind(limit).fetch_all(&self.pool).await?)
            }

            async fn reopen_webhook_event(&self, id: &str) -> Result<bool, StoreError> {
                let _permit = self.write_permit().await;
                let done =
                    sqlx::query("update webhook_events set status = 'pending', next_attempt_at = null where id = $1")
                        .bind(id)
                        .execute(&self.pool)
                        .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn count_pending_webhook_events(&self) -> Result<i64, StoreError> {
                Ok(
                    sqlx::query_scalar("select count(*) from webhook_events where status = 'pending'")
                        .fetch_one(&self.pool)
                        .await?,
                )
            }

            async fn list_audit_page(
                &self,
                f: &$crate::server::store::admin_event_queries::AuditFilter,
                limit: i64,
            ) -> Result<Vec<$crate::server::store::AuditRow>, StoreError> {
                use $crate::server::store::admin_event_queries::TextMatch;
                let mut q = String::from(
                    "select id, actor, action, subject, before_value, after_value, created_at from audit_log \
                     where id < $1",
                );
                let mut n = 1;
                let mut binds: Vec<String> = Vec::new();
                for (column, m) in [("actor", &f.actor), ("action", &f.action)] {
                    match m {
                        None => {}
                        // Exact: the (column, id) index. Prefix: compared on the leading
                        // characters, which means the same on both backends (LIKE differs in case
                        // rules); it walks the id order until the page is full.
                        Some(TextMatch::Exact(v)) => {
                            n += 1;
                            q.push_str(&format!(" and {column} = ${n}"));
                            binds.push(v.clone());
                        }
                        Some(TextMatch::Prefix(v)) => {
                            n += 1;
                            q.push_str(&format!(" and substr({column}, 1, length(${n})) = ${n}"));
                            binds.push(v.clone());
                        }
                    }
                }
                q.push_str(&format!(" order by id desc limit ${}", n + 1));
                let mut query =
                    sqlx::query_as::<_, $crate::server::store::AuditRow>(&q).bind(f.before_id.unwrap_or(i64::MAX));
                for b in binds {
                    query = query.bind(b);
                }
                Ok(query.bind(limit).fetch_all(&self.pool).await?)
            }

            async fn metrics_facts(
                &self,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
                limit: i64,
            ) -> Result<$crate::server::store::admin_event_queries::MetricsFacts, StoreError> {
                use $crate::server::store::admin_event_queries::{
                    ApprovedManualFact, MetricsFacts, PaidOrderFact, RefundFact,
                };
                let (whop_created, whop_created_paid, whop_created_failed): (i64, i64, i64) = sqlx::query_as(
                    "select count(*), \
                     count(case when paid_at is not null then 1 end), \
                     count(case when paid_at is null and payment_status = 'failed' then 1 end) \
                     from credit_orders where payment_method = 'whop' and created_at >= $1 and created_at < $2",
                )
                .bind(from)
                .bind(to)
                .fetch_one(&self.pool)
                .await?;
                let paid = sqlx::query_as::<_, PaidOrderFact>(
                    "select payment_method, price_cents, credits_amount, created_at, paid_at, credited_at \
                     from credit_orders where paid_at >= $1 and paid_at < $2 order by paid_at limit $3",
                )
                .bind(from)
                .bind(to)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                let refunds = sqlx::query_as::<_, RefundFact>(
                    "select amount_cents, created_at from order_refunds \
                     where created_at >= $1 and created_at < $2 order by created_at limit $3",
                )
                .bind(from)
                .bind(to)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                let approved_manual = sqlx::query_as::<_, ApprovedManualFact>(
                    "select created_at, credited_at from credit_orders \
                     where payment_method = 'manual' and status = 'approved' \
                     and credited_at >= $1 and credited_at < $2 order by credited_at limit $3",
                )
                .bind(from)
                .bind(to)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                let disputes: i64 = sqlx::query_scalar(
                    "select count(*) from credit_transactions \
                     where kind = 'dispute_hold' and created_at >= $1 and created_at < $2",
                )
                .bind(from)
                .bind(to)
                .fetch_one(&self.pool)
                .await?;
                let unmatched: i64 = sqlx::query_scalar(
                    "select count(*) from unmatched_payments where created_at >= $1 and created_at < $2",
                )
                .bind(from)
                .bind(to)
                .fetch_one(&self.pool)
                .await?;
                Ok(MetricsFacts {
                    whop_created,
                    whop_created_paid,
                    whop_created_failed,
                    paid,
                    refunds,
                    approved_manual,
                    disputes,
                    unmatched,
                })
            }
        }
    };
}
pub(crate) use impl_admin_event_queries;
