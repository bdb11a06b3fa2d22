//! The admin's webhook log (list, payload, replay) and audit log: input parsing, views, and the
//! replay, which re-applies an event through `webhook_apply::process` (the very path of the
//! webhook route and the retry job), so it can never double an effect: the ledger's unique keys
//! and the order's own state make a second apply a no-op.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;

use crate::model::{AuditView, Credits, OrderId, WebhookDetail, WebhookEventView};
use crate::server::service::text::refuse_control_chars;
use crate::server::service::webhook_apply::{self, Outcome, Settled};
use crate::server::store::admin_event_queries::{AuditFilter, TextMatch, WebhookFilter};
use crate::server::store::{AuditEntry, AuditRow, Store, StoreError, UserRow, WebhookEventRow};

pub const STATUSES: [&str; 4] = ["pending", "processed", "failed", "ignored"];
const MAX_ID_CHARS: usize = 200;
const MAX_FILTER_CHARS: usize = 100;
const MAX_REASON_CHARS: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum AdminEventsError {
    #[error("no such webhook event")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

type Result<T> = std::result::Result<T, AdminEventsError>;

fn invalid(m: impl Into<String>) -> AdminEventsError {
    AdminEventsError::Invalid(m.into())
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Bounded, one-line text, or None when blank.
fn bounded(field: &str, raw: Option<&str>, max: usize) -> Result<Option<String>> {
    let Some(t) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if t.chars().count() > max {
        return Err(invalid(format!("{field} may be at most {max} characters")));
    }
    refuse_control_chars(field, t).map_err(invalid)?;
    Ok(Some(t.to_owned()))
}

/// The webhook log's filter from the URL: `status` (one of `STATUSES`, or "all"), `type`, and
/// the `before` cursor a previous page returned.
pub fn webhook_filter(status: Option<&str>, event_type: Option<&str>, before: Option<&str>) -> Result<WebhookFilter> {
    let status = match bounded("status", status, MAX_FILTER_CHARS)? {
        None => None,
        Some(s) if s == "all" => None,
        Some(s) if STATUSES.contains(&s.as_str()) => Some(s),
        Some(_) => return Err(invalid("status must be pending, processed, failed, ignored or all")),
    };
    let event_type = bounded("type", event_type, MAX_FILTER_CHARS)?;
    let before = match bounded("before", before, MAX_ID_CHARS + 40)? {
        None => None,
        Some(c) => Some(parse_cursor(&c).ok_or_else(|| invalid("before is not a page cursor of this log"))?),
    };
    Ok(WebhookFilter {
        status,
        event_type,
        before,
    })
}

/// The cursor of the page after `row`: its time (to the nanosecond) and id.
pub fn cursor_of(row: &WebhookEventRow) -> String {
    format!(
        "{}|{}",
        row.received_at.to_rfc3339_opts(SecondsFormat::Nanos, true),
        row.id
    )
}

fn parse_cursor(c: &str) -> Option<(DateTime<Utc>, String)> {
    let (at, id) = c.split_once('|')?;
    let at = DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc);
    (!id.is_empty()).then(|| (at, id.to_owned()))
}

/// A webhook id from a URL: `msg_...` (any printable text up to 200 characters).
pub fn webhook_id(raw: &str) -> Result<String> {
    bounded("id", Some(raw), MAX_ID_CHARS)?.ok_or_else(|| invalid("id is required"))
}

pub fn webhook_view(row: &WebhookEventRow) -> WebhookEventView {
    WebhookEventView {
        id: row.id.clone(),
        event_type: row.event_type.clone(),
        status: row.status.clone(),
        attempts: row.attempts,
        last_error: row.last_error.clone(),
        received_at: time(row.received_at),
        order_id: row.order_id,
        payment_id: row.payment_id.clone(),
    }
}

/// An event with its payload pretty-printed (the stored text as it is when it is not JSON).
pub async fn webhook_detail(store: &dyn Store, id: &str) -> Result<WebhookDetail> {
    let row = store.webhook_event(id).await?.ok_or(AdminEventsError::NotFound)?;
    let payload = serde_json::from_str::<serde_json::Value>(&row.payload)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| row.payload.clone());
    Ok(WebhookDetail {
        event: webhook_view(&row),
        payload,
        processed_at: row.processed_at.map(time),
        next_attempt_at: row.next_attempt_at.map(time),
    })
}

/// Re-applies event `id` through `webhook_apply::process` and says what that did. The event is
/// made pending first (process settles only pending events), so its row shows this replay's
/// result. Audited as `webhook.replay`.
pub async fn replay(store: &dyn Store, admin: &UserRow, id: &str, reason: &str, now: DateTime<Utc>) -> Result<String> {
    let reason =
        bounded("the reason", Some(reason), MAX_REASON_CHARS)?.ok_or_else(|| invalid("a reason is required"))?;
    let before = store.webhook_event(id).await?.ok_or(AdminEventsError::NotFound)?;
    if !store.reopen_webhook_event(id).await? {
        return Err(AdminEventsError::NotFound);
    }
    let row = store.webhook_event(id).await?.ok_or(AdminEventsError::NotFound)?;
    let settled = webhook_apply::process(store, &row, now).await?;
    let after = store.webhook_event(id).await?.ok_or(AdminEventsError::NotFound)?;
    let message = describe(store, &settled, &after).await?;
    store
        .record_audit(
            &AuditEntry {
                actor: format!("admin:{}", admin.id),
                action: "webhook.replay".into(),
                subject: format!("webhook:{id}"),
                before: Some(
                    json!({ "status": before.status, "attempts": before.attempts, "last_error": before.last_error })
                        .to_string(),
                ),
                after: Some(
                    json!({ "status": after.status, "attempts": after.attempts, "result": message, "reason": reason })
                        .to_string(),
                ),
            },
            now,
        )
        .await?;
    tracing::info!(webhook_id = %id, admin = admin.id, result = %message, "webhook replayed");
    Ok(message)
}

/// What a replay did, in the admin's words.
async fn describe(store: &dyn Store, settled: &Settled, event: &WebhookEventRow) -> Result<String> {
    let order = event
        .order_id
        .map(|o| format!("order #{o}"))
        .unwrap_or_else(|| "its order".into());
    const NOTHING: &str = "Already applied: nothing changed.";
    Ok(match settled {
        Settled::Processed(outcome) => match outcome {
            Outcome::Credited => {
                let credits = match event.order_id {
                    Some(o) => store.order_by_id(OrderId(o)).await?.map(|o| o.credits_amount),
                    None => None,
                };
                match credits {
                    Some(c) => format!("Credited {} credits to {order}.", Credits(c)),
                    None => format!("Credited {order}."),
                }
            }
            Outcome::AlreadyCredited | Outcome::RefundAlreadyApplied | Outcome::DisputeUnchanged => NOTHING.into(),
            Outcome::NotPaid => "Nothing credited: Whop says the payment is not paid.".into(),
            Outcome::Unmatched | Outcome::Held => {
                "Not credited: the payment waits for an admin under Unmatched payments.".into()
            }
            Outcome::OrderFailed => format!("The payment failed: {order} is marked failed."),
            Outcome::PaidOrderKept => format!("Nothing changed: {order} is paid and stays paid."),
            Outcome::Recorded => format!("Nothing changed: {order} waits for its payment."),
            Outcome::ClawedBack => format!("Refund applied to {order}: its share of the credits is taken back."),
            Outcome::RefundNotSucceeded => "Nothing taken back: the refund has not succeeded.".into(),
            Outcome::DisputeApplied => format!("Dispute applied to {order}."),
            Outcome::NothingCredited => "Nothing to take back: the payment was never credited.".into(),
            Outcome::Ignored => "Ignored: the app does not act on this event type.".into(),
        },
        Settled::Ignored => format!("Ignored: the app does not act on {}.", event.event_type),
        Settled::Failed(reason) => format!("Not applied: {reason}."),
        Settled::Retrying(at) => format!(
            "Waiting: {}. Tried again automatically at {}.",
            event.last_error.as_deref().unwrap_or("not applied yet"),
            time(*at)
        ),
        Settled::AlreadySettled => "Applied meanwhile by the background worker: see its status.".into(),
    })
}

/// A filter value from the URL: exact, or a prefix when it ends with `*`.
fn text_match(field: &str, raw: Option<&str>) -> Result<Option<TextMatch>> {
    Ok(
        bounded(field, raw, MAX_FILTER_CHARS)?.map(|v| match v.strip_suffix('*') {
            Some(prefix) if !prefix.is_empty() => TextMatch::Prefix(prefix.to_owned()),
            _ => TextMatch::Exact(v),
        }),
    )
}

pub fn audit_filter(actor: Option<&str>, action: Option<&str>, before: Option<i64>) -> Result<AuditFilter> {
    if before.is_some_and(|b| b <= 0) {
        return Err(invalid("before must be a positive id"));
    }
    Ok(AuditFilter {
        actor: text_match("actor", actor)?,
        action: text_match("action", action)?,
        before_id: before,
    })
}

fn pretty(json: &Option<String>) -> Option<String> {
    json.as_ref().map(|raw| {
        serde_json::from_str::<serde_json::Value>(raw)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| raw.clone())
    })
}

pub fn audit_view(row: &AuditRow) -> AuditView {
    AuditView {
        id: row.id,
        actor: row.actor.clone(),
        action: row.action.clone(),
        subject: row.subject.clone(),
        before: pretty(&row.before_value),
        after: pretty(&row.after_value),
        created_at: time(row.created_at),
    }
}
