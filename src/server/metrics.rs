//! Process-local counters for operators who scrape `GET /metrics` (Prometheus text format
//! 0.0.4). A small fixed registry of atomics: every label set is known up front (unknown event
//! types fold into "other", Whop operations into the API's resources), so a caller can never
//! grow it, and an increment is one relaxed atomic add. Counts start at zero with the process;
//! Prometheus's `rate()` handles the restarts.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::model::EntryKind;

/// The webhook event types counted by name; anything else counts as "other".
pub const EVENT_TYPES: [&str; 9] = [
    "payment.created",
    "payment.pending",
    "payment.succeeded",
    "payment.failed",
    "refund.created",
    "refund.updated",
    "dispute.created",
    "dispute.updated",
    "other",
];

/// What happened to a checkout request.
pub const CHECKOUT_OUTCOMES: [&str; 4] = ["created", "reused", "refused", "failed"];

/// Whop API resources (the path's first segment); anything else counts as "other".
pub const WHOP_RESOURCES: [&str; 6] = [
    "checkout_configurations",
    "payments",
    "plans",
    "products",
    "refunds",
    "other",
];
pub const WHOP_METHODS: [&str; 5] = ["get", "post", "patch", "delete", "other"];

const KINDS: usize = EntryKind::ALL.len();
const WHOP_OPS: usize = WHOP_RESOURCES.len() * WHOP_METHODS.len();

/// Where a webhook delivery got to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookStage {
    /// Verified and stored (repeats included: Whop sent it).
    Received,
    /// Applied: processed or ignored.
    Applied,
    /// Settled as failed.
    Failed,
}

struct Registry {
    webhooks: [[AtomicU64; EVENT_TYPES.len()]; 3],
    ledger_posts: [AtomicU64; KINDS],
    checkouts: [AtomicU64; CHECKOUT_OUTCOMES.len()],
    whop_calls: [AtomicU64; WHOP_OPS],
    whop_errors: [AtomicU64; WHOP_OPS],
    reconcile_runs: AtomicU64,
    reconcile_errors: AtomicU64,
}

// Consts only to build the static's arrays (each use is a fresh atomic).
#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU64 = AtomicU64::new(0);
#[allow(clippy::declare_interior_mutable_const)]
const TYPE_ROW: [AtomicU64; EVENT_TYPES.len()] = [ZERO; EVENT_TYPES.len()];

static REGISTRY: Registry = Registry {
    webhooks: [TYPE_ROW; 3],
    ledger_posts: [ZERO; KINDS],
    checkouts: [ZERO; CHECKOUT_OUTCOMES.len()],
    whop_calls: [ZERO; WHOP_OPS],
    whop_errors: [ZERO; WHOP_OPS],
    reconcile_runs: ZERO,
    reconcile_errors: ZERO,
};

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

fn index_or_last(list: &[&str], value: &str) -> usize {
    list.iter().position(|v| *v == value).unwrap_or(list.len() - 1)
}

/// Counts a webhook reaching `stage`.
pub fn webhook(stage: WebhookStage, event_type: &str) {
    bump(&REGISTRY.webhooks[stage as usize][index_or_last(&EVENT_TYPES, event_type)]);
}

/// Counts a settled webhook event as applied (processed, ignored) or failed.
pub fn webhook_settled(s: &crate::server::service::webhook_apply::Settled, event_type: &str) {
    use crate::server::service::webhook_apply::Settled;
    match s {
        Settled::Processed(_) | Settled::Ignored => webhook(WebhookStage::Applied, event_type),
        Settled::Failed(_) => webhook(WebhookStage::Failed, event_type),
        Settled::Retrying(_) | Settled::AlreadySettled => {}
    }
}

/// Counts a ledger row written, by its kind (`purchase`, `spend`, ...). Unknown kinds are not
/// counted (the database's check constraint allows only the known ones anyway).
pub fn ledger_post(kind: &str) {
    ledger_posts(kind, 1);
}

/// Counts `n` ledger rows of one kind written in one transaction (an import's balances).
pub fn ledger_posts(kind: &str, n: u64) {
    if let Some(i) = EntryKind::ALL.iter().position(|k| k.as_str() == kind) {
        REGISTRY.ledger_posts[i].fetch_add(n, Ordering::Relaxed);
    }
}

/// Counts a checkout request's outcome, one of `CHECKOUT_OUTCOMES`.
pub fn checkout(outcome: &str) {
    bump(&REGISTRY.checkouts[index_or_last(&CHECKOUT_OUTCOMES, outcome)]);
}

fn whop_op(method: &str, path: &str) -> usize {
    let resource = path.trim_start_matches('/').split(['/', '?']).next().unwrap_or("");
    let m = index_or_last(&WHOP_METHODS, &method.to_ascii_lowercase());
    index_or_last(&WHOP_RESOURCES, resource) * WHOP_METHODS.len() + m
}

/// Counts one Whop API call (retries inside it are not separate calls).
pub fn whop_call(method: &str, path: &str) {
    bump(&REGISTRY.whop_calls[whop_op(method, path)]);
}

/// Counts a Whop API call that ended in an error (after its retries).
pub fn whop_error(method: &str, path: &str) {
    bump(&REGISTRY.whop_errors[whop_op(method, path)]);
}

/// Counts a reconciliation pass, and whether it failed.
pub fn reconcile_run(failed: bool) {
    bump(&REGISTRY.reconcile_runs);
    if failed {
        bump(&REGISTRY.reconcile_errors);
    }
}

/// Gauges read from the database at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    pub open_unmatched: i64,
    pub pending_webhooks: i64,
}

/// A label value escaped as the text format asks: backslash, double quote and line feed.
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: u64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape_label(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

fn load(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// Every counter and the gauges in the text exposition format, version 0.0.4.
pub fn render(g: Gauges) -> String {
    let mut out = String::new();
    let stages = [
        (
            "atlas_webhooks_received_total",
            "Whop webhook deliveries verified and stored, by event type.",
        ),
        (
            "atlas_webhooks_applied_total",
            "Webhook events applied (processed or ignored), by event type.",
        ),
        (
            "atlas_webhooks_failed_total",
            "Webhook events settled as failed, by event type.",
        ),
    ];
    for (s, (name, help)) in stages.iter().enumerate() {
        header(&mut out, name, "counter", help);
        for (i, t) in EVENT_TYPES.iter().enumerate() {
            sample(&mut out, name, &[("type", t)], load(&REGISTRY.webhooks[s][i]));
        }
    }
    let name = "atlas_ledger_posts_total";
    header(&mut out, name, "counter", "Ledger rows written, by kind.");
    for (i, k) in EntryKind::ALL.iter().enumerate() {
        sample(&mut out, name, &[("kind", k.as_str())], load(&REGISTRY.ledger_posts[i]));
    }
    let name = "atlas_checkouts_total";
    header(&mut out, name, "counter", "Whop checkout requests, by outcome.");
    for (i, o) in CHECKOUT_OUTCOMES.iter().enumerate() {
        sample(&mut out, name, &[("outcome", o)], load(&REGISTRY.checkouts[i]));
    }
    for (name, help, counters) in [
        (
            "atlas_whop_api_calls_total",
            "Whop API calls, by operation.",
            &REGISTRY.whop_calls,
        ),
        (
            "atlas_whop_api_errors_total",
            "Whop API calls that failed after their retries, by operation.",
            &REGISTRY.whop_errors,
        ),
    ] {
        header(&mut out, name, "counter", help);
        for (r, resource) in WHOP_RESOURCES.iter().enumerate() {
            for (m, method) in WHOP_METHODS.iter().enumerate() {
                let v = load(&counters[r * WHOP_METHODS.len() + m]);
                // Only operations the client has made: the rest would be 30 lines of zeros.
                if v > 0 {
                    sample(&mut out, name, &[("resource", resource), ("method", method)], v);
                }
            }
        }
    }
    let name = "atlas_reconcile_runs_total";
    header(&mut out, name, "counter", "Reconciliation passes run.");
    sample(&mut out, name, &[], load(&REGISTRY.reconcile_runs));
    let name = "atlas_reconcile_errors_total";
    header(&mut out, name, "counter", "Reconciliation passes that failed.");
    sample(&mut out, name, &[], load(&REGISTRY.reconcile_errors));
    let name = "atlas_unmatched_payments_open";
    header(&mut out, name, "gauge", "Paid payments waiting for an admin.");
    sample_i(&mut out, name, g.open_unmatched);
    let name = "atlas_webhook_events_pending";
    header(&mut out, name, "gauge", "Stored webhook events not settled yet.");
    sample_i(&mut out, name, g.pending_webhooks);
    out
}

fn sample_i(out: &mut String, name: &str, value: i64) {
    let _ = writeln!(out, "{name} {value}");
}
