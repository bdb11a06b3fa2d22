-- 0007 (PostgreSQL): the admin's orders table and review of manual orders. Same numbering and
-- meaning as the SQLite file.

-- Review of a manual order by an admin: the note is the admin's reason, shown to the user when
-- the order is rejected (on /credits and /account).
alter table credit_orders add column review_note text;
alter table credit_orders add column reviewed_by text;             -- admin:ID
alter table credit_orders add column reviewed_at timestamptz;

-- /admin/orders lists newest first (order by id desc) with keyset pagination. Each filter walks
-- an index that ends in id, so a page reads about one page of rows even at a million orders:
--   payment status        -> credit_orders_payment_status (payment_status, id)
--   review status         -> credit_orders_status (status, id)
--   method                -> credit_orders_method (payment_method, id)
--   method + review status (the manual queue, and its count) -> credit_orders_queue
--   user email            -> users_email_lower, then credit_orders_user (user_id, id) (0001)
--   date range            -> credit_orders_created (created_at, id)
create index credit_orders_payment_status on credit_orders (payment_status, id);
create index credit_orders_status on credit_orders (status, id);
create index credit_orders_method on credit_orders (payment_method, id);
create index credit_orders_queue on credit_orders (payment_method, status, id);
create index credit_orders_created on credit_orders (created_at, id);

-- The order page's timeline: its webhook events, ledger rows and audit lines.
create index webhook_events_order on webhook_events (order_id);
create index credit_transactions_order on credit_transactions (order_id);
create index audit_log_subject on audit_log (subject, id);
