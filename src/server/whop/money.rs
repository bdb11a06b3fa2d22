//! Whop sends and takes money as decimal major units in JSON numbers (`32.5` = $32.50). Inside
//! the app money is integer cents. This is the only place that converts, and it works on the
//! number's text, never through binary floating point: `10.43` becomes 1043 exactly.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::model::Cents;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("not a decimal number: {0:?}")]
    NotANumber(String),
    #[error("more precise than a cent: {0:?}")]
    SubCent(String),
    #[error("out of range: {0:?}")]
    OutOfRange(String),
}

/// Parses JSON number text (`7`, `7.5`, `-0.05`, `1.2e1`) into exact cents.
pub fn parse_cents(text: &str) -> Result<Cents, MoneyError> {
    let bad = || MoneyError::NotANumber(text.to_string());
    let t = text.trim();
    let (negative, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], t[i + 1..].parse::<i32>().map_err(|_| bad())?),
        None => (t, 0),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((i, f)) => (i, f),
        None => (mantissa, ""),
    };
    if int_part.is_empty()
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    // All digits as one integer, and where the decimal point sits after scaling to cents.
    let digits = format!("{int_part}{frac_part}");
    let shift = 2 + exponent - frac_part.len() as i32; // value * 100 = digits * 10^shift
    let digits = digits.trim_start_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let cents: i128 = if shift >= 0 {
        let base: i128 = digits.parse().map_err(|_| MoneyError::OutOfRange(text.to_string()))?;
        10i128
            .checked_pow(shift as u32)
            .and_then(|p| base.checked_mul(p))
            .ok_or_else(|| MoneyError::OutOfRange(text.to_string()))?
    } else {
        let cut = (-shift) as usize;
        let (keep, dropped) = if digits.len() > cut {
            digits.split_at(digits.len() - cut)
        } else {
            ("0", digits)
        };
        if dropped.bytes().any(|b| b != b'0') {
            return Err(MoneyError::SubCent(text.to_string()));
        }
        keep.parse().map_err(|_| MoneyError::OutOfRange(text.to_string()))?
    };
    let cents = if negative { -cents } else { cents };
    i64::try_from(cents)
        .map(Cents)
        .map_err(|_| MoneyError::OutOfRange(text.to_string()))
}

/// Cents as a JSON number in major units, written the way Whop's JavaScript SDK writes numbers
/// (shortest form): 1043 -> `10.43`, 3250 -> `32.5`, 1000 -> `10`, 5 -> `0.05`.
pub fn format_major(c: Cents) -> String {
    let sign = if c.get() < 0 { "-" } else { "" };
    let abs = c.get().unsigned_abs();
    let (major, minor) = (abs / 100, abs % 100);
    match minor {
        0 => format!("{sign}{major}"),
        m if m % 10 == 0 => format!("{sign}{major}.{}", m / 10),
        m => format!("{sign}{major}.{m:02}"),
    }
}

/// Serde for a Whop money field: a JSON number on the wire, `Cents` in Rust.
pub mod serde_cents {
    use super::*;

    pub fn serialize<S: Serializer>(c: &Cents, s: S) -> Result<S::Ok, S::Error> {
        RawValue::from_string(format_major(*c))
            .map_err(serde::ser::Error::custom)?
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Cents, D::Error> {
        let raw: &RawValue = Deserialize::deserialize(d)?;
        parse_cents(raw.get()).map_err(D::Error::custom)
    }
}

/// The same for an optional (nullable or absent) money field.
pub mod serde_opt_cents {
    use super::*;

    pub fn serialize<S: Serializer>(c: &Option<Cents>, s: S) -> Result<S::Ok, S::Error> {
        match c {
            Some(c) => super::serde_cents::serialize(c, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cents>, D::Error> {
        let raw: Option<&RawValue> = Deserialize::deserialize(d)?;
        match raw.map(RawValue::get) {
            None | Some("null") => Ok(None),
            Some(text) => parse_cents(text.trim_matches('"')).map(Some).map_err(D::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exactly() {
        for (text, cents) in [
            ("7.5", 750),
            ("32.50", 3250),
            ("10.43", 1043),
            ("0.1", 10),
            ("0.29", 29),
            ("7", 700),
            ("0", 0),
            ("-0.05", -5),
            ("1.2e1", 1200),
            ("1234E-2", 1234),
        ] {
            assert_eq!(parse_cents(text), Ok(Cents(cents)), "{text}");
        }
        assert_eq!(parse_cents("12.340"), Ok(Cents(1234)));
        assert_eq!(parse_cents("1234.5E-2"), Err(MoneyError::SubCent("1234.5E-2".into())));
        assert_eq!(parse_cents("0.001"), Err(MoneyError::SubCent("0.001".into())));
        assert!(parse_cents("abc").is_err());
        assert!(parse_cents("").is_err());
        assert!(parse_cents(".5").is_err());
        assert!(parse_cents("1e400").is_err());
        assert!(parse_cents("99999999999999999999").is_err());
    }

    #[test]
    fn formats_major_units() {
        assert_eq!(format_major(Cents(1043)), "10.43");
        assert_eq!(format_major(Cents(3250)), "32.5");
        assert_eq!(format_major(Cents(1000)), "10");
        assert_eq!(format_major(Cents(700)), "7");
        assert_eq!(format_major(Cents(5)), "0.05");
        assert_eq!(format_major(Cents(-250)), "-2.5");
    }

    #[test]
    fn every_cent_value_round_trips_through_json() {
        #[derive(Serialize, Deserialize)]
        struct M {
            #[serde(with = "serde_cents")]
            v: Cents,
        }
        for c in (0..20_000).chain([123_456_789, i64::from(i32::MAX)]) {
            let json = serde_json::to_string(&M { v: Cents(c) }).unwrap();
            let back: M = serde_json::from_str(&json).unwrap();
            assert_eq!(back.v, Cents(c), "{json}");
        }
    }
}
