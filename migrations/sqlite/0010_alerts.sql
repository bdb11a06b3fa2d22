-- 0010 (SQLite): admin alerts and the low-balance banner. Same numbering and meaning as the
-- PostgreSQL file.

-- Conditions an admin should know about (a failed payment, an unmatched payment, a webhook event
-- that keeps failing, a reconciliation error). `dedupe_key` is unique so the same condition
-- raises once however often it is seen. Delivery to ADMIN_ALERT_WEBHOOK_URL is tracked on the row:
-- pending (due at next_delivery_at) -> sending (claimed by one instance until lease_until) ->
-- delivered or failed (gave up); `none` when no URL was configured at raise time.
create table alerts (
    id integer primary key autoincrement,
    kind text not null check (kind in ('payment_failed', 'unmatched_payment', 'webhook_failing',
        'reconcile_error')),
    subject text not null,                                 -- e.g. order:12, payment:pay_..., webhook:msg_...
    message text not null,
    dedupe_key text not null unique,
    status text not null default 'open' check (status in ('open', 'acknowledged')),
    acknowledged_by text,
    acknowledged_at text,
    created_at text not null,
    delivery_status text not null default 'pending'
        check (delivery_status in ('pending', 'sending', 'delivered', 'failed')),
    delivery_attempts integer not null default 0,
    next_delivery_at text not null,
    delivery_lease_until text,
    last_delivery_error text,
    delivered_at text
);
create index alerts_status on alerts (status, id);
create index alerts_delivery_due on alerts (delivery_status, next_delivery_at);

-- The low-balance crossing a user dismissed, named by the ledger row that took the balance below
-- the threshold (the crossing is derived from credit_transactions.balance_after).
create table low_balance_dismissals (
    user_id integer primary key references users (id),
    crossing_tx_id integer not null,
    dismissed_at text not null
);
