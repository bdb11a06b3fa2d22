//! Applying a Whop refund: the one write that takes credits back for money returned. The
//! refund's row in `order_refunds`, its `refund_clawback` ledger entry, the balance and the
//! order's payment status commit together, under the order's lock, so repeats and races of the
//! same refund (or of several refunds of one order) claw back exactly once each. Each backend
//! opens the transaction and names its lock statements; the body (`refund_in_tx!`) is shared.

/// Ledger source kind of clawbacks: the source id is Whop's `rf_...` id.
pub const REFUND_SOURCE: &str = "whop_refund";

/// Credits to take back in total once `refunded_cents` of `price_cents` are refunded: rounded
/// down, so the sum never exceeds the credits granted, and all of them at a full refund.
pub fn clawback_target(credits: i64, price_cents: i64, refunded_cents: i64) -> i64 {
    if price_cents <= 0 || refunded_cents >= price_cents {
        return credits;
    }
    let target = i128::from(credits) * i128::from(refunded_cents.max(0)) / i128::from(price_cents);
    // Below `credits` since refunded < price, so it fits.
    i64::try_from(target).unwrap_or(credits)
}

/// The body of `refund_order` once the backend has opened `$tx` (and, on SQLite, taken the write
/// lock): `$order_sql` reads the order by its payment id (locking it on PostgreSQL), `$user_sql`
/// the balance.
macro_rules! refund_in_tx {
    ($tx:ident, $r:expr, $order_sql:expr, $user_sql:expr) => {{
        use $crate::server::store::refund::{clawback_target, REFUND_SOURCE};
        use $crate::server::store::rows::{OrderRow, RefundOutcome};
        let r = $r;
        let order: Option<OrderRow> = sqlx::query_as::<_, OrderRow>(&$order_sql)
            .bind(&r.payment_id)
            .fetch_optional(&mut *$tx)
            .await?;
        // An order carries its payment id only once that payment credited it.
        let Some(order) = order.filter(|o| o.credited_at.is_some()) else {
            return Ok(RefundOutcome::PaymentNotCredited);
        };
        let seen: Option<i64> = sqlx::query_scalar("select order_id from order_refunds where refund_id = $1")
            .bind(&r.refund_id)
            .fetch_optional(&mut *$tx)
            .await?;
        if seen.is_some() {
            return Ok(RefundOutcome::AlreadyApplied { order });
        }
        let before: i64 = sqlx::query_scalar(
            "select cast(coalesce(sum(amount_cents), 0) as bigint) from order_refunds where order_id = $1",
        )
        .bind(order.id)
        .fetch_one(&mut *$tx)
        .await?;
        let after = before.checked_add(r.amount_cents).unwrap_or(i64::MAX);
        let refused = if r.amount_cents <= 0 {
            Some(format!("refund {} has no positive amount", r.refund_id))
        } else if !r.currency.eq_ignore_ascii_case(&order.currency) {
            Some(format!(
                "refund {} is in {} but the order is in {}",
                r.refund_id, r.currency, order.currency
            ))
        } else if after > order.price_cents {
            Some(format!(
                "refund {} would bring the refunded total to {} of {} paid",
                r.refund_id,
                $crate::model::Cents(after).format(&order.currency),
                $crate::model::Cents(order.price_cents).format(&order.currency)
            ))
        } else {
            None
        };
        if let Some(reason) = refused {
            return Ok(RefundOutcome::Refused { order, reason });
        }
        let clawback_kind = $crate::model::EntryKind::RefundClawback.as_str();
        let taken: i64 = sqlx::query_scalar(
            "select cast(coalesce(-sum(amount), 0) as bigint) from credit_transactions \
             where order_id = $1 and kind = $2",
        )
        .bind(order.id)
        .bind(clawback_kind)
        .fetch_one(&mut *$tx)
        .await?;
        let clawback = (clawback_target(order.credits_amount, order.price_cents, after) - taken).max(0);

        let now = chrono::Utc::now();
        let inserted = sqlx::query(
            "insert into order_refunds (refund_id, order_id, amount_cents, created_at) values ($1, $2, $3, $4) \
             on conflict (refund_id) do nothing",
        )
        .bind(&r.refund_id)
        .bind(order.id)
        .bind(r.amount_cents)
        .bind(now)
        .execute(&mut *$tx)
        .await?;
        if inserted.rows_affected() == 0 {
            $tx.rollback().await?;
            return Ok(RefundOutcome::AlreadyApplied { order });
        }

        let entry = if clawback > 0 {
            let balance: Option<i64> = sqlx::query_scalar($user_sql)
                .bind(order.user_id)
                .fetch_optional(&mut *$tx)
                .await?;
            let balance = balance.ok_or(StoreError::NotFound("user"))?;
            // Clawbacks always apply in full: credits already spent leave a debt (a negative
            // balance) that the next purchase repays.
            let new_balance = balance.checked_sub(clawback).ok_or(StoreError::BalanceOutOfRange)?;
            let entry = sqlx::query_as::<_, TransactionRow>(sql::INSERT_TX)
                .bind(order.user_id)
                .bind(-clawback)
                .bind(clawback_kind)
                .bind(REFUND_SOURCE)
                .bind(&r.refund_id)
                .bind(Some(order.id))
                .bind("whop")
                .bind(Some(format!("Refund of {}", order.plan_name)))
                .bind(new_balance)
                .bind(now)
                .fetch_optional(&mut *$tx)
                .await?;
            let Some(entry) = entry else {
                // The refund id was clawed back through another order: write nothing.
                $tx.rollback().await?;
                return Ok(RefundOutcome::AlreadyApplied { order });
            };
            sqlx::query(sql::SET_BALANCE)
                .bind(new_balance)
                .bind(now)
                .bind(order.user_id)
                .execute(&mut *$tx)
                .await?;
            Some((entry, balance, new_balance))
        } else {
            None
        };
        let status = if after >= order.price_cents {
            "refunded"
        } else {
            "partially_refunded"
        };
        let q = format!(
            "update credit_orders set payment_status = $1, updated_at = $2 where id = $3 returning {}",
            sql::ORDER_COLUMNS
        );
        let order = sqlx::query_as::<_, OrderRow>(&q)
            .bind(status)
            .bind(now)
            .bind(order.id)
            .fetch_one(&mut *$tx)
            .await?;
        $crate::server::store::host_webhook_queries::emit_host_event!(
            $tx,
            order.user_id,
            "credits.refunded",
            serde_json::json!({
                "credits": entry.as_ref().map_or(0, |(e, _, _)| e.amount),
                "order_id": order.id,
                "ledger_entry_id": entry.as_ref().map(|(e, _, _)| e.id),
                "refund_id": r.refund_id,
                "refund_amount_cents": r.amount_cents,
                "currency": order.currency,
                "payment_status": status,
            }),
            now
        )?;
        if let Some((e, before, after)) = &entry {
            $crate::server::store::host_webhook_queries::emit_balance_low!(
                $tx,
                order.user_id,
                *before,
                *after,
                serde_json::json!({ "order_id": order.id, "ledger_entry_id": e.id }),
                now
            );
        }
        $tx.commit().await?;
        let entry = entry.map(|(e, _, _)| e);
        if let Some(e) = &entry {
            $crate::server::metrics::ledger_post(&e.kind);
        }
        Ok(RefundOutcome::ClawedBack { order, entry })
    }};
}
pub(crate) use refund_in_tx;

#[cfg(test)]
mod tests {
    use super::clawback_target;

    #[test]
    fn clawbacks_round_down_and_a_full_refund_takes_all() {
        assert_eq!(clawback_target(25_000, 3250, 1625), 12_500);
        assert_eq!(clawback_target(5000, 750, 750), 5000);
        assert_eq!(clawback_target(5000, 750, 1), 6);
        assert_eq!(clawback_target(5000, 750, 749), 4993);
        assert_eq!(clawback_target(5000, 750, 10_000), 5000);
        assert_eq!(clawback_target(5000, 0, 0), 5000);
        assert_eq!(clawback_target(i64::MAX, i64::MAX - 1, i64::MAX - 2), i64::MAX - 2);
    }
}
