-- 0004 (PostgreSQL): what buying credits needs. Same numbering and meaning as the SQLite file.

-- One order per client key: a double click, a second tab or a retried request finds the order the
-- first one made (the key is made in the browser and also sent to Whop as the checkout's
-- Idempotency-Key through the order id).
alter table credit_orders add column client_key text;
create unique index credit_orders_client_key on credit_orders (client_key);
-- Whop's failure message when the payment (or creating the checkout) failed.
alter table credit_orders add column failure_message text;
-- Why a payment was not credited and waits for an admin (e.g. the amount does not match).
alter table credit_orders add column hold_reason text;

-- The Whop product the plan is sold under (made once, when the plan is first pushed to Whop).
alter table whop_plans add column whop_product_id text;

-- Applying stored webhook events: when the next attempt is due (null: now), and the order the
-- event was applied to, for the admin's webhook log.
alter table webhook_events add column next_attempt_at timestamptz;
alter table webhook_events add column order_id bigint references credit_orders (id);
create index webhook_events_due on webhook_events (status, next_attempt_at);
