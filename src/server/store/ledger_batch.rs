//! The body of a group-committed ledger batch (see `group_commit.rs`), shared by both backends:
//! the SQL is the same, only the row lock and whether one statement both inserts the row and
//! sets the balance differ (a macro, like the rest of the shared SQL: see `queries.rs`).
//!
//! Round trips per batch, not per entry, wherever the entries allow it: one read of every
//! balance (PostgreSQL: locking the rows in user-id order, so two batches of two app instances
//! cannot deadlock on them), one read of every source already posted, one read of the webhook
//! subscriptions; then per entry the insert and the balance update (one statement on
//! PostgreSQL), plus the outbox rows when a host endpoint listens.

/// Evaluates to `Result<Vec<EntryResult>, StoreError>` in the open transaction `$tx` (the caller
/// began it and commits it). Each entry is checked before anything of it is written (unknown
/// user, already applied, balance range, overdraft), so a refused entry writes nothing and the
/// batch goes on; entries see the effects of those before them (balances and sources are
/// tracked as the batch goes). An `Err` is a failed statement: the caller must roll back.
/// `$lock` is appended to the balance read (" for update" or ""); with `$sets_balance` the insert
/// statement (`sql::INSERT_TX_SET_BALANCE`) sets the balance too.
macro_rules! post_batch_in_tx {
    ($tx:ident, $entries:expr, $lock:expr, $sets_balance:expr) => {{
        use std::collections::HashMap;
        use $crate::server::store::group_commit::EntryResult;
        use $crate::server::store::host_webhook_queries::{emit_balance_low, emit_host_event, wanted_host_events, wants};
        use $crate::server::store::{sql, NewEntry, PostOutcome, StoreError, TransactionRow};

        let entries: &[NewEntry] = $entries;
        let mut users: Vec<i64> = entries.iter().map(|e| e.user_id).collect();
        users.sort_unstable();
        users.dedup();
        let q = format!(
            "select id, credits_balance from users where id in ({}) order by id{}",
            sql::placeholders(1, users.len()),
            $lock
        );
        let mut read = sqlx::query_as::<_, (i64, i64)>(&q);
        for u in &users {
            read = read.bind(*u);
        }
        let mut balances: HashMap<i64, i64> = read.fetch_all(&mut *$tx).await?.into_iter().collect();

        let q = format!(
            // Row values against a VALUES list: SQLite takes row values in IN only from a subquery.
            "select {} from credit_transactions where (kind, source_kind, source_id) in (values {})",
            sql::TX_COLUMNS,
            (0..entries.len())
                .map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut read = sqlx::query_as::<_, TransactionRow>(&q);
        for e in entries {
            read = read.bind(e.kind).bind(&e.source_kind).bind(&e.source_id);
        }
        let mut posted: HashMap<(String, String, String), TransactionRow> = read
            .fetch_all(&mut *$tx)
            .await?
            .into_iter()
            .map(|r| ((r.kind.clone(), r.source_kind.clone(), r.source_id.clone()), r))
            .collect();

        // Debits may emit host events: one read of what is wanted serves the whole batch.
        let wanted = if entries.iter().any(|e| e.amount < 0) {
            wanted_host_events!($tx)
        } else {
            String::new()
        };

        let mut results: Vec<EntryResult> = Vec::with_capacity(entries.len());
        for e in entries {
            let key = (e.kind.to_string(), e.source_kind.clone(), e.source_id.clone());
            let Some(&balance) = balances.get(&e.user_id) else {
                results.push(Err(StoreError::NotFound("user")));
                continue;
            };
            if let Some(existing) = posted.get(&key) {
                results.push(Ok(PostOutcome::AlreadyApplied(existing.clone())));
                continue;
            }
            let Some(new_balance) = balance.checked_add(e.amount) else {
                results.push(Err(StoreError::BalanceOutOfRange));
                continue;
            };
            if e.no_overdraft && new_balance < 0 {
                results.push(Err(StoreError::InsufficientCredits {
                    balance: $crate::model::Credits(balance),
                }));
                continue;
            }
            let now = chrono::Utc::now();
            let insert = if $sets_balance { sql::INSERT_TX_SET_BALANCE } else { sql::INSERT_TX };
            let inserted = sqlx::query_as::<_, TransactionRow>(insert)
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
                .fetch_optional(&mut *$tx)
                .await?;
            let Some(row) = inserted else {
                // PostgreSQL: another transaction (another instance, or another shard's batch)
                // committed this source after our read; nothing of ours was written. Read
                // Committed shows us its row now.
                let existing = sqlx::query_as::<_, TransactionRow>(sql::TX_BY_SOURCE)
                    .bind(e.kind)
                    .bind(&e.source_kind)
                    .bind(&e.source_id)
                    .fetch_one(&mut *$tx)
                    .await?;
                posted.insert(key, existing.clone());
                results.push(Ok(PostOutcome::AlreadyApplied(existing)));
                continue;
            };
            if !$sets_balance {
                sqlx::query(sql::SET_BALANCE)
                    .bind(new_balance)
                    .bind(now)
                    .bind(e.user_id)
                    .execute(&mut *$tx)
                    .await?;
            }
            balances.insert(e.user_id, new_balance);
            if e.amount < 0 && wanted.len() > 2 {
                let ids = serde_json::json!({ "order_id": row.order_id, "ledger_entry_id": row.id });
                if e.kind == $crate::model::EntryKind::Spend.as_str() && wants(&wanted, "credits.spent") {
                    let mut data = ids.clone();
                    data["credits"] = serde_json::json!(row.amount);
                    emit_host_event!($tx, e.user_id, "credits.spent", data, now)?;
                }
                if wants(&wanted, "balance.low") {
                    emit_balance_low!($tx, e.user_id, balance, new_balance, ids, now);
                }
            }
            posted.insert(key, row.clone());
            results.push(Ok(PostOutcome::Applied(row)));
        }
        Ok::<Vec<EntryResult>, StoreError>(results)
    }};
}
pub(crate) use post_batch_in_tx;

/// Counts the rows a committed batch wrote (the metrics' ledger counters).
pub fn count_applied(results: &[super::group_commit::EntryResult]) {
    for r in results {
        if let Ok(super::PostOutcome::Applied(row)) = r {
            crate::server::metrics::ledger_post(&row.kind);
        }
    }
}
