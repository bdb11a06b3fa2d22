-- 0006 (SQLite): unmatched payments and reconciliation. Same numbering and meaning as the
-- PostgreSQL file.

-- Whop payments that were paid but could not be credited automatically: no order matches them
-- (no metadata, an unknown checkout), or their order held them (wrong amount or currency, an order
-- paid twice). One row per payment, whoever found it first (a webhook or reconciliation). An
-- admin attaches the payment to a user (crediting an order made for it through the one fulfil
-- path) or marks it resolved; nothing here is ever credited on its own.
create table unmatched_payments (
    id integer primary key autoincrement,
    payment_id text not null unique,                       -- pay_...
    kind text not null check (kind in ('no_order', 'held')),
    reason text not null,
    order_id integer references credit_orders (id),        -- the order that held it, if any
    email text,                                            -- the payer's, as Whop reported it
    amount_cents integer not null,
    currency text not null,
    checkout_id text,
    whop_plan_id text,
    whop_user_id text,
    raw_event text not null,                               -- the webhook body or API object it came from
    status text not null default 'open' check (status in ('open', 'attached', 'resolved')),
    attached_order_id integer references credit_orders (id),
    resolved_by text,
    resolution_note text,
    created_at text not null,
    resolved_at text
);
create index unmatched_payments_status on unmatched_payments (status, id);

-- Which payment an event is about (set when applying it), so the refunds and disputes waiting for
-- a payment can be woken the moment it is credited, and settled when an admin resolves it.
alter table webhook_events add column payment_id text;
create index webhook_events_payment on webhook_events (payment_id, status);

-- One holder at a time for work that must not run twice at once across instances (the
-- reconciler): taken with a conditional update, lost when it expires.
create table job_leases (
    name text primary key,
    holder text,
    expires_at text not null
);
insert into job_leases (name, holder, expires_at) values ('reconcile', null, '1970-01-01T00:00:00+00:00');

-- How far reconciliation has read Whop's changes (each pass re-reads an overlap before it).
create table reconcile_watermarks (
    name text primary key,
    value text not null,
    updated_at text not null
);
