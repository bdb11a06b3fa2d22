//! The admin's orders: the filtered list, one order's timeline, and the actions an admin takes on
//! orders and balances (approve or reject a manual order, refund a Whop order, adjust a balance).
//! Every action needs a reason and writes its audit line (actor `admin:ID`, subject `order:ID` or
//! `user:ID`) in the same transaction as its change; each is safe to submit twice.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::json;

use crate::model::{
    AdminOrderDetail, AdminOrderItem, AdminOrderPage, AppError, Cents, Credits, EntryKind, OrderId, TimelineEntry,
};
use crate::server::service::ledger::{Actor, LedgerEntry, LedgerError};
use crate::server::service::refunds::{self, RefundRequestError};
use crate::server::service::text::refuse_control_chars;
use crate::server::store::admin_order_queries::{AdminOrderRow, OrderFilter, Review, ReviewOutcome};
use crate::server::store::{AuditEntry, OrderRow, PostOutcome, Store, StoreError, UserRow};
use crate::server::whop::WhopSetup;

/// Rows per page of the orders list.
pub const PAGE_SIZE: i64 = 25;
/// Highest price an admin may enter for a custom order ($10,000,000.00): a typo guard far above
/// any real deal that keeps every sum of prices well inside an i64.
pub const MAX_PRICE_CENTS: i64 = 1_000_000_000;
/// Most credits one adjustment may move either way.
pub const MAX_ADJUST_CREDITS: i64 = 1_000_000_000;
const MAX_REASON_CHARS: usize = 500;
/// Ledger source kind of hand adjustments: the source id is the form's one-time key.
pub const ADJUST_SOURCE: &str = "admin_adjust";

const PAYMENT_STATUSES: [&str; 6] = [
    "pending",
    "paid",
    "failed",
    "refunded",
    "partially_refunded",
    "disputed",
];
const REVIEW_STATUSES: [&str; 4] = ["pending", "approved", "rejected", "cancelled"];
const METHODS: [&str; 2] = ["manual", "whop"];

#[derive(Debug, thiserror::Error)]
pub enum AdminOrderError {
    #[error("{0} was not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Invalid(String),
    /// The order is not in a state that allows this (already reviewed, not manual, ...).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Refund(#[from] RefundRequestError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<AdminOrderError> for AppError {
    fn from(e: AdminOrderError) -> Self {
        match e {
            AdminOrderError::NotFound(what) => AppError::NotFound(what.into()),
            AdminOrderError::Invalid(m) => AppError::Invalid(m),
            AdminOrderError::Conflict(m) => AppError::Conflict(m),
            AdminOrderError::Ledger(e) => e.into(),
            AdminOrderError::Refund(e) => e.into(),
            AdminOrderError::Store(StoreError::NotFound(what)) => AppError::NotFound(capitalised(what)),
            AdminOrderError::Store(e) => e.into(),
        }
    }
}

fn capitalised(what: &str) -> String {
    let mut c = what.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn invalid(msg: impl Into<String>) -> AdminOrderError {
    AdminOrderError::Invalid(msg.into())
}

/// The admin's reason: required, one line, at most 500 characters.
pub fn parse_reason(text: &str) -> Result<String, AdminOrderError> {
    refuse_control_chars("The reason", text).map_err(invalid)?;
    let t = text.trim();
    if t.is_empty() {
        return Err(invalid("A reason is required."));
    }
    if t.chars().count() > MAX_REASON_CHARS {
        return Err(invalid(format!(
            "The reason may be at most {MAX_REASON_CHARS} characters."
        )));
    }
    Ok(t.to_owned())
}

/// Dollars as an admin types them ("1,250.00", "$80", "12.5") to cents: positive, at most two
/// decimals, at most `MAX_PRICE_CENTS`. Parsed as text, never through a float.
pub fn parse_dollars(text: &str) -> Result<Cents, AdminOrderError> {
    let bad = || {
        invalid(format!(
            "Enter an amount in dollars like 1,250.00: more than 0 and at most {}.",
            Cents(MAX_PRICE_CENTS).format("usd")
        ))
    };
    let t = text.trim();
    let t = t.strip_prefix('$').unwrap_or(t).replace(',', "");
    let (whole, frac) = t.split_once('.').unwrap_or((t.as_str(), ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(frac) || frac.len() > 2 || whole.len() > 12 || t.ends_with('.') {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let frac: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<2}").parse().map_err(|_| bad())?
    };
    let cents = whole
        .checked_mul(100)
        .and_then(|c| c.checked_add(frac))
        .ok_or_else(bad)?;
    if cents <= 0 || cents > MAX_PRICE_CENTS {
        return Err(bad());
    }
    Ok(Cents(cents))
}

/// A whole number of credits, signed ("-1,000", "+500"), not zero, within the adjust limit.
pub fn parse_credits_delta(text: &str) -> Result<Credits, AdminOrderError> {
    let bad = || {
        invalid(format!(
            "Credits must be a whole number other than 0, from -{0} to {0}.",
            Credits(MAX_ADJUST_CREDITS)
        ))
    };
    let t = text.trim().replace([',', '_'], "");
    let (neg, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(&t)),
    };
    if digits.is_empty() || digits.len() > 12 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let n: i64 = digits.parse().map_err(|_| bad())?;
    if n == 0 || n > MAX_ADJUST_CREDITS {
        return Err(bad());
    }
    Ok(Credits(if neg { -n } else { n }))
}

/// The form's one-time key (see `app::client_key`): 16-64 of `[A-Za-z0-9_-]`.
pub fn parse_key(key: &str) -> Result<String, AdminOrderError> {
    let k = key.trim();
    if !(16..=64).contains(&k.len()) || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(invalid("The form's key is missing or malformed: reload the page."));
    }
    Ok(k.to_owned())
}

/// The list's filters as they come from the URL query; empty or "all" means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub payment_status: Option<String>,
    pub status: Option<String>,
    pub method: Option<String>,
    pub email: Option<String>,
    /// `YYYY-MM-DD`, UTC, inclusive.
    pub from: Option<String>,
    /// `YYYY-MM-DD`, UTC, inclusive.
    pub to: Option<String>,
}

fn one_of(field: &str, value: &Option<String>, allowed: &[&str]) -> Result<Option<String>, AdminOrderError> {
    match value.as_deref().map(str::trim) {
        None | Some("") | Some("all") => Ok(None),
        Some(v) if allowed.contains(&v) => Ok(Some(v.to_owned())),
        Some(_) => Err(invalid(format!(
            "{field} must be one of: {}, or all.",
            allowed.join(", ")
        ))),
    }
}

fn day(field: &str, value: &Option<String>) -> Result<Option<DateTime<Utc>>, AdminOrderError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .ok()
            // Four-digit years only, so the day after "To" always exists.
            .filter(|_| v.len() == 10)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| Some(t.and_utc()))
            .ok_or_else(|| invalid(format!("{field} must be a date like 2026-01-31."))),
    }
}

/// Checks the query and turns it into the store's filter. An email no account has yields None:
/// the list is empty (without a query).
pub async fn parse_filter(store: &dyn Store, q: &ListQuery) -> Result<Option<OrderFilter>, AdminOrderError> {
    let from = day("From", &q.from)?;
    // "To" names a whole day: orders before the next midnight.
    let to = day("To", &q.to)?.map(|t| t + Duration::days(1));
    if let (Some(f), Some(t)) = (from, to) {
        if f >= t {
            return Err(invalid("From must be on or before To."));
        }
    }
    let mut filter = OrderFilter {
        payment_status: one_of("Payment status", &q.payment_status, &PAYMENT_STATUSES)?,
        status: one_of("Review status", &q.status, &REVIEW_STATUSES)?,
        method: one_of("Method", &q.method, &METHODS)?,
        user_id: None,
        from,
        to,
    };
    if let Some(email) = q.email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        refuse_control_chars("The email", email).map_err(invalid)?;
        if email.chars().count() > 254 {
            return Err(invalid("The email may be at most 254 characters."));
        }
        match store.user_by_email(email).await? {
            Some(u) => filter.user_id = Some(u.user_id()),
            None => return Ok(None),
        }
    }
    Ok(Some(filter))
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn price_text(o: &OrderRow) -> String {
    if o.price_cents == 0 && o.payment_method == "manual" {
        "custom".into()
    } else {
        Cents(o.price_cents).format(&o.currency)
    }
}

pub fn item(o: &OrderRow, user_email: &str) -> AdminOrderItem {
    AdminOrderItem {
        id: o.id,
        user_email: user_email.to_owned(),
        plan_name: o.plan_name.clone(),
        credits: o.credits(),
        price: price_text(o),
        method: o.payment_method.clone(),
        payment_status: o.payment_status.clone(),
        status: o.status.clone(),
        created_at: rfc3339(o.created_at),
    }
}

/// One page of orders matching the query, newest first, below `before`.
pub async fn list(store: &dyn Store, q: &ListQuery, before: Option<i64>) -> Result<AdminOrderPage, AdminOrderError> {
    let queue_count = store.count_manual_queue().await?;
    let Some(filter) = parse_filter(store, q).await? else {
        return Ok(AdminOrderPage {
            items: vec![],
            next_before: None,
            queue_count,
        });
    };
    let rows: Vec<AdminOrderRow> = store.list_orders(&filter, before, PAGE_SIZE + 1).await?;
    let more = rows.len() as i64 > PAGE_SIZE;
    let items: Vec<_> = rows
        .iter()
        .take(PAGE_SIZE as usize)
        .map(|r| item(&r.order, &r.user_email))
        .collect();
    let next_before = if more { items.last().map(|i| i.id) } else { None };
    Ok(AdminOrderPage {
        items,
        next_before,
        queue_count,
    })
}

async fn order_and_user(store: &dyn Store, id: i64) -> Result<(OrderRow, UserRow), AdminOrderError> {
    let order = store
        .order_by_id(OrderId(id))
        .await?
        .ok_or(AdminOrderError::NotFound("Order"))?;
    let user = store
        .user_by_id(order.user_id())
        .await?
        .ok_or(AdminOrderError::NotFound("User"))?;
    Ok((order, user))
}

fn entry(at: DateTime<Utc>, source: &str, title: String, detail: Option<String>) -> (DateTime<Utc>, TimelineEntry) {
    (
        at,
        TimelineEntry {
            at: rfc3339(at),
            source: source.into(),
            title,
            detail,
            webhook_id: None,
        },
    )
}

/// The order's own changes, then everything that points at it, merged in time order.
pub async fn detail(store: &dyn Store, id: i64) -> Result<AdminOrderDetail, AdminOrderError> {
    let (o, user) = order_and_user(store, id).await?;
    let oid = o.order_id();
    let mut lines = vec![entry(
        o.created_at,
        "order",
        format!("Order created ({})", o.payment_method),
        Some(format!(
            "{} · {} credits · {}{}",
            o.plan_name,
            o.credits(),
            price_text(&o),
            o.whop_checkout_id
                .as_deref()
                .map(|c| format!(" · checkout {c}"))
                .unwrap_or_default()
        )),
    )];
    if let Some(t) = o.paid_at {
        let by = o.whop_payment_id.as_deref().map(|p| format!("payment {p}"));
        lines.push(entry(t, "order", "Paid".into(), by));
    }
    if let Some(t) = o.credited_at {
        lines.push(entry(t, "order", "Credited".into(), None));
    }
    if o.payment_status == "failed" {
        lines.push(entry(
            o.updated_at,
            "order",
            "Payment failed".into(),
            o.failure_message.clone(),
        ));
    }
    if let Some(t) = o.reviewed_at {
        lines.push(entry(
            t,
            "order",
            format!(
                "Reviewed: {} by {}",
                o.status,
                o.reviewed_by.clone().unwrap_or_default()
            ),
            o.review_note.clone(),
        ));
    }
    for a in store.audit_for(&format!("order:{}", o.id), 200).await? {
        lines.push(entry(
            a.created_at,
            "audit",
            format!("{} by {}", a.action, a.actor),
            a.after_value.clone(),
        ));
    }
    for e in store.order_webhook_events(oid).await? {
        let (at, mut line) = entry(
            e.received_at,
            "webhook",
            format!("Webhook {} · {} · {} attempt(s)", e.event_type, e.status, e.attempts),
            e.last_error.clone(),
        );
        line.webhook_id = Some(e.id.clone());
        lines.push((at, line));
    }
    for t in store.order_transactions(oid).await? {
        lines.push(entry(
            t.created_at,
            "ledger",
            format!(
                "Ledger {} {:+} credits → balance {} ({})",
                t.kind,
                t.amount,
                t.balance_after(),
                t.actor
            ),
            t.reason.clone(),
        ));
    }
    for r in store.order_refunds(oid).await? {
        lines.push(entry(
            r.created_at,
            "refund",
            format!(
                "Refund {} of {}",
                r.refund_id,
                Cents(r.amount_cents).format(&o.currency)
            ),
            None,
        ));
    }
    // Stable: lines of the same instant keep the order above (the order's own facts first).
    lines.sort_by_key(|(at, _)| *at);
    let refunded = store.order_refunded_cents(oid).await?;
    let refundable = (o.payment_method == "whop" && o.whop_payment_id.is_some() && o.credited_at.is_some())
        .then(|| o.price_cents - refunded)
        .filter(|left| *left > 0)
        .map(|left| Cents(left).format(&o.currency));
    Ok(AdminOrderDetail {
        item: item(&o, &user.email),
        user_id: user.id,
        user_balance: user.balance(),
        currency: o.currency.clone(),
        notes: o.notes.clone(),
        whop_payment_id: o.whop_payment_id.clone(),
        whop_checkout_id: o.whop_checkout_id.clone(),
        failure_message: o.failure_message.clone(),
        hold_reason: o.hold_reason.clone(),
        review_note: o.review_note.clone(),
        reviewed_by: o.reviewed_by.clone(),
        reviewable: o.payment_method == "manual" && o.status == "pending",
        custom_price: o.price_cents == 0,
        refundable,
        timeline: lines.into_iter().map(|(_, l)| l).collect(),
    })
}

fn review(admin: &UserRow, o: &OrderRow, action: &str, note: String, price: Option<Cents>) -> Review {
    let actor = Actor::Admin(admin.user_id()).as_text();
    Review {
        order: o.order_id(),
        actor: actor.clone(),
        note,
        price_cents: price.map(Cents::get),
        audit: AuditEntry {
            actor,
            action: action.into(),
            subject: format!("order:{}", o.id),
            before: Some(
                json!({ "status": o.status, "payment_status": o.payment_status, "price_cents": o.price_cents })
                    .to_string(),
            ),
            after: None,
        },
    }
}

/// Approves a pending manual order: its credits are granted once; a custom-priced order may be
/// given the agreed price (`price`, dollars), recorded on it.
pub async fn approve(
    store: &dyn Store,
    admin: &UserRow,
    id: i64,
    price: Option<&str>,
    reason: &str,
) -> Result<OrderRow, AdminOrderError> {
    let note = parse_reason(reason)?;
    let price = match price.map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => Some(parse_dollars(p)?),
        None => None,
    };
    let (o, _) = order_and_user(store, id).await?;
    let r = review(admin, &o, "order.approve", note, price);
    match store.approve_manual_order(&r, Utc::now()).await? {
        ReviewOutcome::Done { order, entry } => {
            tracing::info!(order_id = order.id, credits = order.credits_amount, tx = ?entry.map(|e| e.id), admin = %r.actor, "manual order approved");
            Ok(order)
        }
        ReviewOutcome::Refused { reason, .. } => Err(AdminOrderError::Conflict(format!("Not approved: {reason}."))),
    }
}

/// Rejects a pending manual order; its owner sees `reason`.
pub async fn reject(store: &dyn Store, admin: &UserRow, id: i64, reason: &str) -> Result<OrderRow, AdminOrderError> {
    let note = parse_reason(reason)?;
    let (o, _) = order_and_user(store, id).await?;
    let r = review(admin, &o, "order.reject", note, None);
    match store.reject_manual_order(&r, Utc::now()).await? {
        ReviewOutcome::Done { order, .. } => {
            tracing::info!(order_id = order.id, admin = %r.actor, "manual order rejected");
            Ok(order)
        }
        ReviewOutcome::Refused { reason, .. } => Err(AdminOrderError::Conflict(format!("Not rejected: {reason}."))),
    }
}

/// Asks Whop to refund the order (`amount` in dollars; empty: all that is left). Credits move
/// only when Whop confirms the refund (webhook or reconciliation).
pub async fn refund(
    store: &dyn Store,
    whop: &WhopSetup,
    admin: &UserRow,
    id: i64,
    amount: Option<&str>,
    reason: &str,
) -> Result<String, AdminOrderError> {
    let reason = parse_reason(reason)?;
    let amount = match amount.map(str::trim).filter(|a| !a.is_empty()) {
        Some(a) => Some(parse_dollars(a)?),
        None => None,
    };
    let (o, _) = order_and_user(store, id).await?;
    let done = refunds::request_refund(store, whop, admin, o.order_id(), amount, &reason).await?;
    Ok(format!(
        "Asked Whop to refund {} of order #{} (payment {}). The credits are taken back when Whop \
         confirms the refund; reload this page to see it.",
        done.amount.format(&o.currency),
        o.id,
        done.payment_id
    ))
}

/// Whose balance an adjustment changes.
#[derive(Debug, Clone)]
pub enum AdjustTarget {
    Email(String),
    User(i64),
}

/// Adds (or, negative, removes) credits by hand. A removal never takes the balance below zero;
/// the form's one-time `key` is the entry's source, so a double submit posts once.
pub async fn adjust(
    store: &dyn Store,
    admin: &UserRow,
    target: AdjustTarget,
    credits: &str,
    reason: &str,
    key: &str,
) -> Result<(UserRow, crate::server::store::TransactionRow, bool), AdminOrderError> {
    let reason = parse_reason(reason)?;
    let amount = parse_credits_delta(credits)?;
    let key = parse_key(key)?;
    let user = match target {
        AdjustTarget::Email(email) => {
            let email = email.trim();
            refuse_control_chars("The email", email).map_err(invalid)?;
            if email.is_empty() || email.chars().count() > 254 {
                return Err(invalid("Enter the account's email."));
            }
            store
                .user_by_email(email)
                .await?
                .ok_or_else(|| invalid("No account has this email."))?
        }
        AdjustTarget::User(id) => store
            .user_by_id(crate::model::UserId(id))
            .await?
            .ok_or(AdminOrderError::NotFound("User"))?,
    };
    let actor = Actor::Admin(admin.user_id());
    let entry = LedgerEntry::new(
        user.user_id(),
        EntryKind::AdminAdjustment,
        amount,
        ADJUST_SOURCE,
        &key,
        actor.clone(),
    )?
    .with_reason(&reason)?;
    let new = entry.to_new_entry();
    let audit = AuditEntry {
        actor: actor.as_text(),
        action: "user.adjust_credits".into(),
        subject: format!("user:{}", user.id),
        before: None,
        after: None,
    };
    let (row, applied) = match store
        .post_entry_audited(&new, &audit)
        .await
        .map_err(LedgerError::from)?
    {
        PostOutcome::Applied(row) => (row, true),
        PostOutcome::AlreadyApplied(row) => {
            if row.user_id != user.id || row.amount != amount.get() {
                return Err(AdminOrderError::Conflict(
                    "This form was already used for another adjustment: reload the page.".into(),
                ));
            }
            (row, false)
        }
    };
    if applied {
        tracing::info!(user_id = user.id, amount = amount.get(), tx = row.id, admin = %actor.as_text(), "credits adjusted by hand");
    }
    Ok((user, row, applied))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_parse_exactly_or_not_at_all() {
        for (text, cents) in [
            ("1,250.00", 125_000),
            ("$80", 8000),
            ("12.5", 1250),
            (" 0.01 ", 1),
            ("10000000", MAX_PRICE_CENTS),
        ] {
            assert_eq!(parse_dollars(text).unwrap(), Cents(cents), "{text}");
        }
        for bad in [
            "",
            "0",
            "0.00",
            "-5",
            "+5",
            "1.234",
            "1.",
            ".5",
            "1e5",
            "abc",
            "$",
            "10000000.01",
            "99999999999999999999",
            "1 000",
            "١٢",
        ] {
            assert!(parse_dollars(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn credit_deltas_are_signed_whole_numbers_in_range() {
        assert_eq!(parse_credits_delta("-1,000").unwrap(), Credits(-1000));
        assert_eq!(parse_credits_delta("+500").unwrap(), Credits(500));
        assert_eq!(parse_credits_delta("1000000000").unwrap(), Credits(MAX_ADJUST_CREDITS));
        for bad in [
            "0",
            "-0",
            "",
            "-",
            "--5",
            "1.5",
            "1000000001",
            "-99999999999999999999",
            "5x",
        ] {
            assert!(parse_credits_delta(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn keys_are_bounded() {
        assert!(parse_key("0123456789abcdef").is_ok());
        assert!(parse_key(&"k".repeat(65)).is_err());
        assert!(parse_key("short").is_err());
        assert!(parse_key("has space 0123456789").is_err());
    }
}
