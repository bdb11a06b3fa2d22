-- 0001 (PostgreSQL): the whole Atlas Credits schema. Same numbering and meaning as migrations/sqlite.
-- Names follow Atlas's existing tables (credit_orders, credit_transactions, whop_plans,
-- users.credits_balance) so legacy data maps over. Times are timestamptz (UTC).

create table users (
    id bigint generated always as identity primary key,
    email text not null,                                  -- compared case-insensitively (index below)
    password_hash text,                                   -- argon2id PHC string; null: cannot sign in (host-app user)
    role text not null default 'user' check (role in ('user', 'admin')),
    external_id text unique,                              -- the host app's own id for this user
    name text,
    credits_balance bigint not null default 0,            -- always equals sum(credit_transactions.amount)
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create unique index users_email_lower on users (lower(email));

create table whop_plans (
    id bigint generated always as identity primary key,
    plan_name text not null unique,                       -- e.g. Starter; shown to buyers
    whop_plan_id text unique,                             -- plan_...; null until pushed to Whop
    credits_amount bigint not null check (credits_amount > 0),
    price_cents bigint check (price_cents is null or price_cents > 0), -- null: custom price (Enterprise)
    currency text not null default 'usd',
    active boolean not null default true,                 -- false: archived, not for sale
    sort_order integer not null default 0,
    created_at timestamptz not null,
    updated_at timestamptz not null
);

create table credit_orders (
    id bigint generated always as identity primary key,
    user_id bigint not null references users (id),
    plan_name text not null,
    credits_amount bigint not null check (credits_amount > 0),
    price_cents bigint not null check (price_cents >= 0),
    currency text not null default 'usd',
    status text not null default 'pending'                 -- manual review state
        check (status in ('pending', 'approved', 'rejected', 'cancelled')),
    payment_method text not null check (payment_method in ('manual', 'whop')),
    payment_status text not null default 'pending'
        check (payment_status in ('pending', 'paid', 'failed', 'refunded', 'partially_refunded', 'disputed')),
    whop_checkout_id text unique,                          -- ch_... checkout configuration
    whop_payment_id text unique,                           -- pay_...; one order per Whop payment
    whop_plan_id text,
    notes text,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    paid_at timestamptz,
    credited_at timestamptz
);
create index credit_orders_user on credit_orders (user_id, id);

-- The ledger. Rows are never updated or deleted (trigger below); a balance change is a new row.
create table credit_transactions (
    id bigint generated always as identity primary key,
    user_id bigint not null references users (id),
    amount bigint not null check (amount <> 0),           -- signed credits
    kind text not null check (kind in ('purchase', 'manual_grant', 'admin_adjustment', 'spend',
        'refund_clawback', 'dispute_hold', 'dispute_release', 'migration')),
    source_kind text not null,                             -- what source_id names: whop_payment, whop_refund, order, ...
    source_id text not null,
    order_id bigint references credit_orders (id),
    actor text not null,                                   -- who caused it: system, whop, user:1, admin:2, api_key:3
    reason text,
    balance_after bigint not null,
    created_at timestamptz not null,
    unique (kind, source_kind, source_id)                 -- one effect per source, whatever retries come
);
create index credit_transactions_user on credit_transactions (user_id, id);

create function credit_transactions_immutable() returns trigger language plpgsql as $$
begin
    raise exception 'credit_transactions rows are immutable';
end;
$$;
create trigger credit_transactions_no_change before update or delete on credit_transactions
    for each row execute function credit_transactions_immutable();

create table webhook_events (
    id text primary key,                                   -- the delivery's webhook-id header (msg_...)
    event_type text not null,
    received_at timestamptz not null,
    payload text not null,                                 -- the raw body exactly as signed
    status text not null default 'pending'
        check (status in ('pending', 'processed', 'failed', 'ignored')),
    attempts integer not null default 0,
    last_error text,
    processed_at timestamptz
);
create index webhook_events_status on webhook_events (status, received_at);

create table settings (
    key text primary key,
    value text not null,
    updated_at timestamptz not null
);

create table audit_log (
    id bigint generated always as identity primary key,
    actor text not null,
    action text not null,
    subject text not null,
    before_value text,                                     -- JSON
    after_value text,                                      -- JSON
    created_at timestamptz not null
);

insert into whop_plans (plan_name, credits_amount, price_cents, currency, active, sort_order, created_at, updated_at) values
    ('Starter', 5000, 750, 'usd', true, 10, now(), now()),
    ('Pro', 25000, 3250, 'usd', true, 20, now(), now()),
    ('Enterprise', 100000, null, 'usd', true, 30, now(), now());
