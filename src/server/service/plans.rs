//! Admins' plan changes: parse and check the form, save locally with the audit line, then push to
//! Whop through `plan_sync` (one code path with the lazy push on first sale). A failed push keeps
//! the local change (the plan shows `failed` with Whop's message) and can be retried. Orders copy
//! name, credits and price when they are made, so no edit here reaches a past order.

use chrono::Utc;

use crate::server::service::checkout::KeyedLocks;
use crate::server::service::plan_sync::{self, PlanSyncError, SyncAction, MAX_TITLE_CHARS};
use crate::server::service::text::refuse_control_chars;
use crate::server::store::{AuditEntry, PlanFields, PlanRow, Store, StoreError, UserRow};
use crate::server::whop::WhopSetup;

/// A typo guard far above any pack (the seed's largest is 100,000 credits).
pub const MAX_PLAN_CREDITS: i64 = 1_000_000_000;
/// $100,000.00: far above any pack, far below where cents could overflow anything.
pub const MAX_PRICE_CENTS: i64 = 10_000_000;
/// Currencies a plan may be sold in (Whop takes lowercase ISO codes).
pub const CURRENCIES: [&str; 5] = ["usd", "eur", "gbp", "cad", "aud"];
pub const MAX_SORT_ORDER: i32 = 100_000;

/// The plan form as typed.
#[derive(Debug, Clone, Default)]
pub struct PlanInput {
    pub name: String,
    pub credits: String,
    /// Dollars ("7.50", "$1,000"), or empty / "custom" for a custom price.
    pub price: String,
    pub currency: String,
    pub sort_order: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{0}")]
    Invalid(String),
    #[error("plan not found")]
    NotFound,
    #[error("Another plan is already called {0:?} (names are compared ignoring case).")]
    NameTaken(String),
    #[error("The plan was changed by someone else meanwhile: reload the page and try again.")]
    Changed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A save's outcome: the plan as stored, and what happened on Whop.
#[derive(Debug, Clone)]
pub struct Saved {
    pub plan: PlanRow,
    /// Ok: what Whop did; Err: Whop's message (the plan is marked failed; Retry pushes again).
    pub whop: Result<SyncAction, String>,
}

impl Saved {
    pub fn message(&self, what: &str) -> String {
        match &self.whop {
            Ok(action) => format!("{what} {:?}: {}.", self.plan.plan_name, action.describe()),
            Err(e) => format!(
                "{what} {:?} here, but pushing it to Whop failed: {e}. Use Retry on the plan.",
                self.plan.plan_name
            ),
        }
    }
}

pub fn parse(input: &PlanInput) -> Result<PlanFields, PlanError> {
    let invalid = |m: &str| PlanError::Invalid(m.to_string());
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > MAX_TITLE_CHARS {
        return Err(invalid(
            "The name must be 1 to 30 characters (Whop's limit on a plan title).",
        ));
    }
    refuse_control_chars("The name", name).map_err(PlanError::Invalid)?;
    let credits = parse_whole(&input.credits)
        .filter(|c| (1..=MAX_PLAN_CREDITS).contains(c))
        .ok_or_else(|| invalid("Credits must be a whole number from 1 to 1,000,000,000."))?;
    let price_cents = parse_price(&input.price)?;
    let currency = input.currency.trim().to_ascii_lowercase();
    let currency = if currency.is_empty() {
        "usd".to_string()
    } else {
        currency
    };
    if !CURRENCIES.contains(&currency.as_str()) {
        return Err(PlanError::Invalid(format!(
            "The currency must be one of {}.",
            CURRENCIES.join(", ")
        )));
    }
    let sort_order = match input.sort_order.trim() {
        "" => 0,
        s => s
            .parse::<i32>()
            .ok()
            .filter(|n| n.abs() <= MAX_SORT_ORDER)
            .ok_or_else(|| invalid("The order must be a whole number from -100000 to 100000."))?,
    };
    Ok(PlanFields {
        plan_name: name.to_string(),
        credits_amount: credits,
        price_cents,
        currency,
        sort_order,
        active: true,
    })
}

/// Digits with optional `,` `_` or space separators; at most 12 digits.
fn parse_whole(raw: &str) -> Option<i64> {
    let digits: String = raw.trim().chars().filter(|c| !matches!(c, ',' | '_' | ' ')).collect();
    if digits.is_empty() || digits.len() > 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Dollars to cents, exactly: `7.5`, `$1,000.00`; empty or `custom` is a custom price.
pub fn parse_price(raw: &str) -> Result<Option<i64>, PlanError> {
    let t = raw.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("custom") {
        return Ok(None);
    }
    let bad = || {
        PlanError::Invalid(format!(
            "The price must be an amount like 7.50 (more than 0, at most {}), or \"custom\".",
            crate::model::Cents(MAX_PRICE_CENTS).format("usd")
        ))
    };
    let t = t.strip_prefix('$').unwrap_or(t).replace([',', '_'], "");
    let (whole, frac) = t.split_once('.').unwrap_or((&t, ""));
    if (whole.is_empty() && frac.is_empty())
        || whole.len() > 9
        || frac.len() > 2
        || !whole.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let frac: i64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
    let cents = whole * 100 + frac;
    if cents <= 0 || cents > MAX_PRICE_CENTS {
        return Err(bad());
    }
    Ok(Some(cents))
}

pub fn actor(admin: &UserRow) -> String {
    format!("admin:{}", admin.id)
}

fn map_store(e: StoreError, name: &str) -> PlanError {
    match e {
        StoreError::Conflict(what) if what == "plan_name" => PlanError::NameTaken(name.to_string()),
        StoreError::Conflict(what) if what == "revision" => PlanError::Changed,
        e => PlanError::Store(e),
    }
}

/// Pushes and reports; a Whop failure is an outcome here, not an error (the plan is kept).
async fn push(store: &dyn Store, whop: &WhopSetup, locks: &KeyedLocks, plan: PlanRow) -> Result<Saved, PlanError> {
    match plan_sync::sync_plan(store, whop, locks, plan.id).await {
        Ok((plan, action)) => Ok(Saved { plan, whop: Ok(action) }),
        Err(PlanSyncError::Whop(e)) => {
            let plan = store.plan_by_id(plan.id).await?.ok_or(PlanError::NotFound)?;
            let message = plan.sync_error.clone().unwrap_or_else(|| e.to_string());
            Ok(Saved {
                plan,
                whop: Err(message),
            })
        }
        Err(PlanSyncError::NotFound) => Err(PlanError::NotFound),
        Err(PlanSyncError::Store(e)) => Err(e.into()),
    }
}

pub async fn create(
    store: &dyn Store,
    whop: &WhopSetup,
    locks: &KeyedLocks,
    admin: &UserRow,
    input: &PlanInput,
) -> Result<Saved, PlanError> {
    let fields = parse(input)?;
    if store.plan_by_name(&fields.plan_name).await?.is_some() {
        return Err(PlanError::NameTaken(fields.plan_name));
    }
    let status = plan_sync::status_before_push(fields.price_cents, None);
    let plan = store
        .insert_plan(&fields, status, &actor(admin), Utc::now())
        .await
        .map_err(|e| map_store(e, &fields.plan_name))?;
    push(store, whop, locks, plan).await
}

/// Replaces name, credits, price, currency and order; the plan stays archived or on sale.
pub async fn edit(
    store: &dyn Store,
    whop: &WhopSetup,
    locks: &KeyedLocks,
    admin: &UserRow,
    id: i64,
    input: &PlanInput,
) -> Result<Saved, PlanError> {
    let mut fields = parse(input)?;
    let current = store.plan_by_id(id).await?.ok_or(PlanError::NotFound)?;
    if let Some(other) = store.plan_by_name(&fields.plan_name).await? {
        if other.id != id {
            return Err(PlanError::NameTaken(fields.plan_name));
        }
    }
    fields.active = current.active;
    save(store, whop, locks, admin, &current, fields, "plan.update").await
}

/// Archives (`active = false`: off sale, archived on Whop, never deleted) or restores a plan.
pub async fn set_active(
    store: &dyn Store,
    whop: &WhopSetup,
    locks: &KeyedLocks,
    admin: &UserRow,
    id: i64,
    active: bool,
) -> Result<Saved, PlanError> {
    let current = store.plan_by_id(id).await?.ok_or(PlanError::NotFound)?;
    let fields = PlanFields {
        plan_name: current.plan_name.clone(),
        credits_amount: current.credits_amount,
        price_cents: current.price_cents,
        currency: current.currency.clone(),
        sort_order: current.sort_order,
        active,
    };
    let action = if active { "plan.restore" } else { "plan.archive" };
    save(store, whop, locks, admin, &current, fields, action).await
}

async fn save(
    store: &dyn Store,
    whop: &WhopSetup,
    locks: &KeyedLocks,
    admin: &UserRow,
    current: &PlanRow,
    fields: PlanFields,
    action: &str,
) -> Result<Saved, PlanError> {
    let status = plan_sync::status_before_push(fields.price_cents, current.whop_plan_id.as_deref());
    let plan = store
        .update_plan(current.id, &fields, status, &actor(admin), action, Utc::now())
        .await
        .map_err(|e| map_store(e, &fields.plan_name))?
        .ok_or(PlanError::NotFound)?;
    push(store, whop, locks, plan).await
}

/// Pushes the plan to Whop again (after a failure); audited.
pub async fn retry(
    store: &dyn Store,
    whop: &WhopSetup,
    locks: &KeyedLocks,
    admin: &UserRow,
    id: i64,
) -> Result<Saved, PlanError> {
    let plan = store.plan_by_id(id).await?.ok_or(PlanError::NotFound)?;
    let before = serde_json::json!({ "sync_status": plan.sync_status, "sync_error": plan.sync_error });
    let saved = push(store, whop, locks, plan).await?;
    let after = serde_json::json!({ "sync_status": saved.plan.sync_status, "sync_error": saved.plan.sync_error });
    store
        .record_audit(
            &AuditEntry {
                actor: actor(admin),
                action: "plan.sync".into(),
                subject: format!("plan:{id}"),
                before: Some(before.to_string()),
                after: Some(after.to_string()),
            },
            Utc::now(),
        )
        .await?;
    Ok(saved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, credits: &str, price: &str, currency: &str, order: &str) -> PlanInput {
        PlanInput {
            name: name.into(),
            credits: credits.into(),
            price: price.into(),
            currency: currency.into(),
            sort_order: order.into(),
        }
    }

    #[test]
    fn prices() {
        assert_eq!(parse_price("7.50").unwrap(), Some(750));
        assert_eq!(parse_price(" $1,000 ").unwrap(), Some(100_000));
        assert_eq!(parse_price("0.5").unwrap(), Some(50));
        assert_eq!(parse_price(".99").unwrap(), Some(99));
        assert_eq!(parse_price("Custom").unwrap(), None);
        assert_eq!(parse_price("").unwrap(), None);
        assert_eq!(parse_price("100000").unwrap(), Some(MAX_PRICE_CENTS));
        for bad in [
            "0",
            "0.00",
            "-1",
            "1.234",
            "1e3",
            "abc",
            "100000.01",
            "99999999999999",
            ".",
            "1.2.3",
            "１",
        ] {
            assert!(parse_price(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn plan_forms() {
        let f = parse(&input(" Mega ", "1,000", "9.99", "USD", "")).unwrap();
        assert_eq!(
            (
                f.plan_name.as_str(),
                f.credits_amount,
                f.price_cents,
                f.currency.as_str(),
                f.sort_order
            ),
            ("Mega", 1000, Some(999), "usd", 0)
        );
        for bad in [
            input("", "1", "1", "usd", "0"),
            input(&"x".repeat(31), "1", "1", "usd", "0"),
            input("a\nb", "1", "1", "usd", "0"),
            input("A", "0", "1", "usd", "0"),
            input("A", "-5", "1", "usd", "0"),
            input("A", "1000000001", "1", "usd", "0"),
            input("A", "1", "1", "xyz", "0"),
            input("A", "1", "1", "usd", "100001"),
            input("A", "1", "1", "usd", "1.5"),
        ] {
            assert!(parse(&bad).is_err(), "{bad:?}");
        }
        assert!(parse(&input(&"é".repeat(30), "1", "custom", "eur", "-3")).is_ok());
    }
}
