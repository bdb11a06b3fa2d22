//! Keeping a plan's Whop side in step with ours: the one code path for the lazy push on first
//! sale (`checkout::ensure_plan_on_whop`), an admin's save or Retry, and `sync-plans`.
//!
//! A plan for sale (active, with a price) has a hidden one-time Whop plan under its own Whop
//! product; an archived or custom-price plan has none, or an archived one (never deleted: old
//! payments point to it). A new price or currency is a new local `revision`, sold under a new Whop
//! plan, and the old one is archived: checkouts already open keep the plan, and so the price, their
//! order copied (Whop charges a checkout at its plan's current price, so changing the price in
//! place would make those payments differ from their orders and be held). A new name is a PATCH.
//! Every create carries an `Idempotency-Key` naming plan and revision, so a retry replays rather
//! than making a second Whop plan.

use chrono::Utc;
use serde_json::json;

use crate::model::Cents;
use crate::server::service::checkout::{whop_message, KeyedLocks};
use crate::server::store::{AuditEntry, PlanRow, Store, StoreError};
use crate::server::whop::client::{NewPlan, NewProduct, PlanUpdate};
use crate::server::whop::error::WhopError;
use crate::server::whop::types::Visibility;
use crate::server::whop::WhopSetup;

/// Whop's limit on a plan title.
pub const MAX_TITLE_CHARS: usize = 30;

/// What a sync did on Whop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncAction {
    /// The Whop plan (and, the first time, the product) was created.
    Created,
    /// A new Whop plan for a new price or currency; the old one archived.
    Replaced,
    /// Title, price or visibility patched.
    Updated,
    /// The Whop plan was archived (the plan is archived here, or has no fixed price now).
    Archived,
    /// Whop already matched: nothing was sent but reads.
    Unchanged,
    /// A custom-price or archived plan that was never on Whop: nothing to do.
    NotOnWhop,
}

impl SyncAction {
    pub fn describe(self) -> &'static str {
        match self {
            SyncAction::Created => "created on Whop",
            SyncAction::Replaced => "new Whop plan for the new price (old one archived)",
            SyncAction::Updated => "updated on Whop",
            SyncAction::Archived => "archived on Whop",
            SyncAction::Unchanged => "unchanged (Whop already matches)",
            SyncAction::NotOnWhop => "not on Whop (custom price or archived: manual flow only)",
        }
    }

    pub fn changed_whop(self) -> bool {
        !matches!(self, SyncAction::Unchanged | SyncAction::NotOnWhop)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PlanSyncError {
    #[error("plan not found")]
    NotFound,
    /// Whop refused or could not be reached; the plan is marked failed with this message.
    #[error("Whop: {0}")]
    Whop(#[from] WhopError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The sync state a plan settles in once Whop matches it.
fn settled_status(p: &PlanRow) -> &'static str {
    if p.price_cents.is_none() {
        "manual"
    } else {
        "synced"
    }
}

/// The status to store on a local change, before any Whop call.
pub fn status_before_push(p_price: Option<i64>, whop_plan_id: Option<&str>) -> &'static str {
    if p_price.is_none() && whop_plan_id.is_none() {
        "manual"
    } else {
        "pending"
    }
}

/// Makes Whop match plan `id` and records the outcome on the plan (synced / manual, or failed
/// with Whop's message: the local plan is kept either way). One push per plan at a time on this
/// instance; across instances the idempotency keys and `swap_whop_plan` decide.
pub async fn sync_plan(
    store: &dyn Store,
    whop: &WhopSetup,
    locks: &KeyedLocks,
    id: i64,
) -> Result<(PlanRow, SyncAction), PlanSyncError> {
    let _guard = locks.lock(format!("plan:{id}")).await;
    let plan = store.plan_by_id(id).await?.ok_or(PlanSyncError::NotFound)?;
    match push(store, whop, plan).await {
        Ok((plan, action)) => {
            let status = settled_status(&plan);
            let plan = if plan.sync_status != status || plan.sync_error.is_some() || action.changed_whop() {
                store.set_plan_sync(plan.id, status, None, Utc::now()).await?
            } else {
                plan
            };
            if action.changed_whop() {
                tracing::info!(plan_id = plan.id, whop_plan_id = ?plan.whop_plan_id, ?action, "plan synced to Whop");
            }
            Ok((plan, action))
        }
        Err(PlanSyncError::Whop(e)) => {
            tracing::warn!(plan_id = id, error = %e, "pushing the plan to Whop failed");
            store
                .set_plan_sync(id, "failed", Some(&whop_message(&e)), Utc::now())
                .await?;
            Err(PlanSyncError::Whop(e))
        }
        Err(e) => Err(e),
    }
}

async fn push(store: &dyn Store, whop: &WhopSetup, plan: PlanRow) -> Result<(PlanRow, SyncAction), PlanSyncError> {
    let price = plan.price_cents.filter(|_| plan.active);
    let Some(price) = price else {
        // Not for sale through Whop: archive the Whop plan it may have.
        let Some(whop_id) = plan.whop_plan_id.clone() else {
            return Ok((plan, SyncAction::NotOnWhop));
        };
        let remote = whop.client.retrieve_plan(&whop_id).await?;
        if remote.visibility == Some(Visibility::Archived) {
            return Ok((plan, SyncAction::Unchanged));
        }
        archive(whop, &whop_id).await?;
        return Ok((plan, SyncAction::Archived));
    };
    let title: String = plan.plan_name.chars().take(MAX_TITLE_CHARS).collect();
    if let Some(whop_id) = plan
        .whop_plan_id
        .clone()
        .filter(|_| plan.whop_plan_revision == plan.revision)
    {
        let remote = whop.client.retrieve_plan(&whop_id).await?;
        let update = PlanUpdate {
            title: (remote.title.as_deref() != Some(title.as_str())).then(|| title.clone()),
            initial_price: (remote.initial_price != Some(Cents(price))).then_some(Cents(price)),
            visibility: (remote.visibility != Some(Visibility::Hidden)).then_some(Visibility::Hidden),
            metadata: None,
        };
        if update.title.is_none() && update.initial_price.is_none() && update.visibility.is_none() {
            return Ok((plan, SyncAction::Unchanged));
        }
        whop.client.update_plan(&whop_id, &update).await?;
        return Ok((plan, SyncAction::Updated));
    }

    let plan = ensure_product(store, whop, plan).await?;
    let product_id = plan
        .whop_product_id
        .clone()
        .ok_or(StoreError::NotFound("plan's Whop product"))?;
    let created = whop
        .client
        .create_plan(
            &NewPlan {
                account_id: Some(whop.company_id.clone()),
                product_id,
                plan_type: "one_time".into(),
                initial_price: Cents(price),
                currency: plan.currency.clone(),
                title: Some(title),
                // Sold only through our checkouts, never listed on a Whop store page.
                visibility: Some(Visibility::Hidden),
                metadata: Some(json!({ "plan_id": plan.id.to_string(), "credits": plan.credits_amount.to_string() })),
            },
            &creation_key(plan.id, plan.revision),
        )
        .await?;
    let old = plan.whop_plan_id.clone();
    // The old revision's Whop plan is archived before the new one is stored: if this fails, the
    // retry creates (replays) the same new plan and archives again.
    if let Some(old_id) = old.as_deref().filter(|o| *o != created.id) {
        archive(whop, old_id).await?;
    }
    let stored = store
        .swap_whop_plan(plan.id, old.as_deref(), &created.id, plan.revision, Utc::now())
        .await?;
    let action = if old.is_some() {
        SyncAction::Replaced
    } else {
        SyncAction::Created
    };
    Ok((stored, action))
}

/// The creation's `Idempotency-Key`: revision 0 keeps the key the lazy push always used.
pub fn creation_key(plan_id: i64, revision: i32) -> String {
    if revision == 0 {
        format!("plan-{plan_id}")
    } else {
        format!("plan-{plan_id}-r{revision}")
    }
}

async fn archive(whop: &WhopSetup, whop_plan_id: &str) -> Result<(), WhopError> {
    whop.client
        .update_plan(
            whop_plan_id,
            &PlanUpdate {
                visibility: Some(Visibility::Archived),
                ..PlanUpdate::default()
            },
        )
        .await?;
    Ok(())
}

/// The plan with its Whop product, made once (first writer wins on the stored id).
async fn ensure_product(store: &dyn Store, whop: &WhopSetup, plan: PlanRow) -> Result<PlanRow, PlanSyncError> {
    if plan.whop_product_id.is_some() {
        return Ok(plan);
    }
    let product = whop
        .client
        .create_product(
            &NewProduct {
                title: format!("Atlas credits: {}", plan.plan_name),
                account_id: Some(whop.company_id.clone()),
                visibility: Some(Visibility::Hidden),
            },
            &format!("product-plan-{}", plan.id),
        )
        .await?;
    tracing::info!(plan_id = plan.id, product_id = %product.id, "plan's product created on Whop");
    Ok(store.set_plan_whop_ids(plan.id, Some(&product.id), None).await?)
}

/// One plan's line in a `sync-plans` run.
#[derive(Debug, Clone)]
pub struct PlanReport {
    pub plan_id: i64,
    pub name: String,
    pub whop_plan_id: Option<String>,
    /// Ok: what Whop did; Err: why it failed (the plan is marked failed).
    pub outcome: Result<SyncAction, String>,
}

/// Syncs every plan, archived ones included (their Whop plan is archived), in display order. A
/// failure is reported on its plan's line and the run goes on. Each plan the run changed on Whop
/// gets a `plan.sync` audit line by `actor` (e.g. `cli`), as an admin's Retry does; a run that
/// changes nothing writes none.
pub async fn sync_all(
    store: &dyn Store,
    whop: &WhopSetup,
    locks: &KeyedLocks,
    actor: &str,
) -> Result<Vec<PlanReport>, StoreError> {
    let mut reports = Vec::new();
    for plan in store.list_plans(true).await? {
        let outcome = match sync_plan(store, whop, locks, plan.id).await {
            Ok((stored, action)) => {
                if action.changed_whop() {
                    audit_sync(store, actor, &plan, &stored, action).await?;
                }
                reports.push(PlanReport {
                    plan_id: stored.id,
                    name: stored.plan_name,
                    whop_plan_id: stored.whop_plan_id,
                    outcome: Ok(action),
                });
                continue;
            }
            Err(PlanSyncError::Store(e)) => return Err(e),
            Err(PlanSyncError::NotFound) => continue,
            Err(PlanSyncError::Whop(e)) => Err(whop_message(&e)),
        };
        reports.push(PlanReport {
            plan_id: plan.id,
            name: plan.plan_name,
            whop_plan_id: plan.whop_plan_id,
            outcome,
        });
    }
    Ok(reports)
}

async fn audit_sync(
    store: &dyn Store,
    actor: &str,
    before: &PlanRow,
    after: &PlanRow,
    action: SyncAction,
) -> Result<(), StoreError> {
    let state = |p: &PlanRow| json!({ "sync_status": p.sync_status, "whop_plan_id": p.whop_plan_id });
    let mut after_value = state(after);
    after_value["action"] = json!(action.describe());
    store
        .record_audit(
            &AuditEntry {
                actor: actor.to_owned(),
                action: "plan.sync".into(),
                subject: format!("plan:{}", after.id),
                before: Some(state(before).to_string()),
                after: Some(after_value.to_string()),
            },
            Utc::now(),
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creation_keys_name_plan_and_revision() {
        assert_eq!(creation_key(7, 0), "plan-7");
        assert_eq!(creation_key(7, 2), "plan-7-r2");
        assert_ne!(creation_key(7, 1), creation_key(71, 0));
    }
}
