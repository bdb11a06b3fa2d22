//! Putting a plan on sale on Whop the first time it is bought (product once, then a hidden
//! one-time plan), so the simulator and a fresh Whop account work with zero set-up. The push
//! itself is `plan_sync::sync_plan`, the same one an admin's save and `sync-plans` use.

use super::{CheckoutError, CheckoutMemory};
use crate::server::service::plan_sync::{sync_plan, PlanSyncError};
use crate::server::store::{PlanRow, Store};
use crate::server::whop::WhopSetup;

/// The plan with a Whop plan for its current price, pushing it first when it has none (or only
/// one for an older price). The stored row is what is returned.
pub async fn ensure_plan_on_whop(
    store: &dyn Store,
    whop: &WhopSetup,
    memory: &CheckoutMemory,
    plan: &PlanRow,
) -> Result<PlanRow, CheckoutError> {
    if plan.price_cents.is_none() {
        return Err(CheckoutError::NotForSale);
    }
    if plan.whop_plan_id.is_some() && plan.whop_plan_revision == plan.revision {
        return Ok(plan.clone());
    }
    match sync_plan(store, whop, &memory.locks, plan.id).await {
        Ok((stored, _)) if stored.whop_plan_id.is_some() && stored.whop_plan_revision == stored.revision => Ok(stored),
        // Archived or made custom-price meanwhile.
        Ok(_) => Err(CheckoutError::NotForSale),
        Err(PlanSyncError::NotFound) => Err(CheckoutError::PlanNotFound),
        Err(PlanSyncError::Whop(e)) => Err(CheckoutError::Whop(e)),
        Err(PlanSyncError::Store(e)) => Err(CheckoutError::Store(e)),
    }
}
