//! Exact money and credit amounts. Prices are integer cents, credits integer units: no floats,
//! ever. Whop's decimal amounts are converted at the Whop client boundary, not here.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An amount of money in the smallest unit of its currency (cents for USD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cents(pub i64);

/// A number of credits. Signed: ledger entries that take credits away are negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Credits(pub i64);

impl Cents {
    pub const ZERO: Cents = Cents(0);

    pub fn get(self) -> i64 {
        self.0
    }
}

impl Credits {
    pub const ZERO: Credits = Credits(0);

    pub fn get(self) -> i64 {
        self.0
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// Adds without wrapping; `None` when the sum leaves i64 (the ledger refuses such an entry).
    pub fn checked_add(self, other: Credits) -> Option<Credits> {
        self.0.checked_add(other.0).map(Credits)
    }
}

/// `$1,234.50`-style text for USD amounts; other currencies show their code.
impl Cents {
    pub fn format(self, currency: &str) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let (major, minor) = (abs / 100, abs % 100);
        let major = group_thousands(major);
        if currency.eq_ignore_ascii_case("usd") {
            format!("{sign}${major}.{minor:02}")
        } else {
            format!("{sign}{major}.{minor:02} {}", currency.to_ascii_uppercase())
        }
    }
}

impl fmt::Display for Credits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        write!(f, "{sign}{}", group_thousands(self.0.unsigned_abs()))
    }
}

fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_usd_cents_exactly() {
        assert_eq!(Cents(750).format("usd"), "$7.50");
        assert_eq!(Cents(3250).format("USD"), "$32.50");
        assert_eq!(Cents(123_456_789).format("usd"), "$1,234,567.89");
        assert_eq!(Cents(-5).format("usd"), "-$0.05");
        assert_eq!(Cents(100).format("eur"), "1.00 EUR");
    }

    #[test]
    fn formats_credits_with_grouping() {
        assert_eq!(Credits(5000).to_string(), "5,000");
        assert_eq!(Credits(100_000).to_string(), "100,000");
        assert_eq!(Credits(-25).to_string(), "-25");
        assert_eq!(Credits(0).to_string(), "0");
    }

    #[test]
    fn checked_add_refuses_overflow() {
        assert_eq!(Credits(1).checked_add(Credits(2)), Some(Credits(3)));
        assert_eq!(Credits(i64::MAX).checked_add(Credits(1)), None);
    }
}
