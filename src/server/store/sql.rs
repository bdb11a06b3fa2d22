//! SQL text both backends run unchanged (`$n` placeholders work in SQLite and PostgreSQL).
//! What differs per backend (locking, booleans) stays in sqlite.rs / postgres.rs.

pub const USER_COLUMNS: &str =
    "id, email, password_hash, role, external_id, name, credits_balance, created_at, updated_at";

pub const INSERT_USER: &str =
    "insert into users (email, password_hash, role, external_id, name, credits_balance, created_at, updated_at) \
     values ($1, $2, $3, $4, $5, 0, $6, $6) \
     returning id, email, password_hash, role, external_id, name, credits_balance, created_at, updated_at";

/// A ledger row's columns (`TransactionRow`).
pub const TX_COLUMNS: &str =
    "id, user_id, amount, kind, source_kind, source_id, order_id, actor, reason, balance_after, created_at";

pub const TX_BY_SOURCE: &str =
    "select id, user_id, amount, kind, source_kind, source_id, order_id, actor, reason, balance_after, created_at \
     from credit_transactions where kind = $1 and source_kind = $2 and source_id = $3";

pub const INSERT_TX: &str = "insert into credit_transactions \
     (user_id, amount, kind, source_kind, source_id, order_id, actor, reason, balance_after, created_at) \
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
     on conflict (kind, source_kind, source_id) do nothing \
     returning id, user_id, amount, kind, source_kind, source_id, order_id, actor, reason, balance_after, created_at";

/// `INSERT_TX` and `SET_BALANCE` (same parameters) in one statement, PostgreSQL only (a
/// data-modifying CTE; SQLite has none): one round trip per entry of a group-committed batch
/// instead of two. The balance is set only when the row was inserted (not on a conflict).
pub const INSERT_TX_SET_BALANCE: &str = "with ins as (insert into credit_transactions \
     (user_id, amount, kind, source_kind, source_id, order_id, actor, reason, balance_after, created_at) \
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
     on conflict (kind, source_kind, source_id) do nothing \
     returning id, user_id, amount, kind, source_kind, source_id, order_id, actor, reason, balance_after, created_at), \
     upd as (update users set credits_balance = $9, updated_at = $10 where id = $1 and exists (select 1 from ins)) \
     select id, user_id, amount, kind, source_kind, source_id, order_id, actor, reason, balance_after, created_at \
     from ins";

pub const SET_BALANCE: &str = "update users set credits_balance = $1, updated_at = $2 where id = $3";

pub const LEDGER_SUM: &str =
    "select cast(coalesce(sum(amount), 0) as bigint) from credit_transactions where user_id = $1";

/// Newest first; `$2` is the id to page below (keyset pagination: stable under inserts).
pub const TX_PAGE: &str =
    "select id, user_id, amount, kind, source_kind, source_id, order_id, actor, reason, balance_after, created_at \
     from credit_transactions where user_id = $1 and id < $2 order by id desc limit $3";

pub const PLAN_COLUMNS: &str = "id, plan_name, whop_plan_id, credits_amount, price_cents, currency, active, \
     whop_product_id, sort_order, created_at, updated_at, sync_status, sync_error, synced_at, revision, \
     whop_plan_revision";

pub const ORDER_COLUMNS: &str = "id, user_id, plan_name, credits_amount, price_cents, currency, status, \
     payment_method, payment_status, whop_checkout_id, whop_payment_id, whop_plan_id, notes, client_key, \
     failure_message, hold_reason, created_at, updated_at, paid_at, credited_at, review_note, reviewed_by, reviewed_at";

pub const WEBHOOK_EVENT_COLUMNS: &str =
    "id, event_type, received_at, payload, status, attempts, last_error, processed_at, next_attempt_at, order_id, \
     payment_id";

/// Names which unique key of `users` a violation hit, from its constraint name or message.
pub fn user_conflict(detail: &str) -> String {
    if detail.contains("external_id") {
        "external_id".into()
    } else if detail.contains("email") {
        "email".into()
    } else {
        detail.into()
    }
}

pub const API_KEY_COLUMNS: &str = "id, name, key_hash, key_prefix, created_by, created_at, last_used_at, revoked_at";

/// `$first, $first+1, ...` (`count` placeholders), for an `in (...)` list.
pub fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}
