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
    pub sort_order: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
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
