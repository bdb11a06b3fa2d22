-- 0008 (PostgreSQL): plans edited by admins and kept in step with Whop. Same numbering and
-- meaning as the SQLite file.

-- Where the plan stands with Whop: synced (Whop matches), pending (changed here, not yet pushed),
-- failed (the last push failed: sync_error holds Whop's message; the local change is kept) or
-- manual (custom price: never on Whop, sold through the request flow only).
alter table whop_plans add column sync_status text not null default 'pending'
    check (sync_status in ('synced', 'pending', 'failed', 'manual'));
alter table whop_plans add column sync_error text;
alter table whop_plans add column synced_at timestamptz;
-- Bumped whenever the price or currency changes: each revision is sold under its own Whop plan
-- (the creation's Idempotency-Key names plan and revision, so a retry never makes two).
alter table whop_plans add column revision integer not null default 0;
-- The revision the stored whop_plan_id was created for.
alter table whop_plans add column whop_plan_revision integer not null default 0;

update whop_plans set sync_status = 'synced', synced_at = updated_at where whop_plan_id is not null;
update whop_plans set sync_status = 'manual' where whop_plan_id is null and price_cents is null;

-- Names are unique whatever their case ("Pro" and "pro" would confuse buyers).
create unique index whop_plans_name_lower on whop_plans (lower(plan_name));
