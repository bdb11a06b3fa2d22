-- 0005 (SQLite): refunds. Same numbering and meaning as the PostgreSQL file.

-- Every Whop refund applied to an order, once (the refund id is the key, so a repeat inserts
-- nothing). The sum of an order's amounts is its cumulative refunded cents, from which each
-- clawback is computed so that all of them together never exceed the credits granted.
create table order_refunds (
    refund_id text primary key,                           -- rf_...
    order_id integer not null references credit_orders (id),
    amount_cents integer not null check (amount_cents > 0),
    created_at text not null
);
create index order_refunds_order on order_refunds (order_id);
