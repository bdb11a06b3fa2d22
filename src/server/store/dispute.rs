//! Applying a Whop dispute: an open dispute holds what is left of the order's credits
//! (`dispute_hold`, keyed on the dispute id), a won one releases exactly what was held
//! (`dispute_release`), a lost one keeps it deducted and marks the order `disputed`. Every stage
//! first makes sure the stages before it are in the ledger, so repeats and any arrival order
//! (won before open, an update before the create) end in the same rows. Under the order's lock,
//! like fulfilling and refunding; the body (`dispute_in_tx!`) is shared by both backends.

/// Ledger source kind of dispute holds and releases: the source id is Whop's dispute id.
pub const DISPUTE_SOURCE: &str = "whop_dispute";

/// Where a dispute stands, as far as the ledger cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisputeStage {
    Open,
    Won,
    Lost,
}

macro_rules! dispute_in_tx {
    ($tx:ident, $d:expr, $order_sql:expr, $user_sql:expr) => {{
        use $crate::server::store::dispute::{DisputeStage, DISPUTE_SOURCE};
        use $crate::server::store::rows::{DisputeOutcome, OrderRow};
        let d = $d;
        let order: Option<OrderRow> = sqlx::query_as::<_, OrderRow>(&$order_sql)
            .bind(&d.payment_id)
            .fetch_optional(&mut *$tx)
            .await?;
        let Some(order) = order.filter(|o| o.credited_at.is_some()) else {
            return Ok(DisputeOutcome::PaymentNotCredited);
        };
        let hold_kind = $crate::model::EntryKind::DisputeHold.as_str();
        let release_kind = $crate::model::EntryKind::DisputeRelease.as_str();
        let existing = |kind: &'static str| {
            sqlx::query_as::<_, TransactionRow>(sql::TX_BY_SOURCE)
                .bind(kind)
                .bind(DISPUTE_SOURCE)
                .bind(d.dispute_id.clone())
        };
        let hold = existing(hold_kind).fetch_optional(&mut *$tx).await?;
        let release = existing(release_kind).fetch_optional(&mut *$tx).await?;
        let mut balance: Option<i64> = None;
        // The balance before the first entry, and the last entry written (for the host event).
        let mut start_balance: Option<i64> = None;
        let mut last_entry: Option<i64> = None;
        let mut credits = 0i64;
        let mut written = 0usize;
        let now = chrono::Utc::now();
        // The entries this stage needs that are not there yet: (kind, credits).
        let mut wanted: Vec<(&'static str, i64)> = Vec::new();
        let held = match &hold {
            Some(h) => -h.amount,
            None => {
                // What is left of the grant after refunds: a dispute cannot take more.
                let clawed: i64 = sqlx::query_scalar(
                    "select cast(coalesce(-sum(amount), 0) as bigint) from credit_transactions \
                     where order_id = $1 and kind = $2",
                )
                .bind(order.id)
                .bind($crate::model::EntryKind::RefundClawback.as_str())
                .fetch_one(&mut *$tx)
                .await?;
                let left = (order.credits_amount - clawed).max(0);
                if left > 0 {
                    wanted.push((hold_kind, -left));
                }
                left
            }
        };
        if d.stage == DisputeStage::Won && release.is_none() && held > 0 {
            wanted.push((release_kind, held));
        }
        for &(kind, amount) in &wanted {
            let current = match balance {
                Some(b) => b,
                None => {
                    let b: Option<i64> = sqlx::query_scalar($user_sql)
                        .bind(order.user_id)
                        .fetch_optional(&mut *$tx)
                        .await?;
                    b.ok_or(StoreError::NotFound("user"))?
                }
            };
            // Holds apply in full, like clawbacks: spent credits leave a debt.
            let new_balance = current.checked_add(amount).ok_or(StoreError::BalanceOutOfRange)?;
            let reason = if kind == hold_kind {
                format!("Dispute on {}", order.plan_name)
            } else {
                format!("Dispute on {} won", order.plan_name)
            };
            let entry = sqlx::query_as::<_, TransactionRow>(sql::INSERT_TX)
                .bind(order.user_id)
                .bind(amount)
                .bind(kind)
                .bind(DISPUTE_SOURCE)
                .bind(&d.dispute_id)
                .bind(Some(order.id))
                .bind("whop")
                .bind(Some(reason))
                .bind(new_balance)
                .bind(now)
                .fetch_optional(&mut *$tx)
                .await?;
            let Some(entry) = entry else {
                // Written meanwhile for another order under the same dispute id: write nothing.
                $tx.rollback().await?;
                return Ok(DisputeOutcome::Unchanged { order });
            };
            start_balance.get_or_insert(current);
            last_entry = Some(entry.id);
            credits += amount;
            sqlx::query(sql::SET_BALANCE)
                .bind(new_balance)
                .bind(now)
                .bind(order.user_id)
                .execute(&mut *$tx)
                .await?;
            balance = Some(new_balance);
            written += 1;
        }
        let lost_now = d.stage == DisputeStage::Lost && order.payment_status != "disputed";
        if written == 0 && !lost_now {
            return Ok(DisputeOutcome::Unchanged { order });
        }
        let order = if lost_now {
            let q = format!(
                "update credit_orders set payment_status = 'disputed', updated_at = $1 where id = $2 returning {}",
                sql::ORDER_COLUMNS
            );
            sqlx::query_as::<_, OrderRow>(&q)
                .bind(now)
                .bind(order.id)
                .fetch_one(&mut *$tx)
                .await?
        } else {
            order
        };
        let status = match d.stage {
            DisputeStage::Open => "open",
            DisputeStage::Won => "won",
            DisputeStage::Lost => "lost",
        };
        $crate::server::store::host_webhook_queries::emit_host_event!(
            $tx,
            order.user_id,
            "credits.disputed",
            serde_json::json!({
                "credits": credits,
                "order_id": order.id,
                "ledger_entry_id": last_entry,
                "dispute_id": d.dispute_id,
                "dispute_status": status,
                "payment_status": order.payment_status,
            }),
            now
        )?;
        if let (Some(before), Some(after)) = (start_balance, balance) {
            $crate::server::store::host_webhook_queries::emit_balance_low!(
                $tx,
                order.user_id,
                before,
                after,
                serde_json::json!({ "order_id": order.id, "ledger_entry_id": last_entry }),
                now
            );
        }
        $tx.commit().await?;
        wanted.iter().for_each(|(kind, _)| $crate::server::metrics::ledger_post(kind));
        Ok(DisputeOutcome::Applied { order })
    }};
}
pub(crate) use dispute_in_tx;
