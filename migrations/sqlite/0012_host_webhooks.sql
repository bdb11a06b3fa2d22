-- 0012 (SQLite): signed webhooks to the host app (Atlas). Same numbering and meaning as the
-- PostgreSQL file.

-- Where Atlas wants to hear about changes. The secret (`whsec_` + base64 of 24 random bytes) signs
-- every delivery, so it is kept as is (not hashed); it is shown once, at creation. `event_types`
-- is a comma list of the fixed event names; disabling stops new fan-out and pauses pending
-- deliveries (the job skips them) until enabled again.
create table host_webhook_endpoints (
    id integer primary key autoincrement,
    url text not null,
    secret text not null,
    event_types text not null,
    description text,
    enabled boolean not null default 1,
    created_at text not null,
    created_by text not null,
    disabled_at text
);

-- The outbox: one row per change reported, written in the transaction of the change itself (so a
-- crash neither loses nor invents one), and only when some enabled endpoint wants its type. The
-- id orders a user's events; `message_id` is the `webhook-id` header of every try and resend.
create table host_events (
    id integer primary key autoincrement,
    message_id text not null unique,
    user_id integer not null references users (id),
    event_type text not null,
    payload text not null,
    created_at text not null
);

-- One delivery of an event to one endpoint. pending (due at next_attempt_at; in flight while
-- lease_until is in the future) -> delivered, or failed once the retry schedule is used up.
create table host_deliveries (
    id integer primary key autoincrement,
    event_id integer not null references host_events (id),
    endpoint_id integer not null references host_webhook_endpoints (id),
    user_id integer not null,
    status text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
    attempts integer not null default 0,
    next_attempt_at text not null,
    lease_until text,
    last_status_code integer,
    last_error text,
    delivered_at text,
    created_at text not null,
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
    id integer primary key autoincrement,
    delivery_id integer not null references host_deliveries (id),
    attempted_at text not null,
    status_code integer,
    error text,
    duration_ms integer not null
);
create index host_delivery_attempts_delivery on host_delivery_attempts (delivery_id, id);
