-- 0003 (SQLite): state of the built-in Whop simulator (test mode). Same meaning as the
-- PostgreSQL file. Objects are kept as the JSON Whop would send (money as decimal numbers
-- written from integer cents), so the simulator serves them as they are.

create table whop_sim_objects (
    seq integer primary key autoincrement,                 -- creation order (list order, cursors)
    id text not null unique,                               -- prod_..., plan_..., ch_..., pay_..., rf_..., dspt_..., idem:...
    kind text not null,                                    -- product, plan, checkout, payment, refund, dispute, idempotency
    data text not null,                                    -- the object's JSON
    updated_at text not null
);
create index whop_sim_objects_kind on whop_sim_objects (kind, seq);

create table whop_sim_deliveries (
    id integer primary key autoincrement,
    webhook_id text not null,                              -- msg_...; a duplicate delivery repeats it
    event_type text not null,
    payload text not null,                                 -- the exact body that is signed and sent
    status text not null check (status in ('pending', 'delivered', 'failed', 'dropped')),
    attempts integer not null default 0,
    next_attempt_at text not null,
    last_status integer,                                   -- HTTP status of the last attempt (null: no answer)
    created_at text not null
);
create index whop_sim_deliveries_due on whop_sim_deliveries (status, next_attempt_at);
