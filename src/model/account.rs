//! Wire types of accounts: who is signed in, their balance page, API keys in the admin page.

use serde::{Deserialize, Serialize};

use super::{Credits, TransactionView};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Role {
        if s == "admin" {
            Role::Admin
        } else {
            Role::User
        }
    }
}

/// The signed-in person, as the header shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    pub email: String,
    pub role: Role,
    /// Where "Back to Atlas" points, when this session came from a host app's sign-in link that
    /// named one (and its origin is still allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub back_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    pub email: String,
    pub role: Role,
    pub balance: Credits,
    /// The user's recent manual requests (pending, approved, or rejected with the admin's
    /// reason), newest first.
    #[serde(default)]
    pub requests: Vec<super::OrderView>,
}

impl AccountView {
    /// A negative balance is a debt (refunded or disputed credits already spent).
    pub fn debt(&self) -> Option<Credits> {
        self.balance.is_negative().then(|| Credits(-self.balance.get()))
    }
}

/// One page of history, newest first; `next_before` fetches the page after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionPage {
    pub items: Vec<TransactionView>,
    pub next_before: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyView {
    pub id: i64,
    pub name: String,
    /// The first characters, to recognise the key; the key itself is never shown again.
    pub prefix: String,
    pub created_by: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// A key just made: the only time its secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedApiKey {
    pub key: String,
    pub view: ApiKeyView,
}
