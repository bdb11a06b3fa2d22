//! The store's orders, plans and webhook-event processing state, with SQL shared by both
//! backends (implemented once per store type by `impl_order_queries!`, like `Queries`). The one
//! write that must lock (fulfilling an order together with its ledger entry) is `Store::fulfil_order`,
//! per backend.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::rows::{NewOrder, OrderRow, PlanRow, WebhookEventRow};
use super::StoreError;
use crate::model::{OrderId, UserId};

#[async_trait]
pub trait OrderQueries: Send + Sync {
    async fn plan_by_id(&self, id: i64) -> Result<Option<PlanRow>, StoreError>;
    /// Records the Whop product and plan a plan is sold under. Each id is set only while it is
    /// still empty (first writer wins: a concurrent push cannot swap a plan under live checkouts);
    /// returns the plan as stored.
    async fn set_plan_whop_ids(
        &self,
        plan: i64,
        product_id: Option<&str>,
        whop_plan_id: Option<&str>,
    ) -> Result<PlanRow, StoreError>;

    /// Creates an order; with a client key already used by this user, returns that order
    /// instead (`false`: not created now). A key used by another user is a `Conflict`.
    async fn create_order(&self, order: &NewOrder) -> Result<(OrderRow, bool), StoreError>;
    async fn order_by_id(&self, id: OrderId) -> Result<Option<OrderRow>, StoreError>;
    async fn order_by_checkout_id(&self, checkout_id: &str) -> Result<Option<OrderRow>, StoreError>;
    /// The user's orders, newest first.
    async fn list_user_orders(&self, user: UserId, limit: i64) -> Result<Vec<OrderRow>, StoreError>;
    /// Stores the Whop checkout made for an order (only while it has none, or the same one).
    async fn set_order_checkout(
        &self,
        order: OrderId,
        checkout_id: &str,
        whop_plan_id: &str,
    ) -> Result<bool, StoreError>;
    /// Marks an unpaid order failed with a reason; a paid order is never changed, nor one failed
    /// with this reason already (false: nothing changed).
    async fn fail_order(&self, order: OrderId, message: &str) -> Result<bool, StoreError>;

    /// Sets a setting (insert or replace).
    async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError>;

    async fn webhook_event(&self, id: &str) -> Result<Option<WebhookEventRow>, StoreError>;
    /// Pending events due by `now` (never tried, or their retry time has come), oldest first.
    async fn due_webhook_events(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<WebhookEventRow>, StoreError>;
    /// Settles a pending event: `processed`, `failed` (with the reason) or `ignored`. Counts the
    /// attempt. False when the event was settled already (another worker got there first).
    async fn settle_webhook_event(
        &self,
        id: &str,
        status: &str,
        error: Option<&str>,
        order: Option<OrderId>,
        payment_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Leaves an event pending after a transient failure (or waiting for its payment): counts
    /// the attempt, keeps the error and the payment it is about, and sets when to try again.
    async fn retry_webhook_event(
        &self,
        id: &str,
        error: &str,
        payment_id: Option<&str>,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

macro_rules! impl_order_queries {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::server::store::order_queries::OrderQueries for $store {
            async fn plan_by_id(&self, id: i64) -> Result<Option<$crate::server::store::PlanRow>, StoreError> {
                let q = format!("select {} from whop_plans where id = $1", sql::PLAN_COLUMNS);
                Ok(sqlx::query_as::<_, $crate::server::store::PlanRow>(&q)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn set_plan_whop_ids(
                &self,
                plan: i64,
                product_id: Option<&str>,
                whop_plan_id: Option<&str>,
            ) -> Result<$crate::server::store::PlanRow, StoreError> {
                let _permit = self.write_permit().await;
                let q = format!(
                    "update whop_plans set whop_product_id = coalesce(whop_product_id, $1), \
                     whop_plan_id = coalesce(whop_plan_id, $2), updated_at = $3 where id = $4 returning {}",
                    sql::PLAN_COLUMNS
                );
                sqlx::query_as::<_, $crate::server::store::PlanRow>(&q)
                    .bind(product_id)
                    .bind(whop_plan_id)
                    .bind(chrono::Utc::now())
                    .bind(plan)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| StoreError::from_unique(e, |_| "whop_plan_id".into()))?
                    .ok_or(StoreError::NotFound("plan"))
            }

            async fn create_order(
                &self,
                o: &$crate::server::store::NewOrder,
            ) -> Result<($crate::server::store::OrderRow, bool), StoreError> {
                let _permit = self.write_permit().await;
                let now = chrono::Utc::now();
                let q = format!(
                    "insert into credit_orders (user_id, plan_name, credits_amount, price_cents, currency, \
                     payment_method, payment_status, status, notes, client_key, created_at, updated_at) \
                     values ($1, $2, $3, $4, $5, $6, 'pending', 'pending', $7, $8, $9, $9) \
                     on conflict (client_key) do nothing returning {}",
                    sql::ORDER_COLUMNS
                );
                let mut tx = self.pool.begin().await?;
                let inserted = sqlx::query_as::<_, $crate::server::store::OrderRow>(&q)
                    .bind(o.user_id.0)
                    .bind(&o.plan_name)
                    .bind(o.credits_amount)
                    .bind(o.price_cents)
                    .bind(&o.currency)
                    .bind(o.payment_method)
                    .bind(&o.notes)
                    .bind(&o.client_key)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some(order) = inserted {
                    // Only an order created now is reported: a repeat of the same key wrote nothing.
                    if order.payment_method == "manual" {
                        $crate::server::store::host_webhook_queries::emit_host_event!(
                            tx,
                            order.user_id,
                            "order.manual_requested",
                            serde_json::json!({
                                "order_id": order.id,
                                "plan": order.plan_name,
                                "requested_credits": order.credits_amount,
                                "price_cents": order.price_cents,
                                "currency": order.currency,
                            }),
                            now
                        )?;
                    }
                    tx.commit().await?;
                    return Ok((order, true));
                }
                tx.rollback().await?;
                // The key was used before: that order, if it is this user's.
                let q = format!(
                    "select {} from credit_orders where client_key = $1",
                    sql::ORDER_COLUMNS
                );
                let existing = sqlx::query_as::<_, $crate::server::store::OrderRow>(&q)
                    .bind(&o.client_key)
                    .fetch_one(&self.pool)
                    .await?;
                if existing.user_id != o.user_id.0 {
                    return Err(StoreError::Conflict("client_key".into()));
                }
                Ok((existing, false))
            }

            async fn order_by_id(
                &self,
                id: $crate::model::OrderId,
            ) -> Result<Option<$crate::server::store::OrderRow>, StoreError> {
                let q = format!("select {} from credit_orders where id = $1", sql::ORDER_COLUMNS);
                Ok(sqlx::query_as::<_, $crate::server::store::OrderRow>(&q)
                    .bind(id.0)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn order_by_checkout_id(
                &self,
                checkout_id: &str,
            ) -> Result<Option<$crate::server::store::OrderRow>, StoreError> {
                let q = format!(
                    "select {} from credit_orders where whop_checkout_id = $1",
                    sql::ORDER_COLUMNS
                );
                Ok(sqlx::query_as::<_, $crate::server::store::OrderRow>(&q)
                    .bind(checkout_id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn list_user_orders(
                &self,
                user: $crate::model::UserId,
                limit: i64,
            ) -> Result<Vec<$crate::server::store::OrderRow>, StoreError> {
                let q = format!(
                    "select {} from credit_orders where user_id = $1 order by id desc limit $2",
                    sql::ORDER_COLUMNS
                );
                Ok(sqlx::query_as::<_, $crate::server::store::OrderRow>(&q)
                    .bind(user.0)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn set_order_checkout(
                &self,
                order: $crate::model::OrderId,
                checkout_id: &str,
                whop_plan_id: &str,
            ) -> Result<bool, StoreError> {
                let _permit = self.write_permit().await;
                let done = sqlx::query(
                    "update credit_orders set whop_checkout_id = $1, whop_plan_id = $2, updated_at = $3 \
                     where id = $4 and (whop_checkout_id is null or whop_checkout_id = $1)",
                )
                .bind(checkout_id)
                .bind(whop_plan_id)
                .bind(chrono::Utc::now())
                .bind(order.0)
                .execute(&self.pool)
                .await
                .map_err(|e| StoreError::from_unique(e, |_| "whop_checkout_id".into()))?;
                Ok(done.rows_affected() == 1)
            }

            async fn fail_order(&self, order: $crate::model::OrderId, message: &str) -> Result<bool, StoreError> {
                let _permit = self.write_permit().await;
                let now = chrono::Utc::now();
                let mut tx = self.pool.begin().await?;
                let q = format!(
                    "update credit_orders set payment_status = 'failed', failure_message = $1, updated_at = $2 \
                     where id = $3 and payment_status in ('pending', 'failed') \
                     and not (payment_status = 'failed' and coalesce(failure_message, '') = $1) returning {}",
                    sql::ORDER_COLUMNS
                );
                let failed = sqlx::query_as::<_, $crate::server::store::OrderRow>(&q)
                    .bind(message)
                    .bind(now)
                    .bind(order.0)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(failed) = failed else {
                    tx.rollback().await?;
                    return Ok(false);
                };
                // An order with no Whop checkout failed while opening one; with one, at payment.
                let reason = if failed.whop_checkout_id.is_some() { "payment_failed" } else { "checkout_failed" };
                $crate::server::store::host_webhook_queries::emit_host_event!(
                    tx,
                    failed.user_id,
                    "order.failed",
                    serde_json::json!({
                        "order_id": failed.id,
                        "reason": reason,
                        "plan": failed.plan_name,
                        "price_cents": failed.price_cents,
                        "currency": failed.currency,
                    }),
                    now
                )?;
                tx.commit().await?;
                Ok(true)
            }

            async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
                let _permit = self.write_permit().await;
                sqlx::query(
                    "insert into settings (key, value, updated_at) values ($1, $2, $3) \
                     on conflict (key) do update set value = excluded.value, updated_at = excluded.updated_at",
                )
                .bind(key)
                .bind(value)
                .bind(chrono::Utc::now())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn webhook_event(
                &self,
                id: &str,
            ) -> Result<Option<$crate::server::store::WebhookEventRow>, StoreError> {
                let q = format!(
                    "select {} from webhook_events where id = $1",
                    sql::WEBHOOK_EVENT_COLUMNS
                );
                Ok(sqlx::query_as::<_, $crate::server::store::WebhookEventRow>(&q)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn due_webhook_events(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                limit: i64,
            ) -> Result<Vec<$crate::server::store::WebhookEventRow>, StoreError> {
                let q = format!(
                    "select {} from webhook_events where status = 'pending' \
                     and (next_attempt_at is null or next_attempt_at <= $1) order by received_at, id limit $2",
                    sql::WEBHOOK_EVENT_COLUMNS
                );
                Ok(sqlx::query_as::<_, $crate::server::store::WebhookEventRow>(&q)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn settle_webhook_event(
                &self,
                id: &str,
                status: &str,
                error: Option<&str>,
                order: Option<$crate::model::OrderId>,
                payment_id: Option<&str>,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<bool, StoreError> {
                let _permit = self.write_permit().await;
                let done = sqlx::query(
                    "update webhook_events set status = $1, last_error = $2, order_id = $3, processed_at = $4, \
                     attempts = attempts + 1, next_attempt_at = null, payment_id = coalesce($5, payment_id) \
                     where id = $6 and status = 'pending'",
                )
                .bind(status)
                .bind(error)
                .bind(order.map(|o| o.0))
                .bind(now)
                .bind(payment_id)
                .bind(id)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn retry_webhook_event(
                &self,
                id: &str,
                error: &str,
                payment_id: Option<&str>,
                next_attempt_at: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), StoreError> {
                let _permit = self.write_permit().await;
                sqlx::query(
                    "update webhook_events set attempts = attempts + 1, last_error = $1, next_attempt_at = $2, \
                     payment_id = coalesce($3, payment_id) where id = $4 and status = 'pending'",
                )
                .bind(error)
                .bind(next_attempt_at)
                .bind(payment_id)
                .bind(id)
                .execute(&self.pool)
                .await?;
                Ok(())
            }
        }
    };
}
pub(crate) use impl_order_queries;
