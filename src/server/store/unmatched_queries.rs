//! Paid Whop payments waiting for an admin (`unmatched_payments`) and the audit log their
//! actions write. SQL shared by both backends, implemented per store type by
//! `impl_unmatched_queries!` (see `queries.rs` for why a macro).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::StoreError;
use crate::model::OrderId;

/// Why a payment was not credited on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnmatchedKind {
    /// No order matches it (no metadata, an unknown checkout).
    NoOrder,
    /// Its order held it (wrong amount or currency, the order paid by another payment).
    Held,
}

impl UnmatchedKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UnmatchedKind::NoOrder => "no_order",
            UnmatchedKind::Held => "held",
        }
    }
}

/// A payment to queue for an admin.
#[derive(Debug, Clone)]
pub struct NewUnmatchedPayment {
    pub payment_id: String,
    pub kind: UnmatchedKind,
    pub reason: String,
    pub order_id: Option<OrderId>,
    pub email: Option<String>,
    pub amount_cents: i64,
    pub currency: String,
    pub checkout_id: Option<String>,
    pub whop_plan_id: Option<String>,
    pub whop_user_id: Option<String>,
    /// The webhook body or API object the payment was read from, verbatim.
    pub raw_event: String,
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct UnmatchedPaymentRow {
    pub id: i64,
    pub payment_id: String,
    pub kind: String,
    pub reason: String,
    pub order_id: Option<i64>,
    pub email: Option<String>,
    pub amount_cents: i64,
    pub currency: String,
    pub checkout_id: Option<String>,
    pub whop_plan_id: Option<String>,
    pub whop_user_id: Option<String>,
    pub raw_event: String,
    /// open, attached, resolved.
    pub status: String,
    pub attached_order_id: Option<i64>,
    pub resolved_by: Option<String>,
    pub resolution_note: Option<String>,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

pub const UNMATCHED_COLUMNS: &str = "id, payment_id, kind, reason, order_id, email, amount_cents, currency, \
     checkout_id, whop_plan_id, whop_user_id, raw_event, status, attached_order_id, resolved_by, resolution_note, \
     created_at, resolved_at";

/// One audit log line: who did what to what, with the state before and after (JSON).
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub before_value: Option<String>,
    pub after_value: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The admin alert for a newly queued payment (raised with the row, see `record_unmatched`).
pub fn unmatched_alert(row: &UnmatchedPaymentRow) -> super::alert_queries::NewAlert {
    let amount = crate::model::Cents(row.amount_cents).format(&row.currency);
    super::alert_queries::NewAlert {
        kind: "unmatched_payment",
        subject: format!("payment:{}", row.payment_id),
        message: format!(
            "Paid payment {} ({amount}) was not credited and waits in the unmatched queue: {}",
            row.payment_id, row.reason
        ),
        dedupe_key: format!("unmatched_payment:{}", row.payment_id),
    }
}

#[async_trait]
pub trait UnmatchedQueries: Send + Sync {
    /// Queues a payment; one row per payment id, so a repeat (a redelivery, reconciliation
    /// finding it again) returns the row already there with `false`.
    async fn record_unmatched(&self, p: &NewUnmatchedPayment) -> Result<(UnmatchedPaymentRow, bool), StoreError>;
    async fn unmatched_by_id(&self, id: i64) -> Result<Option<UnmatchedPaymentRow>, StoreError>;
    async fn unmatched_by_payment(&self, payment_id: &str) -> Result<Option<UnmatchedPaymentRow>, StoreError>;
    /// Newest first, below `before_id` (keyset pagination); only `status` when given.
    async fn list_unmatched(
        &self,
        status: Option<&str>,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<UnmatchedPaymentRow>, StoreError>;
    async fn count_open_unmatched(&self) -> Result<i64, StoreError>;
    /// Closes an open row: `attached` (with the order that credited it) or `resolved`, and writes
    /// the audit line in the same transaction. False when it was not open any more (someone else
    /// acted first): nothing written.
    async fn close_unmatched(
        &self,
        id: i64,
        status: &str,
        attached_order: Option<OrderId>,
        note: &str,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    async fn record_audit(&self, entry: &AuditEntry, now: DateTime<Utc>) -> Result<(), StoreError>;
    /// Newest first.
    async fn list_audit(&self, limit: i64) -> Result<Vec<AuditRow>, StoreError>;
}

macro_rules! impl_unmatched_queries {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::server::store::unmatched_queries::UnmatchedQueries for $store {
            async fn record_unmatched(
                &self,
                p: &$crate::server::store::unmatched_queries::NewUnmatchedPayment,
            ) -> Result<
                (
                    $crate::server::store::unmatched_queries::UnmatchedPaymentRow,
                    bool,
                ),
                StoreError,
            > {
                use $crate::server::store::unmatched_queries::{UnmatchedPaymentRow, UNMATCHED_COLUMNS};
                let _permit = self.write_permit().await;
                let now = chrono::Utc::now();
                // The admin alert is written in the same transaction as the row: a queued payment
                // always has its alert, and a repeat (the row exists) raises none.
                let mut tx = self.pool.begin().await?;
                let q = format!(
                    "insert into unmatched_payments (payment_id, kind, reason, order_id, email, amount_cents, \
                     currency, checkout_id, whop_plan_id, whop_user_id, raw_event, status, created_at) \
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'open', $12) \
                     on conflict (payment_id) do nothing returning {UNMATCHED_COLUMNS}"
                );
                let inserted = sqlx::query_as::<_, UnmatchedPaymentRow>(&q)
                    .bind(&p.payment_id)
                    .bind(p.kind.as_str())
                    .bind(&p.reason)
                    .bind(p.order_id.map(|o| o.0))
                    .bind(&p.email)
                    .bind(p.amount_cents)
                    .bind(&p.currency)
                    .bind(&p.checkout_id)
                    .bind(&p.whop_plan_id)
                    .bind(&p.whop_user_id)
                    .bind(&p.raw_event)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some(row) = inserted {
                    let alert = $crate::server::store::unmatched_queries::unmatched_alert(&row);
                    sqlx::query($crate::server::store::alert_queries::INSERT_ALERT)
                        .bind(alert.kind)
                        .bind(&alert.subject)
                        .bind(&alert.message)
                        .bind(&alert.dedupe_key)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    return Ok((row, true));
                }
                tx.rollback().await?;
                let q = format!("select {UNMATCHED_COLUMNS} from unmatched_payments where payment_id = $1");
                let row = sqlx::query_as::<_, UnmatchedPaymentRow>(&q)
                    .bind(&p.payment_id)
                    .fetch_one(&self.pool)
                    .await?;
                Ok((row, false))
            }

            async fn unmatched_by_id(
                &self,
                id: i64,
            ) -> Result<Option<$crate::server::store::unmatched_queries::UnmatchedPaymentRow>, StoreError> {
                use $crate::server::store::unmatched_queries::{UnmatchedPaymentRow, UNMATCHED_COLUMNS};
                let q = format!("select {UNMATCHED_COLUMNS} from unmatched_payments where id = $1");
                Ok(sqlx::query_as::<_, UnmatchedPaymentRow>(&q)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn unmatched_by_payment(
                &self,
                payment_id: &str,
            ) -> Result<Option<$crate::server::store::unmatched_queries::UnmatchedPaymentRow>, StoreError> {
                use $crate::server::store::unmatched_queries::{UnmatchedPaymentRow, UNMATCHED_COLUMNS};
                let q = format!("select {UNMATCHED_COLUMNS} from unmatched_payments where payment_id = $1");
                Ok(sqlx::query_as::<_, UnmatchedPaymentRow>(&q)
                    .bind(payment_id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn list_unmatched(
                &self,
                status: Option<&str>,
                before_id: Option<i64>,
                limit: i64,
            ) -> Result<Vec<$crate::server::store::unmatched_queries::UnmatchedPaymentRow>, StoreError> {
                use $crate::server::store::unmatched_queries::{UnmatchedPaymentRow, UNMATCHED_COLUMNS};
                let q = format!(
                    "select {UNMATCHED_COLUMNS} from unmatched_payments \
                     where ($1 is null or status = $1) and id < $2 order by id desc limit $3"
                );
                Ok(sqlx::query_as::<_, UnmatchedPaymentRow>(&q)
                    .bind(status)
                    .bind(before_id.unwrap_or(i64::MAX))
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn count_open_unmatched(&self) -> Result<i64, StoreError> {
                Ok(
                    sqlx::query_scalar("select count(*) from unmatched_payments where status = 'open'")
                        .fetch_one(&self.pool)
                        .await?,
                )
            }

            async fn close_unmatched(
                &self,
                id: i64,
                status: &str,
                attached_order: Option<$crate::model::OrderId>,
                note: &str,
                audit: &$crate::server::store::unmatched_queries::AuditEntry,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<bool, StoreError> {
                let _permit = self.write_permit().await;
                let mut tx = self.pool.begin().await?;
                let done = sqlx::query(
                    "update unmatched_payments set status = $1, attached_order_id = $2, resolved_by = $3, \
                     resolution_note = $4, resolved_at = $5 where id = $6 and status = 'open'",
                )
                .bind(status)
                .bind(attached_order.map(|o| o.0))
                .bind(&audit.actor)
                .bind(note)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    tx.rollback().await?;
                    return Ok(false);
                }
                $crate::server::store::audit::insert_audit!(
                    &mut *tx,
                    &audit.actor,
                    &audit.action,
                    &audit.subject,
                    &audit.before,
                    &audit.after,
                    now
                );
                tx.commit().await?;
                Ok(true)
            }

            async fn record_audit(
                &self,
                e: &$crate::server::store::unmatched_queries::AuditEntry,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), StoreError> {
                let _permit = self.write_permit().await;
                $crate::server::store::audit::insert_audit!(
                    &self.pool, &e.actor, &e.action, &e.subject, &e.before, &e.after, now
                );
                Ok(())
            }

            async fn list_audit(
                &self,
                limit: i64,
            ) -> Result<Vec<$crate::server::store::unmatched_queries::AuditRow>, StoreError> {
                Ok(
                    sqlx::query_as::<_, $crate::server::store::unmatched_queries::AuditRow>(
                        "select id, actor, action, subject, before_value, after_value, created_at from audit_log \
                     order by id desc limit $1",
                    )
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?,
                )
            }
        }
    };
}
pub(crate) use impl_unmatched_queries;
