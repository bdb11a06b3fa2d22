//! The credit ledger: the one way credits move. Every purchase, refund, dispute, grant,
//! adjustment and spend becomes an immutable row, posted exactly once per source.
//!
//! Balance policy (also in the README):
//! - A spend (and an admin adjustment that removes credits) can never take a balance below zero;
//!   the check happens inside the write, and a refused entry changes nothing.
//! - Clawbacks for refunds and disputes always apply in full, so a balance can go negative when
//!   the credits were already spent. That debt is shown to the user, blocks spending, and is
//!   repaid by the next purchase (which simply adds to the balance).
//! - The balance always equals the sum of the user's rows.

use crate::model::{Credits, EntryKind, OrderId, UserId};
use crate::server::service::text::refuse_control_chars;
use crate::server::store::{NewEntry, PostOutcome, Store, StoreError, TransactionRow};

/// Longest free-text reason kept on a row.
pub const MAX_REASON_CHARS: usize = 500;
/// Longest source id (Whop ids, host-app idempotency keys).
pub const MAX_SOURCE_ID_CHARS: usize = 255;

/// Who caused an entry; stored as text on the row (`user:1`, `admin:2`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    System,
    Whop,
    User(UserId),
    Admin(UserId),
    ApiKey(i64),
}

impl Actor {
    pub fn as_text(&self) -> String {
        match self {
            Actor::System => "system".into(),
            Actor::Whop => "whop".into(),
            Actor::User(id) => format!("user:{}", id.0),
            Actor::Admin(id) => format!("admin:{}", id.0),
            Actor::ApiKey(id) => format!("api_key:{id}"),
        }
    }
}

/// What an entry's amount sign must be, per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sign {
    Positive,
    Negative,
    Either,
}

fn sign_of(kind: EntryKind) -> Sign {
    match kind {
        EntryKind::Purchase | EntryKind::ManualGrant | EntryKind::DisputeRelease => Sign::Positive,
        EntryKind::Spend | EntryKind::RefundClawback | EntryKind::DisputeHold => Sign::Negative,
        EntryKind::AdminAdjustment | EntryKind::Migration => Sign::Either,
    }
}

/// Whether an entry of this kind and amount may leave the balance below zero.
/// Spends and downward adjustments may not; clawbacks and imports always apply in full.
pub fn may_overdraw(kind: EntryKind, amount: Credits) -> bool {
    match kind {
        EntryKind::Spend => false,
        EntryKind::AdminAdjustment => amount.get() > 0,
        _ => true,
    }
}

/// A validated ledger entry: constructing one is the only way to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    user: UserId,
    kind: EntryKind,
    amount: Credits,
    source_kind: String,
    source_id: String,
    order: Option<OrderId>,
    actor: Actor,
    reason: Option<String>,
}

impl LedgerEntry {
    /// `source_kind`/`source_id` name what the entry comes from (`whop_payment`/`pay_...`,
    /// `order`/`42`, `host_spend`/an idempotency key): the same (kind, source) never applies twice.
    pub fn new(
        user: UserId,
        kind: EntryKind,
        amount: Credits,
        source_kind: &str,
        source_id: &str,
        actor: Actor,
    ) -> Result<Self, LedgerError> {
        let ok_sign = match sign_of(kind) {
            Sign::Positive => amount.get() > 0,
            Sign::Negative => amount.get() < 0,
            Sign::Either => amount.get() != 0,
        };
        if !ok_sign {
            let expected = match sign_of(kind) {
                Sign::Positive => "positive",
                Sign::Negative => "negative",
                Sign::Either => "non-zero",
            };
            return Err(LedgerError::Invalid(format!(
                "a {kind} entry must have a {expected} amount, not {}",
                amount.get()
            )));
        }
        refuse_control_chars("a source kind", source_kind).map_err(LedgerError::Invalid)?;
        refuse_control_chars("a source id", source_id).map_err(LedgerError::Invalid)?;
        let source_kind = source_kind.trim();
        let source_id = source_id.trim();
        if source_kind.is_empty() || source_id.is_empty() {
            return Err(LedgerError::Invalid("an entry needs a source kind and id".into()));
        }
        if source_id.chars().count() > MAX_SOURCE_ID_CHARS || source_kind.chars().count() > 64 {
            return Err(LedgerError::Invalid(format!(
                "a source id may have at most {MAX_SOURCE_ID_CHARS} characters"
            )));
        }
        Ok(LedgerEntry {
            user,
            kind,
            amount,
            source_kind: source_kind.to_string(),
            source_id: source_id.to_string(),
            order: None,
            actor,
            reason: None,
        })
    }

    pub fn with_order(mut self, order: OrderId) -> Self {
        self.order = Some(order);
        self
    }

    pub fn with_reason(mut self, reason: &str) -> Result<Self, LedgerError> {
        refuse_control_chars("a reason", reason).map_err(LedgerError::Invalid)?;
        let reason = reason.trim();
        if reason.chars().count() > MAX_REASON_CHARS {
            return Err(LedgerError::Invalid(format!(
                "a reason may have at most {MAX_REASON_CHARS} characters"
            )));
        }
        self.reason = (!reason.is_empty()).then(|| reason.to_string());
        Ok(self)
    }

    pub fn kind(&self) -> EntryKind {
        self.kind
    }
    pub fn amount(&self) -> Credits {
        self.amount
    }
    pub fn user(&self) -> UserId {
        self.user
    }
    pub fn source_id(&self) -> &str {
        &self.source_id
    }

    /// The store's input (`post` posts it; `admin_orders::adjust` posts it with its audit line).
    pub(crate) fn to_new_entry(&self) -> NewEntry {
        NewEntry {
            user_id: self.user.0,
            amount: self.amount.get(),
            kind: self.kind.as_str(),
            source_kind: self.source_kind.clone(),
            source_id: self.source_id.clone(),
            order_id: self.order.map(|o| o.0),
            actor: self.actor.as_text(),
            reason: self.reason.clone(),
            no_overdraft: !may_overdraw(self.kind, self.amount),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("invalid ledger entry: {0}")]
    Invalid(String),
    #[error("user not found")]
    UserNotFound,
    /// The entry would take the balance below zero; nothing changed.
    #[error("insufficient credits: balance is {balance}")]
    InsufficientCredits { balance: Credits },
    /// The source was already used for a different entry (another amount or user).
    #[error("source {source_kind}/{source_id} was already used for a different entry")]
    SourceConflict {
        source_kind: String,
        source_id: String,
        existing: Box<TransactionRow>,
    },
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for LedgerError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound("user") => LedgerError::UserNotFound,
            StoreError::InsufficientCredits { balance } => LedgerError::InsufficientCredits { balance },
            // Refused by the request (an amount too large for the balance), not a database fault.
            StoreError::BalanceOutOfRange => {
                LedgerError::Invalid("this entry would take the balance beyond the range a balance can hold".into())
            }
            e => LedgerError::Store(e),
        }
    }
}

/// The result of a post: the row now in the ledger, and whether this call wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub transaction: TransactionRow,
    /// False when the same entry had been posted before (a retry or duplicate): no second effect.
    pub applied: bool,
}

impl Posted {
    pub fn balance_after(&self) -> Credits {
        self.transaction.balance_after()
    }
}

/// Posts an entry exactly once. A repeat of the same entry returns the first result; a repeat
/// of the source with another amount or user is a `SourceConflict` (e.g. a reused idempotency key).
pub async fn post(store: &dyn Store, entry: &LedgerEntry) -> Result<Posted, LedgerError> {
    match store.post_entry(&entry.to_new_entry()).await? {
        PostOutcome::Applied(row) => {
            tracing::info!(user = entry.user.0, kind = %entry.kind, amount = entry.amount.get(), balance = row.balance_after, tx = row.id, "ledger entry applied");
            Ok(Posted {
                transaction: row,
                applied: true,
            })
        }
        PostOutcome::AlreadyApplied(row) => {
            if row.user_id != entry.user.0 || row.amount != entry.amount.get() {
                return Err(LedgerError::SourceConflict {
                    source_kind: entry.source_kind.clone(),
                    source_id: entry.source_id.clone(),
                    existing: Box::new(row),
                });
            }
            tracing::debug!(user = entry.user.0, kind = %entry.kind, tx = row.id, "ledger entry already applied");
            Ok(Posted {
                transaction: row,
                applied: false,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: EntryKind, amount: i64) -> Result<LedgerEntry, LedgerError> {
        LedgerEntry::new(UserId(1), kind, Credits(amount), "test", "s1", Actor::System)
    }

    #[test]
    fn sign_rules_per_kind() {
        assert!(entry(EntryKind::Purchase, 5).is_ok());
        assert!(entry(EntryKind::Purchase, -5).is_err());
        assert!(entry(EntryKind::Purchase, 0).is_err());
        assert!(entry(EntryKind::Spend, -1).is_ok());
        assert!(entry(EntryKind::Spend, 1).is_err());
        assert!(entry(EntryKind::RefundClawback, 1).is_err());
        assert!(entry(EntryKind::DisputeHold, -1).is_ok());
        assert!(entry(EntryKind::DisputeRelease, 1).is_ok());
        assert!(entry(EntryKind::AdminAdjustment, -3).is_ok());
        assert!(entry(EntryKind::AdminAdjustment, 0).is_err());
        assert!(entry(EntryKind::Migration, -3).is_ok());
    }

    #[test]
    fn overdraft_policy() {
        assert!(!may_overdraw(EntryKind::Spend, Credits(-1)));
        assert!(!may_overdraw(EntryKind::AdminAdjustment, Credits(-1)));
        assert!(may_overdraw(EntryKind::AdminAdjustment, Credits(1)));
        assert!(may_overdraw(EntryKind::RefundClawback, Credits(-1)));
        assert!(may_overdraw(EntryKind::DisputeHold, Credits(-1)));
        assert!(may_overdraw(EntryKind::Migration, Credits(-1)));
    }

    #[test]
    fn sources_and_reasons_are_bounded() {
        assert!(LedgerEntry::new(
            UserId(1),
            EntryKind::Spend,
            Credits(-1),
            "host_spend",
            " ",
            Actor::System
        )
        .is_err());
        let long = "k".repeat(MAX_SOURCE_ID_CHARS + 1);
        assert!(LedgerEntry::new(
            UserId(1),
            EntryKind::Spend,
            Credits(-1),
            "host_spend",
            &long,
            Actor::System
        )
        .is_err());
        let e = entry(EntryKind::Spend, -1).unwrap();
        assert!(e.clone().with_reason(&"r".repeat(MAX_REASON_CHARS + 1)).is_err());
        // Control characters anywhere (PostgreSQL cannot store NUL): refused in ids and reasons.
        for bad in ["k\0", "k\n1", "\u{85}k"] {
            let with_id = LedgerEntry::new(
                UserId(1),
                EntryKind::Spend,
                Credits(-1),
                "host_spend",
                bad,
                Actor::System,
            );
            assert!(matches!(with_id, Err(LedgerError::Invalid(_))), "{bad:?}");
            assert!(
                matches!(e.clone().with_reason(bad), Err(LedgerError::Invalid(_))),
                "{bad:?}"
            );
        }
        assert_eq!(e.with_reason("  ").unwrap().reason, None);
    }

    #[test]
    fn actors_as_text() {
        assert_eq!(Actor::Admin(UserId(2)).as_text(), "admin:2");
        assert_eq!(Actor::ApiKey(3).as_text(), "api_key:3");
    }
}
