//! Putting a plan on sale on Whop the first time it is bought (product once, then a hidden
//! one-time plan), so the simulator and a fresh Whop account work with zero set-up.

use serde_json::json;

use super::{CheckoutError, CheckoutMemory};
use crate::model::Cents;
use crate::server::store::{PlanRow, Store};
use crate::server::whop::client::{NewPlan, NewProduct};
use crate::server::whop::types::Visibility;
use crate::server::whop::WhopSetup;

/// Whop's limit on a plan title.
const MAX_TITLE_CHARS: usize = 30;

/// The plan with its Whop plan id, creating the product (once) and the plan on Whop first when
/// it has none. Each id is stored as soon as Whop gave it (first writer wins, so a concurrent push
/// on another instance cannot swap it) and the stored row is what is returned.
pub async fn ensure_plan_on_whop(
    store: &dyn Store,
    whop: &WhopSetup,
    memory: &CheckoutMemory,
    plan: &PlanRow,
) -> Result<PlanRow, CheckoutError> {
    if plan.whop_plan_id.is_some() {
        return Ok(plan.clone());
    }
    let _guard = memory.locks.lock(format!("plan:{}", plan.id)).await;
    let mut plan = store.plan_by_id(plan.id).await?.ok_or(CheckoutError::PlanNotFound)?;
    if plan.whop_plan_id.is_some() {
        return Ok(plan);
    }
    let price = plan.price_cents.ok_or(CheckoutError::NotForSale)?;
    let product_id = match plan.whop_product_id.clone() {
        Some(id) => id,
        None => {
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
            plan = store.set_plan_whop_ids(plan.id, Some(&product.id), None).await?;
            tracing::info!(plan_id = plan.id, product_id = %product.id, "plan's product created on Whop");
            plan.whop_product_id.clone().unwrap_or(product.id)
        }
    };
    let created = whop
        .client
        .create_plan(
            &NewPlan {
                account_id: Some(whop.company_id.clone()),
                product_id,
                plan_type: "one_time".into(),
                initial_price: Cents(price),
                currency: plan.currency.clone(),
                title: Some(plan.plan_name.chars().take(MAX_TITLE_CHARS).collect()),
                // Sold only through our checkouts, never listed on a Whop store page.
                visibility: Some(Visibility::Hidden),
                metadata: Some(json!({ "plan_id": plan.id.to_string(), "credits": plan.credits_amount.to_string() })),
            },
            &format!("plan-{}", plan.id),
        )
        .await?;
    let stored = store.set_plan_whop_ids(plan.id, None, Some(&created.id)).await?;
    tracing::info!(plan_id = stored.id, whop_plan_id = ?stored.whop_plan_id, "plan created on Whop");
    Ok(stored)
}
