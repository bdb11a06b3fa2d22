//! Plans as admins edit them, and their sync state with Whop. SQL shared by both backends,
//! implemented per store type by `impl_plan_queries!` (see `queries.rs` for why a macro). Every
//! admin change writes its audit line in the same transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::rows::PlanRow;
use super::StoreError;

/// What an admin sets on a plan (already validated by the service).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanFields {
    pub plan_name: String,
    pub credits_amount: i64,
    /// None: custom price (manual request flow only).
    pub price_cents: Option<i64>,
    pub currency: String,
    pub sort_order: i32,
    pub active: bool,
}

/// The plan as the audit log keeps it (before/after).
pub fn plan_audit_json(p: &PlanRow) -> String {
    serde_json::json!({
        "name": p.plan_name,
        "credits": p.credits_amount,
        "price_cents": p.price_cents,
        "currency": p.currency,
        "sort_order": p.sort_order,
        "active": p.active,
        "revision": p.revision,
    })
    .to_string()
}

#[async_trait]
pub trait PlanQueries: Send + Sync {
    /// Case-insensitive.
    async fn plan_by_name(&self, name: &str) -> Result<Option<PlanRow>, StoreError>;
    /// Creates a plan with `sync_status` and the audit line (`plan.create`, subject `plan:ID`,
    /// actor `actor`) in one transaction. A name taken (any case) is a `Conflict`.
    async fn insert_plan(
        &self,
        f: &PlanFields,
        sync_status: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<PlanRow, StoreError>;
    /// Replaces the fields of plan `id` and sets `sync_status`, bumping `revision` when the price
    /// or currency changes; writes the audit line (`action`, before and after) in the same
    /// transaction. None: no such plan.
    async fn update_plan(
        &self,
        id: i64,
        f: &PlanFields,
        sync_status: &str,
        actor: &str,
        action: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<PlanRow>, StoreError>;
    /// Records the outcome of a push to Whop.
    async fn set_plan_sync(
        &self,
        id: i64,
        status: &str,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<PlanRow, StoreError>;
    /// Stores the Whop plan made for `revision`, only while the stored one is still `expected`
    /// (compare and set: two pushes at once cannot both swap). Returns the plan as stored.
    async fn swap_whop_plan(
        &self,
        id: i64,
        expected: Option<&str>,
        whop_plan_id: &str,
        revision: i32,
        now: DateTime<Utc>,
    ) -> Result<PlanRow, StoreError>;
}

macro_rules! impl_plan_queries {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::server::store::plan_queries::PlanQueries for $store {
            async fn plan_by_name(&self, name: &str) -> Result<Option<$crate::server::store::PlanRow>, StoreError> {
                let q = format!(
                    "select {} from whop_plans where lower(plan_name) = lower($1)",
                    sql::PLAN_COLUMNS
                );
                Ok(sqlx::query_as::<_, $crate::server::store::PlanRow>(&q)
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn insert_plan(
                &self,
                f: &$crate::server::store::plan_queries::PlanFields,
                sync_status: &str,
                actor: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<$crate::server::store::PlanRow, StoreError> {
                use $crate::server::store::plan_queries::plan_audit_json;
                let _permit = self.write_permit().await;
                let mut tx = self.pool.begin().await?;
                let q = format!(
                    "insert into whop_plans (plan_name, credits_amount, price_cents, currency, active, sort_order, \
                     sync_status, created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $8) returning {}",
                    sql::PLAN_COLUMNS
                );
                let row = sqlx::query_as::<_, $crate::server::store::PlanRow>(&q)
                    .bind(&f.plan_name)
                    .bind(f.credits_amount)
                    .bind(f.price_cents)
                    .bind(&f.currency)
                    .bind(f.active)
                    .bind(f.sort_order)
                    .bind(sync_status)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| StoreError::from_unique(e, |_| "plan_name".into()))?;
                $crate::server::store::audit::insert_audit!(
                    &mut *tx,
                    actor,
                    "plan.create",
                    format!("plan:{}", row.id),
                    None::<String>,
                    plan_audit_json(&row),
                    now
                );
                tx.commit().await?;
                Ok(row)
            }

            async fn update_plan(
                &self,
                id: i64,
                f: &$crate::server::store::plan_queries::PlanFields,
                sync_status: &str,
                actor: &str,
                action: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<Option<$crate::server::store::PlanRow>, StoreError> {
                use $crate::server::store::plan_queries::plan_audit_json;
                let _permit = self.write_permit().await;
                let mut tx = self.pool.begin().await?;
                let q = format!("select {} from whop_plans where id = $1", sql::PLAN_COLUMNS);
                let Some(before) = sqlx::query_as::<_, $crate::server::store::PlanRow>(&q)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?
                else {
                    tx.rollback().await?;
                    return Ok(None);
                };
                // A new price or currency is a new Whop plan (see plan_sync): the revision names it.
                let bump = before.price_cents != f.price_cents || before.currency != f.currency;
                let q = format!(
                    "update whop_plans set plan_name = $1, credits_amount = $2, price_cents = $3, currency = $4, \
                     active = $5, sort_order = $6, sync_status = $7, sync_error = null, revision = revision + $8, \
                     updated_at = $9 where id = $10 and revision = $11 returning {}",
                    sql::PLAN_COLUMNS
                );
                let after = sqlx::query_as::<_, $crate::server::store::PlanRow>(&q)
                    .bind(&f.plan_name)
                    .bind(f.credits_amount)
                    .bind(f.price_cents)
                    .bind(&f.currency)
                    .bind(f.active)
                    .bind(f.sort_order)
                    .bind(sync_status)
                    .bind(i32::from(bump))
                    .bind(now)
                    .bind(id)
                    .bind(before.revision)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| StoreError::from_unique(e, |_| "plan_name".into()))?;
                // Another admin changed the price meanwhile: theirs stands, this one is refused.
                let Some(after) = after else {
                    tx.rollback().await?;
                    return Err(StoreError::Conflict("revision".into()));
                };
                $crate::server::store::audit::insert_audit!(&mut *tx, actor, action, format!("plan:{id}"), plan_audit_json(&before), plan_audit_json(&after), now);
                tx.commit().await?;
                Ok(Some(after))
            }

            async fn set_plan_sync(
                &self,
                id: i64,
                status: &str,
                error: Option<&str>,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<$crate::server::store::PlanRow, StoreError> {
                let _permit = self.write_permit().await;
                let q = format!(
                    "update whop_plans set sync_status = $1, sync_error = $2, \
                     synced_at = case when $1 = 'failed' then synced_at else $3 end where id = $4 returning {}",
                    sql::PLAN_COLUMNS
                );
                sqlx::query_as::<_, $crate::server::store::PlanRow>(&q)
                    .bind(status)
                    .bind(error)
                    .bind(now)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or(StoreError::NotFound("plan"))
            }

            async fn swap_whop_plan(
                &self,
                id: i64,
                expected: Option<&str>,
                whop_plan_id: &str,
                revision: i32,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<$crate::server::store::PlanRow, StoreError> {
                let _permit = self.write_permit().await;
                let q = format!(
                    "update whop_plans set whop_plan_id = $1, whop_plan_revision = $2, updated_at = $3 \
                     where id = $4 and coalesce(whop_plan_id, '') = $5 returning {}",
                    sql::PLAN_COLUMNS
                );
                let swapped = sqlx::query_as::<_, $crate::server::store::PlanRow>(&q)
                    .bind(whop_plan_id)
                    .bind(revision)
                    .bind(now)
                    .bind(id)
                    .bind(expected.unwrap_or(""))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| StoreError::from_unique(e, |_| "whop_plan_id".into()))?;
                match swapped {
                    Some(row) => Ok(row),
                    // Someone else stored theirs first: the stored row is the answer.
                    None => {
                        let q = format!("select {} from whop_plans where id = $1", sql::PLAN_COLUMNS);
                        sqlx::query_as::<_, $crate::server::store::PlanRow>(&q)
                            .bind(id)
                            .fetch_optional(&self.pool)
                            .await?
                            .ok_or(StoreError::NotFound("plan"))
                    }
                }
            }
        }
    };
}
pub(crate) use impl_plan_queries;
