-- 0012 (PostgreSQL): signed webhooks to the host app (Atlas). Same numbering and meaning as the
-- SQLite file.

-- Where Atlas wants to hear about changes. The secret (`whsec_` + base64 of 24 random bytes) signs
-- every delivery, so it is kept as is (not hashed); it is shown once, at creation. `event_types`
-- is a comma list of the fixed event names; disabling stops new fan-out and pauses pending
-- deliveries (the job skips them) until enabled again.
create table host_webhook_endpoints (
    id bigint generated always as identity primary key,
    url text not null,
    secret text not null,
    event_types text not null,
    description text,
    enabled boolean not null default true,
    created_at timestamptz not null,
    created_by text not null,
    disabled_at timestamptz
);

-- The outbox: one row per change reported, written in the transaction of the change itself (so a
-- crash neither loses nor invents one), and only when some enabled endpoint wants its type. The
-- id orders a user's events; `message_id` is the `webhook-id` header of every try and resend.
create table host_events (
    id bigint generated always as identity primary key,
    message_id text not null unique,
    user_id bigint not null references users (id),
    event_type text not null,
    payload text not null,
    created_at timestamptz not null
);

-- One delivery of an event to one endpoint. pending (due at next_attempt_at; in flight while
-- lease_until is in the future) -> delivered, or failed once the retry schedule is used up.
create table host_deliveries (
    id bigint generated always as identity primary key,
    event_id bigint not null references host_events (id),
    endpoint_id bigint not null references host_webhook_endpoints (id),
    user_id bigint not null,
    status text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
    attempts integer not null default 0,
    next_attempt_at timestamptz not null,
    lease_until timestamptz,
    last_status_code integer,
    last_error text,
    delivered_at timestamptz,
    created_at timestamptz not null,
    unique (event_id, endpoint_id)
);
-- The job's scan for due rows.
create index host_deliveries_due on host_deliveries (status, next_attempt_at);
-- "Is an earlier delivery of this user to this endpoint still pending?" (in order per user).
create index host_deliveries_order on host_deliveries (endpoint_id, user_id, status, event_id);
-- The admin list filtered by endpoint, newest first (the unfiltered list walks the primary key).
create index host_deliveries_endpoint on host_deliveries (endpoint_id, id);

-- Every try of a delivery: when, what came back, how long it took. `error` is short and never
-- holds the URL or the secret.
create table host_delivery_attempts (
    id bigint generated always as identity primary key,
    delivery_id bigint not null references host_deliveries (id),
    attempted_at timestamptz not null,
    status_code integer,
    error text,
    duration_ms bigint not null
);
create index host_delivery_attempts_delivery on host_delivery_attempts (delivery_id, id);
