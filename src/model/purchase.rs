//! Wire types of buying credits: the plans on sale, orders as their owner sees them, and the
//! payment status page. Built on the server from rows; nothing here knows about Whop's objects.

use serde::{Deserialize, Serialize};

use super::{Cents, Credits};

/// A plan on sale, as the credits page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanView {
    pub id: i64,
    pub name: String,
    pub credits: Credits,
    /// None: custom pricing (Enterprise), bought through the manual request flow.
    pub price: Option<Cents>,
    pub currency: String,
}

impl PlanView {
    /// The price of 1,000 credits, rounded to the cent (`$1.50`).
    pub fn price_per_thousand(&self) -> Option<Cents> {
        let price = self.price?.get() as i128;
        let credits = self.credits.get() as i128;
        if credits <= 0 {
            return None;
        }
        let cents = (price * 1000 * 2 + credits) / (credits * 2);
        i64::try_from(cents).ok().map(Cents)
    }
}

/// Where an order stands, as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum OrderState {
    /// Waiting for Whop to confirm the payment.
    AwaitingPayment,
    /// Paid and credited.
    Credited,
    /// The payment (or opening the checkout) failed; `reason` is Whop's message when it gave one.
    Failed { reason: Option<String> },
    /// A manual request, waiting for an admin.
    AwaitingAdmin,
    /// Paid, but held for an admin (e.g. the amount did not match): not credited yet.
    Held,
    /// A manual request an admin turned down; `reason` is the admin's note to the user.
    Rejected { reason: Option<String> },
    /// Refunded, disputed, approved or cancelled: shown by its label.
    Other { label: String },
}

impl OrderState {
    /// Whether the status page can stop watching.
    pub fn is_settled(&self) -> bool {
        !matches!(self, OrderState::AwaitingPayment)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderView {
    pub id: i64,
    pub plan_name: String,
    pub credits: Credits,
    /// Zero for a custom-priced request.
    pub price: Cents,
    pub currency: String,
    /// `whop` or `manual`.
    pub payment_method: String,
    pub state: OrderState,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// Everything the credits page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditsPageView {
    pub plans: Vec<PlanView>,
    /// None when signed out.
    pub balance: Option<Credits>,
    /// The signed-in user's recent orders, newest first.
    pub orders: Vec<OrderView>,
    /// Whether this viewer pays through Whop (else every plan uses the request flow): Whop payments
    /// are on, and the beta list is empty or names them.
    pub whop_enabled: bool,
}

/// The payment status page: the order and the balance it left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentStatusView {
    pub order: OrderView,
    pub balance: Credits,
}
