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
///
/// Exact for any input, whatever its length or exponent: the value is reduced to significant
/// digits times a power of ten, and every size is compared before anything is multiplied, so
/// `1e2147483647` is out of range, `1e-2147483648` sub-cent and `0e999999` zero, never a panic.
pub fn parse_cents(text: &str) -> Result<Cents, MoneyError> {
    let bad = || MoneyError::NotANumber(text.to_string());
    let out_of_range = || MoneyError::OutOfRange(text.to_string());
    let t = text.trim();
    let (negative, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], parse_exponent(&t[i + 1..]).ok_or_else(bad)?),
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
    // value = digits * 10^(exponent - frac_len), with digits the int and fraction parts joined.
    // Leading zeros change nothing; each trailing zero dropped moves one power into the exponent.
    let digits = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Ok(Cents(0)); // zero, with any exponent and either sign
    }
    let significant = digits.trim_end_matches('0');
    let dropped = (digits.len() - significant.len()) as i64;
    // |exponent| <= EXPONENT_CAP and lengths are far below 2^62: none of this can overflow, but
    // checked arithmetic says so rather than trusting it.
    let shift = exponent
        .checked_sub(frac_part.len() as i64)
        .and_then(|e| e.checked_add(dropped))
        .and_then(|e| e.checked_add(2))
        .ok_or_else(out_of_range)?; // cents = significant * 10^shift
    if shift < 0 {
        // `significant` ends in a non-zero digit, so dividing it by a power of ten leaves a fraction.
        return Err(MoneyError::SubCent(text.to_string()));
    }
    // significant >= 10^(len-1), so with len + shift > 19 the cents are >= 10^19 > i64::MAX.
    if (significant.len() as i64).saturating_add(shift) > 19 {
        return Err(out_of_range());
    }
    let base: i128 = significant.parse().map_err(|_| out_of_range())?;
    let cents = 10i128
        .checked_pow(shift as u32)
        .and_then(|p| base.checked_mul(p))
        .ok_or_else(out_of_range)?;
    let cents = if negative { -cents } else { cents };
    i64::try_from(cents).map(Cents).map_err(|_| out_of_range())
}

/// Exponents are held to +-EXPONENT_CAP: any larger one means the same thing (no non-zero
/// value fits in i64 cents or is a whole cent), and the cap keeps the arithmetic small.
const EXPONENT_CAP: i64 = 1 << 62;

/// The exponent after `e`: optional sign, then at least one digit; saturates at the cap.
fn parse_exponent(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let magnitude = digits.bytes().fold(0i64, |acc, d| {
        acc.saturating_mul(10)
            .saturating_add(i64::from(d - b'0'))
            .min(EXPONENT_CAP)
    });
    Some(if negative { -magnitude } else { magnitude })
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
    fn extreme_exponents_and_lengths_never_panic() {
        let out = |t: &str| Err(MoneyError::OutOfRange(t.into()));
        let sub = |t: &str| Err(MoneyError::SubCent(t.into()));
        assert_eq!(parse_cents("1e2147483647"), out("1e2147483647"));
        assert_eq!(parse_cents("1e99999999999"), out("1e99999999999"));
        let huge = format!("1e{}", "9".repeat(100));
        assert_eq!(parse_cents(&huge), out(&huge));
        assert_eq!(parse_cents("1e-2147483648"), sub("1e-2147483648"));
        assert_eq!(parse_cents("-1e-99999999999"), sub("-1e-99999999999"));
        assert_eq!(parse_cents("0e999999"), Ok(Cents(0)));
        assert_eq!(parse_cents("0e-2147483648"), Ok(Cents(0)));
        assert_eq!(parse_cents("-0.0e5"), Ok(Cents(0)));
        assert_eq!(parse_cents("1e+2"), Ok(Cents(10_000)));
        assert_eq!(parse_cents("1e16"), Ok(Cents(1_000_000_000_000_000_000)));
        assert_eq!(parse_cents("1e17"), out("1e17"));
        assert_eq!(parse_cents("92233720368547758.07"), Ok(Cents(i64::MAX)));
        assert_eq!(parse_cents("-92233720368547758.08"), Ok(Cents(i64::MIN)));
        assert_eq!(parse_cents("92233720368547758.08"), out("92233720368547758.08"));
        for bad in ["1e", "1e-", "1e+", "1e--1", "1e1.5", "1ee1", "1e 1"] {
            assert_eq!(parse_cents(bad), Err(MoneyError::NotANumber(bad.into())), "{bad}");
        }

        // 10,000 digits: too big, a fraction of a cent, or an exact amount padded with zeros.
        let big = format!("1{}", "0".repeat(9_999));
        assert_eq!(parse_cents(&big), out(&big));
        let tiny = format!("0.{}1", "0".repeat(9_998));
        assert_eq!(parse_cents(&tiny), sub(&tiny));
        let dollar = format!("1.{}", "0".repeat(9_998));
        assert_eq!(parse_cents(&dollar), Ok(Cents(100)));
        let scaled = format!("{}e-9998", "1".repeat(10_000));
        assert_eq!(parse_cents(&scaled), sub(&scaled));
        let zeros = format!("{}e99999", "0".repeat(10_000));
        assert_eq!(parse_cents(&zeros), Ok(Cents(0)));
        let cents = format!("{}5e-{}", "0".repeat(9_999), 2);
        assert_eq!(parse_cents(&cents), Ok(Cents(5)));
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
