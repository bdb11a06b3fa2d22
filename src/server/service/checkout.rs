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
mod gate;
mod locks;

use serde_json::json;

pub use backoff::{ConfirmBackoff, SCHEDULE_SECS};
pub use gate::{GateCache, Gating, BETA_KEY, ENABLED_KEY};
pub use locks::KeyedLocks;

use crate::model::{Cents, OrderId, WhopMode};
use crate::server::service::orders::{self, PaidPayment, Via};
use crate::server::state::WebSettings;
use crate::server::store::{FulfilOutcome, NewOrder, OrderRow, PlanRow, Store, StoreError, UserRow};
use crate::server::whop::client::{NewCheckout, NewPlan, NewProduct, PaymentFilter};
use crate::server::whop::error::WhopError;
use crate::server::whop::types::{PaymentStatus, Visibility};
use crate::server::whop::WhopSetup;

pub const MAX_NOTE_CHARS: usize = 1000;
/// Whop's limit on a plan title.
const MAX_TITLE_CHARS: usize = 30;

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

/// The optional note of a manual request: trimmed, at most 1,000 characters, no control
/// characters except line breaks (`\r\n` is kept as `\n`). Empty means none.
pub fn parse_note(note: Option<&str>) -> Result<Option<String>, CheckoutError> {
    let Some(note) = note.map(|n| n.replace("\r\n", "\n")) else {
        return Ok(None);
    };
    let note = note.trim();
    if note.is_empty() {
        return Ok(None);
    }
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(CheckoutError::InvalidNote(format!(
            "The note is too long (at most {MAX_NOTE_CHARS} characters)."
        )));
    }
    if note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(CheckoutError::InvalidNote(
            "The note contains characters that are not allowed.".into(),
        ));
    }
    Ok(Some(note.to_string()))
}

/// Where Whop sends the buyer back to: `PUBLIC_URL`'s origin when configured, else this request's
/// own origin: the scheme from `X-Forwarded-Proto` only behind a trusted proxy (else http), the
/// host from the request URI's authority or `Host`, which must be a plain `host[:port]`.
pub fn return_base(
    web: &WebSettings,
    forwarded_proto: Option<&str>,
    authority: Option<&str>,
) -> Result<String, CheckoutError> {
    if let Some(origin) = &web.public_origin {
        return Ok(origin.trim_end_matches('/').to_string());
    }
    let scheme = match forwarded_proto {
        // A proxy may append: the first value is what the client used.
        Some(p) if web.trust_proxy => match p.split(',').next().unwrap_or("").trim().to_ascii_lowercase().as_str() {
            "https" => "https",
            _ => "http",
        },
        _ => "http",
    };
    let host = authority.ok_or(CheckoutError::BadHost)?;
    if !is_host_and_port(host) {
        return Err(CheckoutError::BadHost);
    }
    Ok(format!("{scheme}://{}", host.to_ascii_lowercase()))
}

/// `name[:port]` or `[v6]:port`: letters, digits, dots and dashes, a numeric port.
fn is_host_and_port(s: &str) -> bool {
    if s.is_empty() || s.len() > 260 {
        return false;
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        match rest.split_once(']') {
            Some((v6, tail)) => {
                let ok = !v6.is_empty() && v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
                if !ok {
                    return false;
                }
                match tail {
                    "" => return true,
                    t => match t.strip_prefix(':') {
                        Some(p) => ("x", Some(p)),
                        None => return false,
                    },
                }
            }
            None => return false,
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty() && label.len() <= 63 && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    let port_ok = port.is_none_or(|p| {
        !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok()
    });
    host_ok && port_ok
}

/// Whether `user` may pay through Whop now (see `gate`).
pub async fn whop_enabled_for(
    store: &dyn Store,
    memory: &CheckoutMemory,
    email: Option<&str>,
) -> Result<bool, StoreError> {
    Ok(memory.gate.current(store).await?.allows(email))
}

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
    match open_checkout(store, whop, memory, &order, &plan, buyer.return_base).await {
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
    }
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
fn whop_message(e: &WhopError) -> String {
    let m = match e {
        WhopError::Unauthorized { message, .. }
        | WhopError::NotFound { message }
        | WhopError::RateLimited { message, .. }
        | WhopError::InvalidRequest { message, .. }
        | WhopError::Server { message, .. } => message.trim(),
        WhopError::Network(_) => "Whop could not be reached",
        WhopError::Decode(_) => "Whop's answer could not be read",
    };
    let m = if m.is_empty() { "Whop refused the request" } else { m };
    m.chars().take(500).collect()
}

/// The manual flow: an order for an admin to handle (`payment_method = manual`), for a plan
/// without a price, or any plan when this user does not pay through Whop. Idempotent by key.
pub async fn request_manual(
    store: &dyn Store,
    user: &UserRow,
    plan_id: i64,
    note: Option<&str>,
    client_key: &str,
) -> Result<OrderRow, CheckoutError> {
    let client_key = parse_client_key(client_key)?;
    let note = parse_note(note)?;
    let plan = store
        .plan_by_id(plan_id)
        .await?
        .filter(|p| p.active)
        .ok_or(CheckoutError::PlanNotFound)?;
    let (order, created) = store
        .create_order(&NewOrder {
            user_id: user.user_id(),
            plan_name: plan.plan_name.clone(),
            credits_amount: plan.credits_amount,
            price_cents: plan.price_cents.unwrap_or(0),
            currency: plan.currency.clone(),
            payment_method: "manual",
            notes: note,
            client_key: Some(client_key.to_string()),
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => CheckoutError::KeyReused,
            e => e.into(),
        })?;
    if !created && (order.payment_method != "manual" || order.plan_name != plan.plan_name) {
        return Err(CheckoutError::KeyReused);
    }
    if created {
        tracing::info!(order_id = order.id, user_id = order.user_id, plan = %plan.plan_name, "manual request created");
    }
    Ok(order)
}

/// Asks Whop whether a pending Whop order's checkout was paid, and if so credits it through the
/// one fulfil path. Called by the status page; rate-limited by `ConfirmBackoff` (so most calls
/// return `Ok(None)` without calling Whop). Never reads anything the browser sent.
pub async fn confirm_with_whop(
    store: &dyn Store,
    whop: &WhopSetup,
    memory: &CheckoutMemory,
    order: &OrderRow,
) -> Result<Option<FulfilOutcome>, CheckoutError> {
    let Some(checkout_id) = order.whop_checkout_id.as_deref() else {
        return Ok(None);
    };
    if order.payment_method != "whop" || order.payment_status != "pending" || order.hold_reason.is_some() {
        return Ok(None);
    }
    if !memory
        .confirmations
        .claim(order.id, order.created_at, chrono::Utc::now())
    {
        return Ok(None);
    }
    let payments = whop
        .client
        .list_payments(&PaymentFilter {
            checkout_configuration_ids: vec![checkout_id.to_string()],
            ..Default::default()
        })
        .await?;
    let mut last = None;
    for p in payments {
        // The filter is Whop's; the check is ours.
        if p.status != Some(PaymentStatus::Paid)
            || p.checkout_configuration_id.as_deref().is_some_and(|c| c != checkout_id)
        {
            continue;
        }
        let (Some(amount), Some(currency)) = (p.total, p.currency.clone()) else {
            tracing::warn!(order_id = order.id, payment_id = %p.id, "paid payment without total or currency");
            continue;
        };
        let paid_at = p
            .paid_at
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map_or_else(chrono::Utc::now, |t| t.with_timezone(&chrono::Utc));
        let paid = PaidPayment {
            payment_id: p.id.clone(),
            amount,
            currency,
            paid_at,
        };
        last = Some(orders::fulfil(store, OrderId(order.id), &paid, Via::Confirmation).await?);
    }
    Ok(last)
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

    #[test]
    fn notes() {
        assert_eq!(parse_note(None).unwrap(), None);
        assert_eq!(parse_note(Some("  \n ")).unwrap(), None);
        assert_eq!(parse_note(Some(" a\r\nb ")).unwrap().as_deref(), Some("a\nb"));
        assert!(parse_note(Some("a\u{7}b")).is_err());
        assert!(parse_note(Some("a\tb")).is_err());
        assert!(parse_note(Some(&"é".repeat(1000))).is_ok());
        assert!(parse_note(Some(&"é".repeat(1001))).is_err());
    }

    #[test]
    fn return_bases() {
        let mut web = WebSettings::default();
        assert_eq!(
            return_base(&web, None, Some("127.0.0.1:3000")).unwrap(),
            "http://127.0.0.1:3000"
        );
        // Not behind a trusted proxy: the header is ignored.
        assert_eq!(
            return_base(&web, Some("https"), Some("Example.com")).unwrap(),
            "http://example.com"
        );
        web.trust_proxy = true;
        assert_eq!(
            return_base(&web, Some("https, http"), Some("example.com")).unwrap(),
            "https://example.com"
        );
        assert_eq!(
            return_base(&web, Some("gopher"), Some("example.com")).unwrap(),
            "http://example.com"
        );
        assert_eq!(
            return_base(&web, None, Some("[::1]:8080")).unwrap(),
            "http://[::1]:8080"
        );
        for bad in [
            "",
            "evil.com/x",
            "evil.com@x",
            "a..b",
            "a:b:c",
            "a:99999",
            "a:",
            "[zz]",
            "x y",
            "évil.com",
        ] {
            assert!(return_base(&web, None, Some(bad)).is_err(), "{bad}");
        }
        assert!(return_base(&web, None, None).is_err());
        web.public_origin = Some("https://credits.example.com".into());
        assert_eq!(
            return_base(&web, Some("http"), Some("evil.com")).unwrap(),
            "https://credits.example.com"
        );
    }
}
