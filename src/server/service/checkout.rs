//! Buying credits: pushing a plan to Whop on first sale, opening a Whop checkout for an order,
//! the manual request flow, who may pay through Whop, and confirming a payment with Whop from the
//! status page. Every function takes the store and, where it talks to Whop, the `WhopSetup`;
//! per-instance state (locks, caches) is in `CheckoutMemory`.
//!
//! Order first, then Whop: the order row exists before any Whop call, a Whop failure marks it
//! `failed` (with Whop's message), and nothing else is written until Whop answered. A client key
//! names one attempt: repeating it (double click, second tab, retried request) answers with the
//! same order and checkout; after a failure the page makes a new key for the next attempt (a
//! failed key keeps answering with its failure).

mod backoff;
mod confirm;
mod gate;
mod locks;
mod manual;
mod plan_push;
mod return_base;

use serde_json::json;

pub use backoff::{ConfirmBackoff, SCHEDULE_SECS};
pub use confirm::confirm_with_whop;
pub use gate::{GateCache, Gating, BETA_KEY, ENABLED_KEY};
pub use locks::KeyedLocks;
pub use manual::{parse_note, request_manual, MAX_NOTE_CHARS};
pub use plan_push::ensure_plan_on_whop;
pub use return_base::return_base;

use crate::model::WhopMode;
use crate::server::store::{NewOrder, OrderRow, PlanRow, Store, StoreError, UserRow};
use crate::server::whop::client::NewCheckout;
use crate::server::whop::error::WhopError;
use crate::server::whop::WhopSetup;

/// What this instance keeps in memory for checkouts (one per `AppState`).
#[derive(Default)]
pub struct CheckoutMemory {
    pub gate: GateCache,
    pub confirmations: ConfirmBackoff,
    pub locks: KeyedLocks,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("plan not found")]
    PlanNotFound,
    #[error("order not found")]
    OrderNotFound,
    #[error("This plan has no fixed price: use Request to ask for it.")]
    NotForSale,
    #[error("Card payments through Whop are not available for your account yet: use Request to ask for credits.")]
    WhopDisabled,
    #[error("The request key must be 16 to 64 letters, digits, '-' or '_'.")]
    InvalidClientKey,
    #[error("{0}")]
    InvalidNote(String),
    #[error("This request key belongs to another order: reload the page and try again.")]
    KeyReused,
    #[error("This order is already paid.")]
    AlreadyPaid,
    /// This attempt failed earlier (the key names that attempt): start a new one.
    #[error("Opening the checkout failed: {0}. Please try again.")]
    Failed(String),
    /// Whop did not answer usefully now (the order is marked failed, unless it already had a
    /// checkout, which may be paid).
    #[error("Whop: {0}")]
    Whop(#[from] WhopError),
    /// Whop answered with something we will not send a browser to.
    #[error("unusable purchase URL from Whop: {0:?}")]
    BadPurchaseUrl(Option<String>),
    /// The request's Host could not be used to build the return address.
    #[error("The request's host is not valid.")]
    BadHost,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// 16-64 characters of `[A-Za-z0-9_-]`, made in the browser (or rendered into a no-JS form).
pub fn parse_client_key(key: &str) -> Result<&str, CheckoutError> {
    let ok = (16..=64).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(key)
    } else {
        Err(CheckoutError::InvalidClientKey)
    }
}

/// Whether `user` may pay through Whop now (see `gate`).
pub async fn whop_enabled_for(
    store: &dyn Store,
    memory: &CheckoutMemory,
    email: Option<&str>,
) -> Result<bool, StoreError> {
    Ok(memory.gate.current(store).await?.allows(email))
}

/// What `start_checkout` needs to know about the caller.
pub struct Buyer<'a> {
    pub user: &'a UserRow,
    pub client_key: &'a str,
    /// `scheme://host[:port]` (see `return_base`).
    pub return_base: &'a str,
}

/// Creates (or, for a repeated client key, finds) the order and its Whop checkout, and returns
/// Whop's `purchase_url`: the only address the browser is sent to.
pub async fn start_checkout(
    store: &dyn Store,
    whop: &WhopSetup,
    memory: &CheckoutMemory,
    buyer: &Buyer<'_>,
    plan_id: i64,
) -> Result<String, CheckoutError> {
    let client_key = parse_client_key(buyer.client_key)?;
    let plan = store
        .plan_by_id(plan_id)
        .await?
        .filter(|p| p.active)
        .ok_or(CheckoutError::PlanNotFound)?;
    let price = plan.price_cents.filter(|p| *p > 0).ok_or(CheckoutError::NotForSale)?;
    if !whop_enabled_for(store, memory, Some(&buyer.user.email)).await? {
        crate::server::metrics::checkout("refused");
        return Err(CheckoutError::WhopDisabled);
    }
    let (order, created) = store
        .create_order(&NewOrder {
            user_id: buyer.user.user_id(),
            plan_name: plan.plan_name.clone(),
            credits_amount: plan.credits_amount,
            price_cents: price,
            currency: plan.currency.clone(),
            payment_method: "whop",
            notes: None,
            client_key: Some(client_key.to_string()),
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => CheckoutError::KeyReused,
            e => e.into(),
        })?;
    if !created && (order.payment_method != "whop" || order.plan_name != plan.plan_name) {
        return Err(CheckoutError::KeyReused);
    }
    if created {
        tracing::info!(order_id = order.id, user_id = order.user_id, plan = %plan.plan_name, "order created");
    }
    // One Whop create at a time for this order on this instance; re-read under the lock.
    let _guard = memory.locks.lock(format!("order:{}", order.id)).await;
    let order = store
        .order_by_id(order.order_id())
        .await?
        .ok_or(CheckoutError::OrderNotFound)?;
    match order.payment_status.as_str() {
        "pending" => {}
        "failed" => {
            return Err(CheckoutError::Failed(
                order.failure_message.clone().unwrap_or_else(|| "unknown reason".into()),
            ))
        }
        _ => return Err(CheckoutError::AlreadyPaid),
    }
    // The buyer waits for this, so all of Whop's calls and retries together are bounded: a Whop
    // that hangs fails the order with a message instead of holding the page. Cutting it short is
    // safe: every Whop create carries an idempotency key, and the order is only failed (below)
    // when it has no checkout yet, so no purchase URL was ever given out.
    let opened = tokio::time::timeout(
        whop.checkout_timeout,
        open_checkout(store, whop, memory, &order, &plan, buyer.return_base),
    )
    .await
    .unwrap_or(Err(CheckoutError::Whop(WhopError::TimedOut(whop.checkout_timeout))));
    let result = match opened {
        Ok(url) => Ok(url),
        // An order with a checkout may be paid already: it is never failed for a repeat's error.
        Err(e) if order.whop_checkout_id.is_some() => Err(e),
        // Another instance is creating this very checkout (Whop: `idempotency_request_in_progress`):
        // its answer decides; failing the order here would race it.
        Err(CheckoutError::Whop(e @ WhopError::InvalidRequest { status: 409, .. })) => {
            tracing::info!(order_id = order.id, error = %e, "checkout being created elsewhere");
            Err(CheckoutError::Whop(e))
        }
        Err(CheckoutError::Whop(e)) => {
            let message = whop_message(&e);
            tracing::warn!(order_id = order.id, error = %e, "opening the Whop checkout failed");
            store.fail_order(order.order_id(), &message).await?;
            Err(CheckoutError::Whop(e))
        }
        Err(CheckoutError::BadPurchaseUrl(url)) => {
            tracing::error!(order_id = order.id, ?url, "Whop's purchase URL refused");
            store
                .fail_order(order.order_id(), "Whop did not return a usable checkout address")
                .await?;
            Err(CheckoutError::BadPurchaseUrl(url))
        }
        Err(e) => Err(e),
    };
    crate::server::metrics::checkout(match &result {
        Ok(_) if created => "created",
        Ok(_) => "reused",
        Err(_) => "failed",
    });
    result
}

/// Creates (or, by the same `Idempotency-Key`, gets again) the order's Whop checkout and stores
/// its id on the order.
async fn open_checkout(
    store: &dyn Store,
    whop: &WhopSetup,
    memory: &CheckoutMemory,
    order: &OrderRow,
    plan: &PlanRow,
    return_base: &str,
) -> Result<String, CheckoutError> {
    // A repeat uses the plan the order was opened with (the body must match the first create).
    let whop_plan_id = match &order.whop_plan_id {
        Some(id) => id.clone(),
        None => ensure_plan_on_whop(store, whop, memory, plan)
            .await?
            .whop_plan_id
            .ok_or(CheckoutError::NotForSale)?,
    };
    let checkout = whop
        .client
        .create_checkout_configuration(
            &NewCheckout {
                plan_id: whop_plan_id.clone(),
                metadata: json!({
                    "order_id": order.id.to_string(),
                    "user_id": order.user_id.to_string(),
                    "plan": order.plan_name,
                    "credits": order.credits_amount.to_string(),
                }),
                redirect_url: Some(format!("{return_base}/payment/status?order={}", order.id)),
            },
            &format!("order-{}", order.id),
        )
        .await?;
    let url = checked_purchase_url(whop, checkout.purchase_url.as_deref())
        .ok_or_else(|| CheckoutError::BadPurchaseUrl(checkout.purchase_url.clone()))?;
    if !store
        .set_order_checkout(order.order_id(), &checkout.id, &whop_plan_id)
        .await?
    {
        // The order holds another checkout (made more than Whop's 24 h replay window ago, or by
        // another instance with other details): its address is not ours to guess.
        tracing::warn!(order_id = order.id, checkout_id = %checkout.id, stored = ?order.whop_checkout_id,
            "order already has another checkout");
        return Err(CheckoutError::Failed("this order already has another checkout".into()));
    }
    if order.whop_checkout_id.is_none() {
        tracing::info!(order_id = order.id, checkout_id = %checkout.id, user_id = order.user_id, "Whop checkout opened");
    }
    Ok(url)
}

/// Whop's purchase URL, if the browser may be sent there: https; in test mode also the
/// simulator's own pages (http on a developer machine).
fn checked_purchase_url(whop: &WhopSetup, url: Option<&str>) -> Option<String> {
    let url = url?;
    let parsed = reqwest::Url::parse(url).ok()?;
    let host_ok = parsed.host_str().is_some_and(|h| !h.is_empty()) && parsed.username().is_empty();
    let secure = parsed.scheme() == "https";
    let simulated = whop.mode == WhopMode::Simulated
        && parsed.scheme() == "http"
        && (whop
            .simulator
            .as_ref()
            .is_some_and(|s| url.starts_with(&s.purchase_url("")))
            || matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")));
    (host_ok && (secure || simulated)).then(|| parsed.to_string())
}

/// The message kept on a failed order (shown to its owner): Whop's own words when it gave some.
pub fn whop_message(e: &WhopError) -> String {
    let m = match e {
        WhopError::Unauthorized { message, .. }
        | WhopError::NotFound { message }
        | WhopError::RateLimited { message, .. }
        | WhopError::InvalidRequest { message, .. }
        | WhopError::Server { message, .. } => message.trim(),
        WhopError::Network(_) => "Whop could not be reached",
        WhopError::TimedOut(_) => "Whop did not answer in time",
        WhopError::Decode(_) => "Whop's answer could not be read",
    };
    let m = if m.is_empty() { "Whop refused the request" } else { m };
    m.chars().take(500).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_keys() {
        assert!(parse_client_key("abcdefghijklmnop").is_ok());
        assert!(parse_client_key(&"A-_9".repeat(16)).is_ok());
        for bad in [
            "short",
            "abcdefghijklmno",
            &"a".repeat(65),
            "abcdefghijklmnop!",
            "abcdefghijklmnöp",
            "abcdefgh ijklmnop",
        ] {
            assert!(parse_client_key(bad).is_err(), "{bad}");
        }
    }
}
