//! The body of a group-committed ledger batch (see `group_commit.rs`), shared by both backends:
//! the SQL is the same, only the row lock and whether one statement both inserts the row and
//! sets the balance differ (a macro, like the rest of the shared SQL: see `queries.rs`).
//!
//! Round trips per batch, not per entry: each round trip is a hand-over to the database (on
//! SQLite, to the connection's thread and back), and those, not the SQL, were the cost (a
//! profile of SQLite `normal`: half the time in the scheduler, 1.6% in SQLite). A batch is one
//! read of every balance (PostgreSQL: locking the rows in user-id order, so two batches of two
//! app instances cannot deadlock on them), one read of every source already posted, one read of
//! the webhook subscriptions when it holds a debit; then every entry is decided in memory
//! (`plan`), and the rows go in with one multi-row insert and the balances with one update.
//! When a host endpoint listens for debits (`credits.spent`, `balance.low`), each row is written
//! with its own statements instead, as the outbox rows read the balance each entry left.

use std::collections::HashMap;

use super::group_commit::EntryResult;
use super::{sql, NewEntry, PostOutcome, StoreError, TransactionRow};
use crate::model::Credits;

/// A ledger row's unique key: (kind, source kind, source id).
pub type SourceKey = (String, String, String);

pub fn entry_key(e: &NewEntry) -> SourceKey {
    (e.kind.to_string(), e.source_kind.clone(), e.source_id.clone())
}

pub fn row_key(r: &TransactionRow) -> SourceKey {
    (r.kind.clone(), r.source_kind.clone(), r.source_id.clone())
}

/// Rows per insert statement: 10 parameters a row keeps a statement within SQLite's 32,766
/// bound parameters (and PostgreSQL's 65,535); `LEDGER_BATCH_MAX` (at most 1,024) is then one or
/// two statements.
pub const ROWS_PER_INSERT: usize = 1000;
const _: () = assert!(10 * ROWS_PER_INSERT <= 32_766);

/// What the batch decided for one entry before writing anything.
#[derive(Debug)]
pub enum Planned {
    /// Answered without a write: refused, or posted before this batch.
    Done(EntryResult),
    /// Row `n` of `Plan::rows`: written by this batch.
    Insert(usize),
    /// The same source as row `n` of `Plan::rows`, earlier in this batch: that row answers it.
    Repeat(usize),
}

/// A row to write: the entry, the balance before it and the balance it leaves.
pub struct NewRow<'a> {
    pub entry: &'a NewEntry,
    pub before: i64,
    pub after: i64,
}

pub struct Plan<'a> {
    /// One per entry, in order.
    pub answers: Vec<Planned>,
    /// The rows to insert, in order.
    pub rows: Vec<NewRow<'a>>,
}

/// Decides every entry in order, as a sequential ledger would: each sees the balances and the
/// sources of those before it. `balances` holds the users that exist; `posted` the sources
/// already in the ledger.
pub fn plan<'a>(
    entries: &'a [NewEntry],
    mut balances: HashMap<i64, i64>,
    posted: &HashMap<SourceKey, TransactionRow>,
) -> Plan<'a> {
    let mut answers = Vec::with_capacity(entries.len());
    let mut rows: Vec<NewRow> = Vec::with_capacity(entries.len());
    let mut in_batch: HashMap<SourceKey, usize> = HashMap::new();
    for e in entries {
        let Some(&balance) = balances.get(&e.user_id) else {
            answers.push(Planned::Done(Err(StoreError::NotFound("user"))));
            continue;
        };
        let key = entry_key(e);
        if let Some(existing) = posted.get(&key) {
            answers.push(Planned::Done(Ok(PostOutcome::AlreadyApplied(existing.clone()))));
            continue;
        }
        if let Some(&n) = in_batch.get(&key) {
            answers.push(Planned::Repeat(n));
            continue;
        }
        let Some(after) = balance.checked_add(e.amount) else {
            answers.push(Planned::Done(Err(StoreError::BalanceOutOfRange)));
            continue;
        };
        if e.no_overdraft && after < 0 {
            answers.push(Planned::Done(Err(StoreError::InsufficientCredits {
                balance: Credits(balance),
            })));
            continue;
        }
        balances.insert(e.user_id, after);
        in_batch.insert(key, rows.len());
        answers.push(Planned::Insert(rows.len()));
        rows.push(NewRow {
            entry: e,
            before: balance,
            after,
        });
    }
    Plan { answers, rows }
}

impl Plan<'_> {
    /// Each user's balance after the batch, for the users it changes (user-id order).
    pub fn final_balances(&self) -> Vec<(i64, i64)> {
        let mut last: HashMap<i64, i64> = HashMap::new();
        for r in &self.rows {
            last.insert(r.entry.user_id, r.after);
        }
        let mut out: Vec<(i64, i64)> = last.into_iter().collect();
        out.sort_unstable();
        out
    }

    /// The answers, once the rows are written. `written` holds the inserted rows by source;
    /// `taken` (PostgreSQL only, and only for a batch of one row) is that row's source when
    /// another transaction committed it first: the entry is answered with that row instead.
    pub fn answers(
        self,
        written: &HashMap<SourceKey, TransactionRow>,
        taken: Option<&TransactionRow>,
    ) -> Result<Vec<EntryResult>, StoreError> {
        let row = |n: usize| -> Result<(bool, TransactionRow), StoreError> {
            let key = entry_key(self.rows[n].entry);
            match (written.get(&key), taken) {
                (Some(r), _) => Ok((true, r.clone())),
                (None, Some(t)) if row_key(t) == key => Ok((false, t.clone())),
                (None, _) => Err(StoreError::NotFound("inserted ledger row")),
            }
        };
        let mut results = Vec::with_capacity(self.answers.len());
        for a in self.answers {
            results.push(match a {
                Planned::Done(r) => r,
                Planned::Insert(n) => match row(n)? {
                    (true, r) => Ok(PostOutcome::Applied(r)),
                    (false, r) => Ok(PostOutcome::AlreadyApplied(r)),
                },
                Planned::Repeat(n) => Ok(PostOutcome::AlreadyApplied(row(n)?.1)),
            });
        }
        Ok(results)
    }
}

/// `insert ... values (...), (...) on conflict do nothing returning ...` for `rows` rows, with the
/// parameters of `sql::INSERT_TX` per row.
pub fn insert_rows_sql(rows: usize) -> String {
    let values = (0..rows)
        .map(|i| format!("({})", sql::placeholders(10 * i + 1, 10)))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "insert into credit_transactions \
         (user_id, amount, kind, source_kind, source_id, order_id, actor, reason, balance_after, created_at) \
         values {values} on conflict (kind, source_kind, source_id) do nothing returning {}",
        sql::TX_COLUMNS
    )
}

/// One update setting `users` balances: parameters (id, balance) per user, then `updated_at`.
pub fn set_balances_sql(users: usize) -> String {
    let cases: String = (0..users)
        .map(|i| format!(" when ${} then ${}", 2 * i + 1, 2 * i + 2))
        .collect();
    let ids = (0..users)
        .map(|i| format!("${}", 2 * i + 1))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "update users set credits_balance = case id{cases} end, updated_at = ${} where id in ({ids})",
        2 * users + 1
    )
}

/// Evaluates to `Result<Vec<EntryResult>, StoreError>` in the open transaction `$tx` (the caller
/// began it and commits it). Each entry is decided before anything is written (unknown user,
/// already applied, balance range, overdraft), so a refused entry writes nothing and the batch
/// goes on; entries see the effects of those before them. An `Err` is a failed statement, or
/// (PostgreSQL, a batch of several rows) a source that another transaction committed after our
/// read: the caller must roll back, and the entries are posted again one by one.
/// `$lock` is appended to the balance read (" for update" or ""); with `$sets_balance` the
/// one-row insert (`sql::INSERT_TX_SET_BALANCE`) sets the balance too.
/// Binds one planned row's ten values, in the column order of `sql::INSERT_TX` (and of each
/// row of `insert_rows_sql`): user, amount, kind, source kind and id, order, actor, reason,
/// balance after, time.
macro_rules! bind_row {
    ($query:expr, $row:expr, $now:expr) => {{
        let e = $row.entry;
        $query
            .bind(e.user_id)
            .bind(e.amount)
            .bind(e.kind)
            .bind(&e.source_kind)
            .bind(&e.source_id)
            .bind(e.order_id)
            .bind(&e.actor)
            .bind(&e.reason)
            .bind($row.after)
            .bind($now)
    }};
}
pub(crate) use bind_row;

macro_rules! post_batch_in_tx {
    ($tx:ident, $entries:expr, $lock:expr, $sets_balance:expr) => {{
        use std::collections::HashMap;
        use $crate::server::store::host_webhook_queries::{emit_balance_low, emit_host_event, wanted_host_events, wants};
        use $crate::server::store::ledger_batch::{self as batch, bind_row, SourceKey};
        use $crate::server::store::{sql, NewEntry, StoreError, TransactionRow};

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
        let balances: HashMap<i64, i64> = read.fetch_all(&mut *$tx).await?.into_iter().collect();

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
        let posted: HashMap<SourceKey, TransactionRow> = read
            .fetch_all(&mut *$tx)
            .await?
            .into_iter()
            .map(|r| (batch::row_key(&r), r))
            .collect();

        // Debits may emit host events: one read of what is wanted serves the whole batch.
        let wanted = if entries.iter().any(|e| e.amount < 0) {
            wanted_host_events!($tx)
        } else {
            String::new()
        };
        let (spent_event, low_event) = (wants(&wanted, "credits.spent"), wants(&wanted, "balance.low"));

        let plan = batch::plan(entries, balances, &posted);
        let now = chrono::Utc::now();
        let mut written: HashMap<SourceKey, TransactionRow> = HashMap::with_capacity(plan.rows.len());
        if spent_event || low_event {
            // Row by row: an event reads (in this transaction) the balance its entry left.
            for r in &plan.rows {
                let e = r.entry;
                let insert = if $sets_balance { sql::INSERT_TX_SET_BALANCE } else { sql::INSERT_TX };
                let inserted = bind_row!(sqlx::query_as::<_, TransactionRow>(insert), r, now)
                    .fetch_optional(&mut *$tx)
                    .await?;
                // Taken by another transaction: nothing of ours was written (see below).
                let Some(row) = inserted else { break };
                if !$sets_balance {
                    sqlx::query(sql::SET_BALANCE)
                        .bind(r.after)
                        .bind(now)
                        .bind(e.user_id)
                        .execute(&mut *$tx)
                        .await?;
                }
                if e.amount < 0 {
                    let ids = serde_json::json!({ "order_id": row.order_id, "ledger_entry_id": row.id });
                    if e.kind == $crate::model::EntryKind::Spend.as_str() && spent_event {
                        let mut data = ids.clone();
                        data["credits"] = serde_json::json!(row.amount);
                        emit_host_event!($tx, e.user_id, "credits.spent", data, now)?;
                    }
                    if low_event {
                        emit_balance_low!($tx, e.user_id, r.before, r.after, ids, now);
                    }
                }
                written.insert(batch::row_key(&row), row);
            }
        } else {
            for chunk in plan.rows.chunks(batch::ROWS_PER_INSERT) {
                let q = batch::insert_rows_sql(chunk.len());
                let mut insert = sqlx::query_as::<_, TransactionRow>(&q);
                for r in chunk {
                    insert = bind_row!(insert, r, now);
                }
                // RETURNING's order is unspecified: rows are matched to entries by source.
                for row in insert.fetch_all(&mut *$tx).await? {
                    written.insert(batch::row_key(&row), row);
                }
            }
        }

        // A row missing from what was written: PostgreSQL only (SQLite's batch holds the write
        // lock since its read), another transaction (another instance, or another shard's batch)
        // committed that source after our read. With one row, its entry is answered with that
        // row and no balance changes; with more, the balances planned after it are wrong, so the
        // batch fails and its entries are posted again one by one.
        if written.len() < plan.rows.len() && plan.rows.len() > 1 {
            Err(StoreError::Conflict("ledger source committed by another transaction".into()))
        } else {
            let taken = if written.len() < plan.rows.len() {
                let e = plan.rows[0].entry;
                Some(
                    sqlx::query_as::<_, TransactionRow>(sql::TX_BY_SOURCE)
                        .bind(e.kind)
                        .bind(&e.source_kind)
                        .bind(&e.source_id)
                        .fetch_one(&mut *$tx)
                        .await?,
                )
            } else {
                None
            };
            if taken.is_none() && !(spent_event || low_event) && !plan.rows.is_empty() {
                let balances = plan.final_balances();
                let q = batch::set_balances_sql(balances.len());
                let mut update = sqlx::query(&q);
                for (user, balance) in &balances {
                    update = update.bind(*user).bind(*balance);
                }
                update.bind(now).execute(&mut *$tx).await?;
            }
            plan.answers(&written, taken.as_ref())
        }
    }};
}
pub(crate) use post_batch_in_tx;

/// Counts the rows a committed batch wrote (the metrics' ledger counters).
pub fn count_applied(results: &[EntryResult]) {
    for r in results {
        if let Ok(PostOutcome::Applied(row)) = r {
            crate::server::metrics::ledger_post(&row.kind);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(user: i64, amount: i64, key: &str) -> NewEntry {
        NewEntry {
            user_id: user,
            amount,
            kind: if amount < 0 { "spend" } else { "manual_grant" },
            source_kind: "t".into(),
            source_id: key.into(),
            order_id: None,
            actor: "system".into(),
            reason: None,
            no_overdraft: amount < 0,
        }
    }

    #[test]
    fn plans_as_a_sequential_ledger() {
        let entries = vec![
            entry(1, -3, "a"),
            entry(1, -3, "b"), // would leave -1: refused
            entry(2, 5, "c"),
            entry(1, -3, "a"), // the same source as the first: its row
            entry(9, 1, "d"),  // no such user
            entry(1, -2, "e"),
        ];
        let plan = plan(&entries, HashMap::from([(1, 5), (2, 0)]), &HashMap::new());
        let shape: Vec<String> = plan
            .answers
            .iter()
            .map(|a| match a {
                Planned::Done(Err(StoreError::InsufficientCredits { balance })) => format!("short {}", balance.0),
                Planned::Done(Err(StoreError::NotFound(_))) => "none".into(),
                Planned::Done(other) => format!("{other:?}"),
                Planned::Insert(n) => format!("row {n}"),
                Planned::Repeat(n) => format!("repeat {n}"),
            })
            .collect();
        assert_eq!(shape, ["row 0", "short 2", "row 1", "repeat 0", "none", "row 2"]);
        let afters: Vec<i64> = plan.rows.iter().map(|r| r.after).collect();
        assert_eq!(afters, [2, 5, 0]);
        assert_eq!(plan.final_balances(), [(1, 0), (2, 5)]);
    }

    #[test]
    fn statements_fit_the_parameter_bounds() {
        assert_eq!(insert_rows_sql(2).matches('$').count(), 20);
        assert!(insert_rows_sql(ROWS_PER_INSERT).contains(&format!("${}", 10 * ROWS_PER_INSERT)));
        let set = set_balances_sql(2);
        assert!(set.contains("case id when $1 then $2 when $3 then $4 end, updated_at = $5 where id in ($1, $3)"));
    }
}
