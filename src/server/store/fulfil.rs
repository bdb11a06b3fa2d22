//! Fulfilling an order: the one write that turns a Whop payment into credits. The order update
//! and its `purchase` ledger entry commit together or not at all, under the order's lock, so a
//! webhook, its repeats, the status page's confirmation and a later reconciliation, racing each
//! other, all end in the same single grant. Each backend opens the transaction and names its
//! lock statements; the body (`fulfil_in_tx!`) is shared. The body does not commit: the caller
//! does, so that the webhook route can store, credit and settle a delivery in one transaction
//! (`store::deliver`).

/// Ledger source kind of purchases: the source id is Whop's `pay_...` id.
pub const PAYMENT_SOURCE: &str = "whop_payment";

/// Why this payment must not credit this order (it is held for an admin), or `None`: the order
/// is a Whop order, not already paid by another payment, and the amount and currency match.
pub fn hold_reason(order: &super::rows::OrderRow, f: &super::Fulfilment) -> Option<String> {
    if order.payment_method != "whop" {
        Some("not a Whop order".to_string())
    } else if let (Some(other), Some(_)) = (&order.whop_payment_id, order.credited_at) {
        Some(format!(
            "order already paid by {other}; payment {} not credited",
            f.payment_id
        ))
    } else if f.amount_cents != order.price_cents || !f.currency.eq_ignore_ascii_case(&order.currency) {
        Some(format!(
            "paid {} but the order is {}: not credited",
            crate::model::Cents(f.amount_cents).format(&f.currency),
            crate::model::Cents(order.price_cents).format(&order.currency)
        ))
    } else {
        None
    }
}

/// The body of a function that fulfils on `$tx`, a `&mut` connection inside a transaction the
/// backend opened (on SQLite, with the write lock taken): `$order_sql` reads the order (locking
/// it on PostgreSQL), `$user_sql` the balance. Writes but never commits; every `Ok` outcome is
/// meant to be committed (a `Held` one keeps its reason on the order), an `Err` rolled back.
macro_rules! fulfil_in_tx {
    ($tx:ident, $f:expr, $order_sql:expr, $user_sql:expr) => {{
        use $crate::server::store::fulfil::PAYMENT_SOURCE;
        use $crate::server::store::rows::{FulfilOutcome, OrderRow};
        let f = $f;
        let order: Option<OrderRow> = sqlx::query_as::<_, OrderRow>(&$order_sql)
            .bind(f.order_id.0)
            .fetch_optional(&mut *$tx)
            .await?;
        let Some(order) = order else {
            return Err(StoreError::NotFound("order"));
        };
        let purchase = $crate::model::EntryKind::Purchase.as_str();

        // This payment was credited before: a repeat changes nothing.
        if let Some(entry) = sqlx::query_as::<_, TransactionRow>(sql::TX_BY_SOURCE)
            .bind(purchase)
            .bind(PAYMENT_SOURCE)
            .bind(&f.payment_id)
            .fetch_optional(&mut *$tx)
            .await?
        {
            if entry.order_id == Some(order.id) {
                return Ok(FulfilOutcome::AlreadyCredited { order, entry });
            }
            let reason = format!(
                "payment {} was already credited to order {}",
                f.payment_id,
                entry.order_id.unwrap_or_default()
            );
            return Ok(FulfilOutcome::Held { order, reason });
        }

        let hold = $crate::server::store::fulfil::hold_reason(&order, f);
        let now = chrono::Utc::now();
        if let Some(reason) = hold {
            let q = format!(
                "update credit_orders set hold_reason = $1, updated_at = $2 where id = $3 returning {}",
                sql::ORDER_COLUMNS
            );
            let order = sqlx::query_as::<_, OrderRow>(&q)
                .bind(&reason)
                .bind(now)
                .bind(order.id)
                .fetch_one(&mut *$tx)
                .await?;
            return Ok(FulfilOutcome::Held { order, reason });
        }

        let balance: Option<i64> = sqlx::query_scalar($user_sql)
            .bind(order.user_id)
            .fetch_optional(&mut *$tx)
            .await?;
        let balance = balance.ok_or(StoreError::NotFound("user"))?;
        // A purchase repays any debt first simply by adding to the balance.
        let new_balance = balance
            .checked_add(order.credits_amount)
            .ok_or(StoreError::BalanceOutOfRange)?;
        let entry = sqlx::query_as::<_, TransactionRow>(sql::INSERT_TX)
            .bind(order.user_id)
            .bind(order.credits_amount)
            .bind(purchase)
            .bind(PAYMENT_SOURCE)
            .bind(&f.payment_id)
            .bind(Some(order.id))
            .bind("whop")
            .bind(Some(format!("Bought {}", order.plan_name)))
            .bind(new_balance)
            .bind(now)
            .fetch_optional(&mut *$tx)
            .await?;
        let Some(entry) = entry else {
            // The same payment was credited to another order by a transaction that committed
            // after our check (a payment names one order, so this is a mix-up). Nothing was
            // written in this transaction, so committing it writes nothing either.
            let reason = format!("payment {} was already credited to another order", f.payment_id);
            return Ok(FulfilOutcome::Held { order, reason });
        };
        sqlx::query(sql::SET_BALANCE)
            .bind(new_balance)
            .bind(now)
            .bind(order.user_id)
            .execute(&mut *$tx)
            .await?;
        let order = $crate::server::store::fulfil::mark_paid!($tx, f, order.id, entry, now);
        Ok(FulfilOutcome::Credited { order, entry })
    }};
}
pub(crate) use fulfil_in_tx;

/// The order's side of a credit, shared by `fulfil_in_tx!` and the webhook's one-transaction
/// path (`store::deliver`): the order marked paid and credited (a second order claiming the same
/// payment fails on the unique `whop_payment_id`), and `credits.purchased` in the host-webhook
/// outbox when an endpoint listens. `$entry` is the purchase's ledger row, already written.
/// Evaluates to the updated order; `?` on errors.
macro_rules! mark_paid {
    ($tx:ident, $f:expr, $order_id:expr, $entry:expr, $now:expr) => {{
        let (f, order_id, entry, now) = ($f, $order_id, &$entry, $now);
        let q = format!(
            "update credit_orders set payment_status = 'paid', whop_payment_id = $1, paid_at = $2, \
             credited_at = $3, failure_message = null, hold_reason = null, updated_at = $3 where id = $4 \
             returning {}",
            sql::ORDER_COLUMNS
        );
        let order = sqlx::query_as::<_, $crate::server::store::rows::OrderRow>(&q)
            .bind(&f.payment_id)
            .bind(f.paid_at)
            .bind(now)
            .bind(order_id)
            .fetch_one(&mut *$tx)
            .await
            .map_err(|e| StoreError::from_unique(e, |_| "whop_payment_id".into()))?;
        $crate::server::store::host_webhook_queries::emit_host_event!(
            $tx,
            order.user_id,
            "credits.purchased",
            serde_json::json!({
                "credits": entry.amount,
                "order_id": order.id,
                "ledger_entry_id": entry.id,
                "price_cents": order.price_cents,
                "currency": order.currency,
                "plan": order.plan_name,
                "method": "whop",
            }),
            now
        )?;
        order
    }};
}
pub(crate) use mark_paid;

/// Counts a fulfilment once its transaction has committed.
pub fn committed(outcome: &super::FulfilOutcome) {
    if let super::FulfilOutcome::Credited { entry, .. } = outcome {
        crate::server::metrics::ledger_post(&entry.kind);
    }
}
