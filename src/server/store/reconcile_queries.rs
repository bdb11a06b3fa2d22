//! What reconciliation and the waiting refunds and disputes need from the store: a lease so one
//! instance reconciles at a time, watermarks of how far Whop's changes were read, the orders
//! still waiting for a payment, and the events waiting for a payment to be credited. SQL shared
//! by both backends (`impl_reconcile_queries!`, see `queries.rs` for why a macro).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::rows::{OrderRow, WebhookEventRow};
use super::StoreError;

#[async_trait]
pub trait ReconcileQueries: Send + Sync {
    /// Takes (or renews) the lease `name` for `holder` until `until`, if it is free, expired or
    /// already this holder's: one conditional update, so two instances racing get one winner.
    async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Gives the lease back early (only if this holder still has it).
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;

    async fn watermark(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
    async fn set_watermark(&self, name: &str, value: DateTime<Utc>) -> Result<(), StoreError>;

    /// Whop orders still waiting for their payment that were created between `from` and `to`
    /// (old enough that a webhook should have come), with a checkout at Whop, oldest first.
    async fn pending_whop_orders(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OrderRow>, StoreError>;

    /// Whether a Whop plan or product is one a credits plan is sold under (a payment for
    /// anything else the account sells is none of this app's business).
    async fn sells_credits(
        &self,
        whop_plan_id: Option<&str>,
        whop_product_id: Option<&str>,
    ) -> Result<bool, StoreError>;

    /// The cents of an order refunded so far (the sum of its applied Whop refunds).
    async fn order_refunded_cents(&self, order: crate::model::OrderId) -> Result<i64, StoreError>;

    /// Pending events about this payment (refunds and disputes waiting for it to be credited).
    async fn pending_events_for_payment(&self, payment_id: &str) -> Result<Vec<WebhookEventRow>, StoreError>;
    /// Makes the pending events about this payment due now; how many.
    async fn wake_events_for_payment(&self, payment_id: &str, now: DateTime<Utc>) -> Result<u64, StoreError>;
}

macro_rules! impl_reconcile_queries {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::server::store::reconcile_queries::ReconcileQueries for $store {
            async fn take_lease(
                &self,
                name: &str,
                holder: &str,
                now: chrono::DateTime<chrono::Utc>,
                until: chrono::DateTime<chrono::Utc>,
            ) -> Result<bool, StoreError> {
                let _permit = self.write_permit().await;
                let done = sqlx::query(
                    "update job_leases set holder = $1, expires_at = $2 \
                     where name = $3 and (holder is null or holder = $1 or expires_at < $4)",
                )
                .bind(holder)
                .bind(until)
                .bind(name)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
                let _permit = self.write_permit().await;
                sqlx::query("update job_leases set holder = null where name = $1 and holder = $2")
                    .bind(name)
                    .bind(holder)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn watermark(&self, name: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
                Ok(
                    sqlx::query_scalar("select value from reconcile_watermarks where name = $1")
                        .bind(name)
                        .fetch_optional(&self.pool)
                        .await?,
                )
            }

            async fn set_watermark(&self, name: &str, value: chrono::DateTime<chrono::Utc>) -> Result<(), StoreError> {
                let _permit = self.write_permit().await;
                sqlx::query(
                    "insert into reconcile_watermarks (name, value, updated_at) values ($1, $2, $3) \
                     on conflict (name) do update set value = excluded.value, updated_at = excluded.updated_at",
                )
                .bind(name)
                .bind(value)
                .bind(chrono::Utc::now())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn pending_whop_orders(
                &self,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
                limit: i64,
            ) -> Result<Vec<$crate::server::store::OrderRow>, StoreError> {
                let q = format!(
                    "select {} from credit_orders where payment_method = 'whop' and payment_status = 'pending' \
                     and whop_checkout_id is not null and created_at >= $1 and created_at < $2 \
                     order by created_at, id limit $3",
                    sql::ORDER_COLUMNS
                );
                Ok(sqlx::query_as::<_, $crate::server::store::OrderRow>(&q)
                    .bind(from)
                    .bind(to)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn sells_credits(
                &self,
                whop_plan_id: Option<&str>,
                whop_product_id: Option<&str>,
            ) -> Result<bool, StoreError> {
                let n: i64 = sqlx::query_scalar(
                    "select count(*) from whop_plans where whop_plan_id = $1 or whop_product_id = $2",
                )
                .bind(whop_plan_id)
                .bind(whop_product_id)
                .fetch_one(&self.pool)
                .await?;
                Ok(n > 0)
            }

            async fn order_refunded_cents(&self, order: $crate::model::OrderId) -> Result<i64, StoreError> {
                Ok(sqlx::query_scalar(
                    "select cast(coalesce(sum(amount_cents), 0) as bigint) from order_refunds where order_id = $1",
                )
                .bind(order.0)
                .fetch_one(&self.pool)
                .await?)
            }

            async fn pending_events_for_payment(
                &self,
                payment_id: &str,
            ) -> Result<Vec<$crate::server::store::WebhookEventRow>, StoreError> {
                let q = format!(
                    "select {} from webhook_events where payment_id = $1 and status = 'pending' \
                     order by received_at, id",
                    sql::WEBHOOK_EVENT_COLUMNS
                );
                Ok(sqlx::query_as::<_, $crate::server::store::WebhookEventRow>(&q)
                    .bind(payment_id)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn wake_events_for_payment(
                &self,
                payment_id: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<u64, StoreError> {
                let _permit = self.write_permit().await;
                let done = sqlx::query(
                    "update webhook_events set next_attempt_at = $1 \
                     where payment_id = $2 and status = 'pending' and next_attempt_at > $1",
                )
                .bind(now)
                .bind(payment_id)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected())
            }
        }
    };
}
pub(crate) use impl_reconcile_queries;
