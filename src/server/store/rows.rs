//! Rows as the store reads them, and the plain inputs it writes. These never cross to the
//! browser: `crate::model` holds the wire views built from them.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use crate::model::{Credits, EntryKind, OrderId, TransactionView, UserId};

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    /// argon2id PHC string; deliberately not serializable anywhere.
    pub password_hash: Option<String>,
    pub role: String,
    pub external_id: Option<String>,
    pub name: Option<String>,
    pub credits_balance: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl UserRow {
    pub fn user_id(&self) -> UserId {
        UserId(self.id)
    }
    pub fn balance(&self) -> Credits {
        Credits(self.credits_balance)
    }
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub password_hash: Option<String>,
    pub role: String,
    pub external_id: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct TransactionRow {
    pub id: i64,
    pub user_id: i64,
    pub amount: i64,
    pub kind: String,
    pub source_kind: String,
    pub source_id: String,
    pub order_id: Option<i64>,
    pub actor: String,
    pub reason: Option<String>,
    pub balance_after: i64,
    pub created_at: DateTime<Utc>,
}

impl TransactionRow {
    pub fn amount(&self) -> Credits {
        Credits(self.amount)
    }
    pub fn balance_after(&self) -> Credits {
        Credits(self.balance_after)
    }
    /// The kind as the domain knows it; the column's check constraint keeps it one of these.
    pub fn entry_kind(&self) -> Option<EntryKind> {
        self.kind.parse().ok()
    }

    pub fn to_view(&self) -> TransactionView {
        TransactionView {
            id: self.id,
            kind: self.entry_kind().unwrap_or(EntryKind::AdminAdjustment),
            amount: self.amount(),
            balance_after: self.balance_after(),
            reason: self.reason.clone(),
            order_id: self.order_id.map(OrderId),
            created_at: self.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }
}

/// A ledger entry ready to write. Built and validated by `service::ledger::LedgerEntry`; the
/// store enforces only what it says (uniqueness of the source, the overdraft rule).
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub user_id: i64,
    pub amount: i64,
    pub kind: &'static str,
    pub source_kind: String,
    pub source_id: String,
    pub order_id: Option<i64>,
    pub actor: String,
    pub reason: Option<String>,
    /// Refuse the entry if it would leave the balance below zero.
    pub no_overdraft: bool,
}

/// What posting an entry did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostOutcome {
    /// Written now; the row carries the new balance.
    Applied(TransactionRow),
    /// An entry with the same (kind, source) already existed: nothing was written; this is it.
    AlreadyApplied(TransactionRow),
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct PlanRow {
    pub id: i64,
    pub plan_name: String,
    pub whop_plan_id: Option<String>,
    pub credits_amount: i64,
    pub price_cents: Option<i64>,
    pub currency: String,
    pub active: bool,
    /// The Whop product it is sold under (`prod_...`), once pushed to Whop.
    pub whop_product_id: Option<String>,
    pub sort_order: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// synced, pending, failed or manual (custom price: never on Whop).
    pub sync_status: String,
    /// Whop's message when the last push failed.
    pub sync_error: Option<String>,
    pub synced_at: Option<DateTime<Utc>>,
    /// Bumped when the price or currency changes; each revision has its own Whop plan.
    pub revision: i32,
    /// The revision `whop_plan_id` was created for.
    pub whop_plan_revision: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct ApiKeyRow {
    pub id: i64,
    pub name: String,
    pub key_hash: String,
    pub key_prefix: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub name: String,
    pub key_hash: String,
    pub key_prefix: String,
    pub created_by: String,
}

/// A simulator object (test mode).
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct SimObjectRow {
    pub seq: i64,
    pub id: String,
    pub kind: String,
    pub data: String,
}

/// A webhook delivery the simulator owes the app.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct SimDeliveryRow {
    pub id: i64,
    pub webhook_id: String,
    pub event_type: String,
    pub payload: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status: Option<i32>,
}

#[derive(Debug, Clone)]
pub struct NewSimDelivery {
    pub webhook_id: String,
    pub event_type: String,
    pub payload: String,
    /// `pending`, or `dropped` (the simulator was told to lose it).
    pub status: &'static str,
    pub due_at: DateTime<Utc>,
}

/// One order for credits: bought through Whop, or requested by hand (`payment_method`).
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct OrderRow {
    pub id: i64,
    pub user_id: i64,
    pub plan_name: String,
    pub credits_amount: i64,
    /// 0 for a custom-priced (manual) order.
    pub price_cents: i64,
    pub currency: String,
    /// Manual review state: pending, approved, rejected, cancelled.
    pub status: String,
    /// `whop` or `manual`.
    pub payment_method: String,
    /// pending, paid, failed, refunded, partially_refunded, disputed.
    pub payment_status: String,
    pub whop_checkout_id: Option<String>,
    pub whop_payment_id: Option<String>,
    pub whop_plan_id: Option<String>,
    pub notes: Option<String>,
    pub client_key: Option<String>,
    pub failure_message: Option<String>,
    pub hold_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub credited_at: Option<DateTime<Utc>>,
    /// The admin's reason when a manual order was approved or rejected (a rejected order's
    /// owner sees it).
    pub review_note: Option<String>,
    /// `admin:ID`.
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<DateTime<Utc>>,
}

impl OrderRow {
    pub fn order_id(&self) -> OrderId {
        OrderId(self.id)
    }
    pub fn user_id(&self) -> UserId {
        UserId(self.user_id)
    }
    pub fn credits(&self) -> Credits {
        Credits(self.credits_amount)
    }
}

/// An order to create; plan name, credits and price are copied from the plan at that moment.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub user_id: UserId,
    pub plan_name: String,
    pub credits_amount: i64,
    pub price_cents: i64,
    pub currency: String,
    /// `whop` or `manual`.
    pub payment_method: &'static str,
    pub notes: Option<String>,
    /// Made by the browser; one order per key.
    pub client_key: Option<String>,
}

/// A stored webhook delivery and how applying it went.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct WebhookEventRow {
    pub id: String,
    pub event_type: String,
    pub received_at: DateTime<Utc>,
    /// The raw body exactly as signed.
    pub payload: String,
    /// pending, processed, failed, ignored.
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub processed_at: Option<DateTime<Utc>>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub order_id: Option<i64>,
    /// The `pay_...` id the event is about, once applying it has read one.
    pub payment_id: Option<String>,
}

/// A Whop payment to credit against its order, in one transaction with the order update.
#[derive(Debug, Clone)]
pub struct Fulfilment {
    pub order_id: OrderId,
    /// Whop's `pay_...` id: the ledger entry's source, so one payment credits once, ever.
    pub payment_id: String,
    /// What Whop says was paid (checked against the order before crediting).
    pub amount_cents: i64,
    pub currency: String,
    pub paid_at: DateTime<Utc>,
}

/// What a fulfilment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FulfilOutcome {
    /// The order is now paid and credited; the purchase row carries the new balance.
    Credited { order: OrderRow, entry: TransactionRow },
    /// This payment was credited before (a repeat): nothing written.
    AlreadyCredited { order: OrderRow, entry: TransactionRow },
    /// Not credited: the amount or currency differs from the order, or the order was paid by
    /// another payment. The order keeps the reason (`hold_reason`) for an admin.
    Held { order: OrderRow, reason: String },
}

/// A succeeded Whop refund to apply to the order its payment credited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundApplication {
    /// Whop's `rf_...` id: the clawback's ledger source, so one refund claws back once, ever.
    pub refund_id: String,
    /// The refunded payment's `pay_...` id: how the order is found (never the metadata).
    pub payment_id: String,
    pub amount_cents: i64,
    pub currency: String,
}

/// What applying a refund did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOutcome {
    /// The refund is recorded; `entry` is its clawback (None when this refund's share rounds to
    /// no whole credit: a later refund of the same order takes it).
    ClawedBack {
        order: OrderRow,
        entry: Option<TransactionRow>,
    },
    /// This refund was applied before (a repeat): nothing written.
    AlreadyApplied { order: OrderRow },
    /// No order was credited by this payment (yet): nothing written; try again later.
    PaymentNotCredited,
    /// Never applicable (more than was paid, another currency): nothing written.
    Refused { order: OrderRow, reason: String },
}

/// A Whop dispute to reflect on the order its payment credited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputeApplication {
    /// Whop's dispute id: the source of its hold and release, so each is written once, ever.
    pub dispute_id: String,
    /// The disputed payment's `pay_...` id: how the order is found (never the metadata).
    pub payment_id: String,
    pub stage: crate::server::store::dispute::DisputeStage,
}

/// What applying a dispute did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisputeOutcome {
    /// A hold or release was written, or the order marked `disputed`.
    Applied { order: OrderRow },
    /// Everything this stage needs was there already (a repeat): nothing written.
    Unchanged { order: OrderRow },
    /// No order was credited by this payment (yet): nothing written; try again later.
    PaymentNotCredited,
}
