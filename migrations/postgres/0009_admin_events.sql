-- 0009 (PostgreSQL): indexes for the admin's webhook log, audit log and metrics. Same numbering and
-- meaning as the SQLite file.

-- The webhook log pages newest first by (received_at, id) (ids are msg_... text, not ordered by
-- arrival), optionally only one status or one event type.
create index webhook_events_received on webhook_events (received_at, id);
create index webhook_events_status_received on webhook_events (status, received_at, id);
create index webhook_events_type_received on webhook_events (event_type, received_at, id);

-- The audit log pages newest first by id, optionally only one actor or one action.
create index audit_log_actor on audit_log (actor, id);
create index audit_log_action on audit_log (action, id);

-- Metrics read orders by when they were created, paid and credited, and refunds by date.
-- created_at is served by credit_orders_created (created_at, id) from 0007.
create index credit_orders_paid on credit_orders (paid_at);
create index credit_orders_credited on credit_orders (credited_at);
create index order_refunds_created on order_refunds (created_at);
create index unmatched_payments_created on unmatched_payments (created_at);
