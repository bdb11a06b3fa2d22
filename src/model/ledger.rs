//! Ledger vocabulary shared with the pages: what kinds of entries exist and how a row looks on
//! the wire (history lists, CSV). The rules for each kind live in `server::service::ledger`.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use super::Credits;

/// A user's id in this app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub i64);

/// A credit order's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrderId(pub i64);

/// Why credits moved. Stored as the lowercase names below (the `kind` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// Credits bought and paid for (Whop payment or approved manual order).
    Purchase,
    /// Credits given by an admin for free.
    ManualGrant,
    /// A correction by an admin, either way.
    AdminAdjustment,
    /// Credits used in Atlas (the host app's spend API).
    Spend,
    /// Credits taken back because their payment was refunded.
    RefundClawback,
    /// Credits held back while their payment is disputed.
    DisputeHold,
    /// Held credits returned because a dispute was won.
    DisputeRelease,
    /// A balance brought over from the legacy system.
    Migration,
}

impl EntryKind {
    pub const ALL: [EntryKind; 8] = [
        EntryKind::Purchase,
        EntryKind::ManualGrant,
        EntryKind::AdminAdjustment,
        EntryKind::Spend,
        EntryKind::RefundClawback,
        EntryKind::DisputeHold,
        EntryKind::DisputeRelease,
        EntryKind::Migration,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Purchase => "purchase",
            EntryKind::ManualGrant => "manual_grant",
            EntryKind::AdminAdjustment => "admin_adjustment",
            EntryKind::Spend => "spend",
            EntryKind::RefundClawback => "refund_clawback",
            EntryKind::DisputeHold => "dispute_hold",
            EntryKind::DisputeRelease => "dispute_release",
            EntryKind::Migration => "migration",
        }
    }

    /// How the history page names it.
    pub fn label(self) -> &'static str {
        match self {
            EntryKind::Purchase => "Purchase",
            EntryKind::ManualGrant => "Credits granted",
            EntryKind::AdminAdjustment => "Adjustment",
            EntryKind::Spend => "Spent",
            EntryKind::RefundClawback => "Refund",
            EntryKind::DisputeHold => "Held (payment disputed)",
            EntryKind::DisputeRelease => "Released (dispute won)",
            EntryKind::Migration => "Imported balance",
        }
    }
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown ledger entry kind {0:?}")]
pub struct UnknownKind(pub String);

impl FromStr for EntryKind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EntryKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_string()))
    }
}

/// One ledger row as the pages show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionView {
    pub id: i64,
    pub kind: EntryKind,
    pub amount: Credits,
    pub balance_after: Credits,
    pub reason: Option<String>,
    pub order_id: Option<OrderId>,
    /// RFC 3339, UTC.
    pub created_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for k in EntryKind::ALL {
            assert_eq!(k.as_str().parse::<EntryKind>().unwrap(), k);
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{}\"", k.as_str()));
        }
        assert!("bonus".parse::<EntryKind>().is_err());
    }
}
