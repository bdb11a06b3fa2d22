//! The admin's view of orders: the filtered list, an order's timeline (its webhook events, ledger
//! rows, refunds and audit lines) and the review actions on manual orders, plus hand adjustments
//! of a balance. Each action writes its audit line in the same transaction as its change. SQL
//! shared by both backends, implemented per store type by `impl_admin_order_queries!` (see
//! `queries.rs` for why a macro); the backend passes its BEGIN statement and row-lock suffix.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::rows::{NewEntry, OrderRow, PostOutcome, TransactionRow, WebhookEventRow};
use super::unmatched_queries::{AuditEntry, AuditRow};
use super::StoreError;
use crate::model::{OrderId, UserId};

/// Which orders to list; every field narrows the list. Which index serves which filter is
/// written in migrations/*/0007_admin_orders.sql.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFilter {
    pub payment_status: Option<String>,
    /// The review status (`credit_orders.status`).
    pub status: Option<String>,
    /// `manual` or `whop`.
    pub method: Option<String>,
    pub user_id: Option<UserId>,
    /// Created at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created before.
    pub to: Option<DateTime<Utc>>,
}

/// An order with its owner's email, as the admin list shows it.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct AdminOrderRow {
    #[sqlx(flatten)]
    pub order: OrderRow,
    pub user_email: String,
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct OrderRefundRow {
    pub refund_id: String,
    pub amount_cents: i64,
    pub created_at: DateTime<Utc>,
}

/// An admin's decision on a manual order.
#[derive(Debug, Clone)]
pub struct Review {
    pub order: OrderId,
    /// `admin:ID`: the ledger row's and the audit line's actor.
    pub actor: String,
    /// Required reason; a rejected order's owner sees it.
    pub note: String,
    /// Approve only: the price agreed for a custom-priced (0) order, recorded on it.
    pub price_cents: Option<i64>,
    /// The audit line written with the change (its `after` is filled in by the store).
    pub audit: AuditEntry,
}

/// What a review did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewOutcome {
    /// Approved or rejected now; `entry` is the grant of an approval.
    Done {
        order: OrderRow,
        entry: Option<TransactionRow>,
    },
    /// Nothing written: the order is not a pending manual order (any more), or a custom price
    /// was given for an order that has its price; the reason says which.
    Refused { order: OrderRow, reason: String },
}

#[async_trait]
pub trait AdminOrderQueries: Send + Sync {
    /// Newest first, below `before_id` (keyset pagination).
    async fn list_orders(
        &self,
        filter: &OrderFilter,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AdminOrderRow>, StoreError>;
    /// Manual orders waiting for review (the admin's queue).
    async fn count_manual_queue(&self) -> Result<i64, StoreError>;
    /// The order's webhook events, ledger rows, refunds and audit lines (subject `order:ID`).
    async fn order_webhook_events(&self, order: OrderId) -> Result<Vec<WebhookEventRow>, StoreError>;
    async fn order_transactions(&self, order: OrderId) -> Result<Vec<TransactionRow>, StoreError>;
    async fn order_refunds(&self, order: OrderId) -> Result<Vec<OrderRefundRow>, StoreError>;
    async fn audit_for(&self, subject: &str, limit: i64) -> Result<Vec<AuditRow>, StoreError>;
    /// Approves a pending manual order: it becomes approved and paid, and its credits are
    /// granted (`manual_grant`, source `order`/ID, so never twice), with the audit line, in one
    /// transaction under the order's lock.
    async fn approve_manual_order(&self, review: &Review, now: DateTime<Utc>) -> Result<ReviewOutcome, StoreError>;
    /// Rejects a pending manual order with the note its owner sees, with the audit line.
    async fn reject_manual_order(&self, review: &Review, now: DateTime<Utc>) -> Result<ReviewOutcome, StoreError>;
    /// Posts an entry as `post_entry` does (same rules: once per source, no overdraft when
    /// asked) and writes the audit line in the same transaction; a repeat writes neither.
    async fn post_entry_audited(&self, entry: &NewEntry, audit: &AuditEntry) -> Result<PostOutcome, StoreError>;
}

/// `ORDER_COLUMNS` qualified with the table alias `o` (the list joins users).
pub fn order_columns_of_o() -> String {
    super::sql::ORDER_COLUMNS
        .split(',')
        .map(|c| format!("o.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The list's SQL and its arguments in placeholder order: only the filters given appear, so each
/// query can walk the index that fits it (a `($1 is null or ...)` form would defeat the planner).
pub fn list_sql(filter: &OrderFilter, before_id: Option<i64>) -> (String, Vec<ListArg>) {
    let mut clauses = Vec::new();
    let mut args = Vec::new();
    let mut push = |clause: &str, arg: ListArg| {
        args.push(arg);
        clauses.push(clause.replace('?', &format!("${}", args.len())));
    };
    if let Some(s) = &filter.payment_status {
        push("o.payment_status = ?", ListArg::Text(s.clone()));
    }
    if let Some(s) = &filter.status {
        push("o.status = ?", ListArg::Text(s.clone()));
    }
    if let Some(m) = &filter.method {
        push("o.payment_method = ?", ListArg::Text(m.clone()));
    }
    if let Some(u) = filter.user_id {
        push("o.user_id = ?", ListArg::Int(u.0));
    }
    if let Some(f) = filter.from {
        push("o.created_at >= ?", ListArg::Time(f));
    }
    if let Some(t) = filter.to {
        push("o.created_at < ?", ListArg::Time(t));
    }
    if let Some(b) = before_id {
        push("o.id < ?", ListArg::Int(b));
    }
    let wh = if clauses.is_empty() {
        String::new()
    } else {
        format!(" where {}", clauses.join(" and "))
    };
    let q = format!(
        "select {}, u.email as user_email from credit_orders o join users u on u.id = o.user_id{wh} \
         order by o.id desc limit ${}",
        order_columns_of_o(),
        args.len() + 1
    );
    (q, args)
}

/// One bound argument of the list query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListArg {
    Text(String),
    Int(i64),
    Time(DateTime<Utc>),
}

/// The audit line's `after`, filled from the order as the review left it.
pub fn review_after(order: &OrderRow, entry: Option<&TransactionRow>, note: &str) -> String {
    serde_json::json!({
        "status": order.status,
        "payment_status": order.payment_status,
        "price_cents": order.price_cents,
        "credits": order.credits_amount,
        "ledger_entry": entry.map(|e| e.id),
        "note": note,
    })
    .to_string()
}

macro_rules! impl_admin_order_queries {
    ($store:ty, $begin:literal, $lock:literal) => {
        #[async_trait::async_trait]
        impl $crate::server::store::admin_order_queries::AdminOrderQueries for $store {
            async fn list_orders(
                &self,
                filter: &$crate::server::store::admin_order_queries::OrderFilter,
                before_id: Option<i64>,
                limit: i64,
            ) -> Result<Vec<$crate::server::store::admin_order_queries::AdminOrderRow>, StoreError> {
                use $crate::server::store::admin_order_queries::{list_sql, AdminOrderRow, ListArg};
                let (q, args) = list_sql(filter, before_id);
                let mut query = sqlx::query_as::<_, AdminOrderRow>(&q);
                for a in args {
                    query = match a {
                        ListArg::Text(s) => query.bind(s),
                        ListArg::Int(i) => query.bind(i),
                        ListArg::Time(t) => query.bind(t),
                    };
                }
                Ok(query.bind(limit).fetch_all(&self.pool).await?)
            }

            async fn count_manual_queue(&self) -> Result<i64, StoreError> {
                Ok(sqlx::query_scalar(
                    "select count(*) from credit_orders where payment_method = 'manual' and status = 'pending'",
                )
                .fetch_one(&self.pool)
                .await?)
            }

            async fn order_webhook_events(
                &self,
                order: $crate::model::OrderId,
            ) -> Result<Vec<$crate::server::store::WebhookEventRow>, StoreError> {
                let q = format!(
                    "select {} from webhook_events where order_id = $1 order by received_at, id",
                    sql::WEBHOOK_EVENT_COLUMNS
                );
                Ok(sqlx::query_as::<_, $crate::server::store::WebhookEventRow>(&q)
                    .bind(order.0)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn order_transactions(
                &self,
                order: $crate::model::OrderId,
            ) -> Result<Vec<TransactionRow>, StoreError> {
                Ok(sqlx::query_as::<_, TransactionRow>(
                    "select id, user_id, amount, kind, source_kind, source_id, order_id, actor, reason, \
                     balance_after, created_at from credit_transactions where order_id = $1 order by id",
                )
                .bind(order.0)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn order_refunds(
                &self,
                order: $crate::model::OrderId,
            ) -> Result<Vec<$crate::server::store::admin_order_queries::OrderRefundRow>, StoreError> {
                Ok(
                    sqlx::query_as::<_, $crate::server::store::admin_order_queries::OrderRefundRow>(
                        "select refund_id, amount_cents, created_at from order_refunds where order_id = $1 \
                         order by created_at, refund_id",
                    )
                    .bind(order.0)
                    .fetch_all(&self.pool)
                    .await?,
                )
            }

            async fn audit_for(
                &self,
                subject: &str,
                limit: i64,
            ) -> Result<Vec<$crate::server::store::AuditRow>, StoreError> {
                Ok(sqlx::query_as::<_, $crate::server::store::AuditRow>(
                    "select id, actor, action, subject, before_value, after_value, created_at from audit_log \
                     where subject = $1 order by id desc limit $2",
                )
                .bind(subject)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn approve_manual_order(
                &self,
                r: &$crate::server::store::admin_order_queries::Review,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<$crate::server::store::admin_order_queries::ReviewOutcome, StoreError> {
                use $crate::server::store::admin_order_queries::{review_after, ReviewOutcome};
                use $crate::server::store::OrderRow;
                let _permit = self.write_permit().await;
                let mut tx = self.pool.begin_with($begin).await?;
                let q = format!("select {} from credit_orders where id = $1{}", sql::ORDER_COLUMNS, $lock);
                let order = sqlx::query_as::<_, OrderRow>(&q)
                    .bind(r.order.0)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or(StoreError::NotFound("order"))?;
                let refused = if order.payment_method != "manual" {
                    Some("only a manual order can be approved".to_string())
                } else if order.status != "pending" {
                    Some(format!("this order is {} already", order.status))
                } else if r.price_cents.is_some() && order.price_cents != 0 {
                    Some("only a custom-priced order takes a price".to_string())
                } else {
                    None
                };
                if let Some(reason) = refused {
                    tx.rollback().await?;
                    return Ok(ReviewOutcome::Refused { order, reason });
                }
                let kind = $crate::model::EntryKind::ManualGrant.as_str();
                let source_id = order.id.to_string();
                let existing = sqlx::query_as::<_, TransactionRow>(sql::TX_BY_SOURCE)
                    .bind(kind)
                    .bind("order")
                    .bind(&source_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let granted_now = existing.is_none();
                let entry = match existing {
                    // Granted before (e.g. by an older path): the order only catches up.
                    Some(e) => e,
                    None => {
                        let q = format!("select credits_balance from users where id = $1{}", $lock);
                        let balance: i64 = sqlx::query_scalar(&q)
                            .bind(order.user_id)
                            .fetch_optional(&mut *tx)
                            .await?
                            .ok_or(StoreError::NotFound("user"))?;
                        let new_balance = balance
                            .checked_add(order.credits_amount)
                            .ok_or(StoreError::BalanceOutOfRange)?;
                        let entry = sqlx::query_as::<_, TransactionRow>(sql::INSERT_TX)
                            .bind(order.user_id)
                            .bind(order.credits_amount)
                            .bind(kind)
                            .bind("order")
                            .bind(&source_id)
                            .bind(Some(order.id))
                            .bind(&r.actor)
                            .bind(Some(format!("{} approved: {}", order.plan_name, r.note)))
                            .bind(new_balance)
                            .bind(now)
                            .fetch_one(&mut *tx)
                            .await?;
                        sqlx::query(sql::SET_BALANCE)
                            .bind(new_balance)
                            .bind(now)
                            .bind(order.user_id)
                            .execute(&mut *tx)
                            .await?;
                        entry
                    }
                };
                let q = format!(
                    "update credit_orders set status = 'approved', payment_status = 'paid', \
                     price_cents = coalesce($1, price_cents), paid_at = $2, credited_at = $2, review_note = $3, \
                     reviewed_by = $4, reviewed_at = $2, updated_at = $2 where id = $5 returning {}",
                    sql::ORDER_COLUMNS
                );
                let order = sqlx::query_as::<_, OrderRow>(&q)
                    .bind(r.price_cents)
                    .bind(now)
                    .bind(&r.note)
                    .bind(&r.actor)
                    .bind(order.id)
                    .fetch_one(&mut *tx)
                    .await?;
                $crate::server::store::audit::insert_audit!(&mut *tx, &r.audit.actor, &r.audit.action, &r.audit.subject, &r.audit.before, review_after(&order, Some(&entry), &r.note), now);
                if granted_now {
                    $crate::server::store::host_webhook_queries::emit_host_event!(
                        tx,
                        order.user_id,
                        "credits.purchased",
                        serde_json::json!({
                            "credits": entry.amount,
                            "order_id": order.id,
                            "ledger_entry_id": entry.id,
                            "price_cents": order.price_cents,
                            "currency": order.currency,
                            "plan": order.plan_name,
                            "method": "manual",
                        }),
                        now
                    )?;
                }
                tx.commit().await?;
                // Counted once committed, and only when this call wrote the grant.
                if granted_now {
                    $crate::server::metrics::ledger_post(kind);
                }
                Ok(ReviewOutcome::Done {
                    order,
                    entry: Some(entry),
                })
            }

            async fn reject_manual_order(
                &self,
                r: &$crate::server::store::admin_order_queries::Review,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<$crate::server::store::admin_order_queries::ReviewOutcome, StoreError> {
                use $crate::server::store::admin_order_queries::{review_after, ReviewOutcome};
                use $crate::server::store::OrderRow;
                let _permit = self.write_permit().await;
                let mut tx = self.pool.begin_with($begin).await?;
                let q = format!(
                    "update credit_orders set status = 'rejected', review_note = $1, reviewed_by = $2, \
                     reviewed_at = $3, updated_at = $3 \
                     where id = $4 and payment_method = 'manual' and status = 'pending' returning {}",
                    sql::ORDER_COLUMNS
                );
                let updated = sqlx::query_as::<_, OrderRow>(&q)
                    .bind(&r.note)
                    .bind(&r.actor)
                    .bind(now)
                    .bind(r.order.0)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(order) = updated else {
                    tx.rollback().await?;
                    let q = format!("select {} from credit_orders where id = $1", sql::ORDER_COLUMNS);
                    let order = sqlx::query_as::<_, OrderRow>(&q)
                        .bind(r.order.0)
                        .fetch_optional(&self.pool)
                        .await?
                        .ok_or(StoreError::NotFound("order"))?;
                    let reason = if order.payment_method != "manual" {
                        "only a manual order can be rejected".to_string()
                    } else {
                        format!("this order is {} already", order.status)
                    };
                    return Ok(ReviewOutcome::Refused { order, reason });
                };
                $crate::server::store::audit::insert_audit!(&mut *tx, &r.audit.actor, &r.audit.action, &r.audit.subject, &r.audit.before, review_after(&order, None, &r.note), now);
                tx.commit().await?;
                Ok(ReviewOutcome::Done { order, entry: None })
            }

            async fn post_entry_audited(
                &self,
                e: &$crate::server::store::NewEntry,
                audit: &$crate::server::store::AuditEntry,
            ) -> Result<$crate::server::store::PostOutcome, StoreError> {
                use $crate::server::store::PostOutcome;
                let _permit = self.write_permit().await;
                let mut tx = self.pool.begin_with($begin).await?;
                let q = format!("select credits_balance from users where id = $1{}", $lock);
                let balance: i64 = sqlx::query_scalar(&q)
                    .bind(e.user_id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or(StoreError::NotFound("user"))?;
                if let Some(existing) = sqlx::query_as::<_, TransactionRow>(sql::TX_BY_SOURCE)
                    .bind(e.kind)
                    .bind(&e.source_kind)
                    .bind(&e.source_id)
                    .fetch_optional(&mut *tx)
                    .await?
                {
                    tx.rollback().await?;
                    return Ok(PostOutcome::AlreadyApplied(existing));
                }
                let new_balance = balance.checked_add(e.amount).ok_or(StoreError::BalanceOutOfRange)?;
                if e.no_overdraft && new_balance < 0 {
                    return Err(StoreError::InsufficientCredits {
                        balance: $crate::model::Credits(balance),
                    });
                }
                let now = chrono::Utc::now();
                let inserted = sqlx::query_as::<_, TransactionRow>(sql::INSERT_TX)
                    .bind(e.user_id)
                    .bind(e.amount)
                    .bind(e.kind)
                    .bind(&e.source_kind)
                    .bind(&e.source_id)
                    .bind(e.order_id)
                    .bind(&e.actor)
                    .bind(&e.reason)
                    .bind(new_balance)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = inserted else {
                    // The same source was posted for another user by a transaction that committed
                    // after our check: nothing of ours was written; report the row that won.
                    tx.rollback().await?;
                    let existing = sqlx::query_as::<_, TransactionRow>(sql::TX_BY_SOURCE)
                        .bind(e.kind)
                        .bind(&e.source_kind)
                        .bind(&e.source_id)
                        .fetch_one(&self.pool)
                        .await?;
                    return Ok(PostOutcome::AlreadyApplied(existing));
                };
                sqlx::query(sql::SET_BALANCE)
                    .bind(new_balance)
                    .bind(now)
                    .bind(e.user_id)
                    .execute(&mut *tx)
                    .await?;
                $crate::server::store::host_webhook_queries::emit_balance_low!(
                    tx,
                    e.user_id,
                    balance,
                    new_balance,
                    serde_json::json!({ "order_id": row.order_id, "ledger_entry_id": row.id }),
                    now
                );
                let after = serde_json::json!({
                    "ledger_entry": row.id,
                    "amount": row.amount,
                    "balance_after": row.balance_after,
                    "reason": row.reason,
                })
                .to_string();
                $crate::server::store::audit::insert_audit!(&mut *tx, &audit.actor, &audit.action, &audit.subject, serde_json::json!({ "balance": balance }).to_string(), after, now);
                tx.commit().await?;
                $crate::server::metrics::ledger_post(&row.kind);
                Ok(PostOutcome::Applied(row))
            }
        }
    };
}
pub(crate) use impl_admin_order_queries;
