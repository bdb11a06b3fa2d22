//! `atlas-credits import`: loads Atlas's legacy users (with their balances) and credit orders.
//! Both files are read and every row validated first; then everything is written in ONE
//! transaction (`ImportQueries::import_legacy`), so a bad row stops the import with its file and
//! line and nothing is half-imported. Keys make a second run write nothing: users by external id
//! (else email), balances as one `migration` ledger row with source ('legacy_user', external id
//! or email), orders by `client_key = 'import:<legacy_id>'`. Imported paid orders post no ledger
//! row: the imported balance already holds what they bought.
//!
//! users.csv columns: `email,external_id,name,balance` (balance in whole credits, >= 0).
//! orders.csv columns: `legacy_id,user_external_id,user_email,plan_name,credits,price_cents,
//! currency,method,payment_status,review_status,created_at,notes` (price in cents).

pub mod csv;

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};

use crate::server::service::auth::parse_email;
use crate::server::service::host_users::{check_external_id, MAX_NAME_CHARS};
use crate::server::service::text::refuse_control_chars;
use crate::server::store::{ImportCounts, LegacyOrder, LegacyUser, Store, StoreError};

pub const USER_COLUMNS: [&str; 4] = ["email", "external_id", "name", "balance"];
pub const ORDER_COLUMNS: [&str; 12] = [
    "legacy_id",
    "user_external_id",
    "user_email",
    "plan_name",
    "credits",
    "price_cents",
    "currency",
    "method",
    "payment_status",
    "review_status",
    "created_at",
    "notes",
];
/// Most credits (a balance, an order) and cents one row may carry: far above any real value,
/// far below the integer limit, so sums cannot overflow.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;
const MAX_PLAN_NAME_CHARS: usize = 100;
const MAX_NOTES_CHARS: usize = 2000;
const MAX_LEGACY_ID_CHARS: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A row (or the file) is wrong; nothing was written.
    #[error("{file}, line {line}: {message}")]
    Row { file: String, line: u64, message: String },
    #[error("{file}: {message}")]
    File { file: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A file to import: its name (for messages) and content.
pub struct Input {
    pub name: String,
    pub bytes: Vec<u8>,
}

fn row_err(file: &str, line: u64, message: impl Into<String>) -> ImportError {
    ImportError::Row {
        file: file.to_owned(),
        line,
        message: message.into(),
    }
}

/// Reads the records of a file, checking the header row.
fn records(input: &Input, columns: &[&str]) -> Result<Vec<csv::Record>, ImportError> {
    let mut records = csv::parse(&input.bytes, csv::Limits::default())
        .map_err(|e| row_err(&input.name, e.line, e.message))?
        .into_iter();
    let Some(header) = records.next() else {
        return Err(ImportError::File {
            file: input.name.clone(),
            message: format!("is empty; the first line must be the header {}", columns.join(",")),
        });
    };
    let found: Vec<String> = header.fields.iter().map(|f| f.trim().to_ascii_lowercase()).collect();
    if found != columns {
        return Err(row_err(
            &input.name,
            header.line,
            format!("the header must be exactly {}", columns.join(",")),
        ));
    }
    let rows: Vec<csv::Record> = records.collect();
    for r in &rows {
        if r.fields.len() != columns.len() {
            return Err(row_err(
                &input.name,
                r.line,
                format!("{} fields, expected {}", r.fields.len(), columns.len()),
            ));
        }
    }
    Ok(rows)
}

/// Free text: trimmed, no control characters (except line breaks where `multiline`), at most
/// `max` characters; empty is None.
fn text(field: &str, value: &str, max: usize, multiline: bool) -> Result<Option<String>, String> {
    let v = value.trim();
    let checked: String = if multiline {
        v.replace("\r\n", "\n").replace('\n', " ")
    } else {
        v.to_owned()
    };
    refuse_control_chars(field, &checked)?;
    if v.chars().count() > max {
        return Err(format!("{field} may have at most {max} characters"));
    }
    Ok((!v.is_empty()).then(|| v.to_owned()))
}

/// A whole number from `min` to `MAX_AMOUNT`, digits only.
fn amount(field: &str, value: &str, min: i64) -> Result<i64, String> {
    let v = value.trim();
    let n = (!v.is_empty() && v.len() <= 13 && v.bytes().all(|b| b.is_ascii_digit()))
        .then(|| v.parse::<i64>().ok())
        .flatten()
        .filter(|n| (min..=MAX_AMOUNT).contains(n));
    n.ok_or_else(|| format!("{field} must be a whole number from {min} to {MAX_AMOUNT} (got {v:?})"))
}

fn one_of(field: &str, value: &str, allowed: &[&str]) -> Result<String, String> {
    let v = value.trim().to_ascii_lowercase();
    if allowed.contains(&v.as_str()) {
        Ok(v)
    } else {
        Err(format!("{field} must be one of {}", allowed.join(", ")))
    }
}

/// RFC 3339 (`2024-05-01T12:00:00Z`) or a day (`2024-05-01`, midnight UTC); not in the future.
fn timestamp(value: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let v = value.trim();
    let t = DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d").map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
        })
        .map_err(|_| format!("created_at must be a date (YYYY-MM-DD) or an RFC 3339 time (got {v:?})"))?;
    if t > now {
        return Err("created_at is in the future".into());
    }
    Ok(t)
}

fn parse_user(file: &str, r: &csv::Record) -> Result<LegacyUser, String> {
    let f = &r.fields;
    let email = parse_email(&f[0]).map_err(|_| format!("email is not a valid email address ({:?})", f[0].trim()))?;
    let external_id = match f[1].trim() {
        "" => None,
        x => {
            check_external_id(x).map_err(|e| e.to_string())?;
            Some(x.to_owned())
        }
    };
    Ok(LegacyUser {
        file: file.to_owned(),
        line: r.line,
        email,
        external_id,
        name: text("name", &f[2], MAX_NAME_CHARS, false)?,
        balance: amount("balance", &f[3], 0)?,
    })
}

fn parse_order(file: &str, r: &csv::Record, now: DateTime<Utc>) -> Result<LegacyOrder, String> {
    let f = &r.fields;
    let legacy_id = f[0].trim();
    if legacy_id.is_empty()
        || legacy_id.chars().count() > MAX_LEGACY_ID_CHARS
        || !legacy_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(format!(
            "legacy_id must be 1 to {MAX_LEGACY_ID_CHARS} characters of letters, digits and - _ ."
        ));
    }
    let user_external_id = match f[1].trim() {
        "" => None,
        x => {
            check_external_id(x).map_err(|e| format!("user_{e}"))?;
            Some(x.to_owned())
        }
    };
    let user_email = match f[2].trim() {
        "" => None,
        e => Some(parse_email(e).map_err(|_| format!("user_email is not a valid email address ({e:?})"))?),
    };
    if user_external_id.is_none() && user_email.is_none() {
        return Err("user_external_id or user_email is required".into());
    }
    let plan_name = text("plan_name", &f[3], MAX_PLAN_NAME_CHARS, false)?.ok_or("plan_name is required")?;
    let currency = f[6].trim().to_ascii_lowercase();
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err("currency must be a three-letter code such as usd".into());
    }
    let method = one_of("method", &f[7], &["manual", "whop"])?;
    let payment_status = one_of(
        "payment_status",
        &f[8],
        &[
            "pending",
            "paid",
            "failed",
            "refunded",
            "partially_refunded",
            "disputed",
        ],
    )?;
    let review_status = one_of(
        "review_status",
        &f[9],
        &["pending", "approved", "rejected", "cancelled"],
    )?;
    if method == "whop" && payment_status == "pending" {
        // Its checkout died with the old system: nothing would ever settle it.
        return Err("a pending Whop order cannot be imported; import it as failed, or leave it out".into());
    }
    Ok(LegacyOrder {
        file: file.to_owned(),
        line: r.line,
        legacy_id: legacy_id.to_owned(),
        user_external_id,
        user_email,
        plan_name,
        credits: amount("credits", &f[4], 1)?,
        price_cents: amount("price_cents", &f[5], 0)?,
        currency,
        method,
        payment_status,
        review_status,
        created_at: timestamp(&f[10], now)?,
        notes: text("notes", &f[11], MAX_NOTES_CHARS, true)?,
    })
}

/// Every row of both files, validated; the first problem stops with its file and line.
pub fn validate(
    users: Option<&Input>,
    orders: Option<&Input>,
    now: DateTime<Utc>,
) -> Result<(Vec<LegacyUser>, Vec<LegacyOrder>), ImportError> {
    let mut legacy_users = Vec::new();
    if let Some(input) = users {
        let mut seen: HashMap<String, u64> = HashMap::new();
        for r in records(input, &USER_COLUMNS)? {
            let u = parse_user(&input.name, &r).map_err(|m| row_err(&input.name, r.line, m))?;
            let mut keys = vec![format!("email:{}", u.email.to_lowercase())];
            keys.extend(u.external_id.as_ref().map(|x| format!("external_id:{x}")));
            for key in keys {
                if let Some(first) = seen.insert(key.clone(), r.line) {
                    let what = key.split(':').next().unwrap_or("key");
                    return Err(row_err(&input.name, r.line, format!("the same {what} as line {first}")));
                }
            }
            legacy_users.push(u);
        }
    }
    let mut legacy_orders = Vec::new();
    if let Some(input) = orders {
        let mut seen: HashMap<String, u64> = HashMap::new();
        for r in records(input, &ORDER_COLUMNS)? {
            let o = parse_order(&input.name, &r, now).map_err(|m| row_err(&input.name, r.line, m))?;
            if let Some(first) = seen.insert(o.legacy_id.clone(), r.line) {
                return Err(row_err(
                    &input.name,
                    r.line,
                    format!("the same legacy_id as line {first}"),
                ));
            }
            legacy_orders.push(o);
        }
    }
    Ok((legacy_users, legacy_orders))
}

/// Validates both files, then writes them in one transaction.
pub async fn run(
    store: &dyn Store,
    users: Option<&Input>,
    orders: Option<&Input>,
) -> Result<ImportCounts, ImportError> {
    let now = Utc::now();
    let (users, orders) = validate(users, orders, now)?;
    match store.import_legacy(&users, &orders, now).await? {
        Ok(counts) => Ok(counts),
        Err(refusal) => Err(row_err(&refusal.file, refusal.line, refusal.reason)),
    }
}

/// What a run did, one line per kind, and whether it changed anything.
pub fn summary(c: &ImportCounts) -> String {
    let changed = c.users_created + c.balances_posted + c.orders_created > 0;
    format!(
        "users: {} created, {} already present\nbalances: {} posted, {} already posted\norders: {} created, {} already present\n{}",
        c.users_created,
        c.users_present,
        c.balances_posted,
        c.balances_present,
        c.orders_created,
        c.orders_present,
        if changed { "import complete" } else { "nothing to do: everything was imported before" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, text: &str) -> Input {
        Input {
            name: name.into(),
            bytes: text.as_bytes().to_vec(),
        }
    }

    const USERS: &str = "email,external_id,name,balance\n";
    const ORDERS: &str = "legacy_id,user_external_id,user_email,plan_name,credits,price_cents,currency,method,payment_status,review_status,created_at,notes\n";

    fn line_of(e: ImportError) -> (String, u64, String) {
        match e {
            ImportError::Row { file, line, message } => (file, line, message),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn valid_rows() {
        let now = Utc::now();
        let u = input(
            "users.csv",
            &format!("{USERS}ann@example.com,u1,\"Ann, B\",1500\nbob@example.com,,,0\n"),
        );
        let o = input(
            "orders.csv",
            &format!("{ORDERS}17,u1,,Starter,5000,750,USD,whop,paid,approved,2024-05-01,\"from \"\"old\"\" shop\"\n"),
        );
        let (users, orders) = validate(Some(&u), Some(&o), now).unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users[0].name.as_deref(), Some("Ann, B"));
        assert_eq!(users[1].external_id, None);
        assert_eq!(orders[0].currency, "usd");
        assert_eq!(orders[0].notes.as_deref(), Some("from \"old\" shop"));
        assert_eq!(orders[0].price_cents, 750);
    }

    #[test]
    fn bad_rows_name_their_line() {
        let now = Utc::now();
        let cases: Vec<(String, u64, &str)> = vec![
            (format!("{USERS}a@example.com,,,1\nnot-an-email,,,1\n"), 3, "email"),
            (format!("{USERS}a@example.com,,,-5\n"), 2, "balance"),
            (format!("{USERS}a@example.com,,,1.5\n"), 2, "balance"),
            (format!("{USERS}a@example.com,,,99999999999999999999\n"), 2, "balance"),
            (format!("{USERS}a@example.com,,Ann\u{0},1\n"), 2, "control"),
            (format!("{USERS}a@example.com,x y,,1\n"), 2, "external_id"),
            (format!("{USERS}a@example.com,,,1\nA@example.com,,,2\n"), 3, "line 2"),
            (format!("{USERS}a@example.com,,1\n"), 2, "3 fields"),
        ];
        for (text, line, needle) in cases {
            let (file, l, m) = line_of(validate(Some(&input("users.csv", &text)), None, now).unwrap_err());
            assert_eq!((file.as_str(), l), ("users.csv", line), "{text:?}: {m}");
            assert!(m.contains(needle), "{text:?}: {m}");
        }
        let orders = [
            (
                "1,,,Starter,5000,750,usd,whop,paid,approved,2024-05-01,",
                "user_external_id or user_email",
            ),
            ("1,u1,,Starter,0,750,usd,manual,pending,pending,2024-05-01,", "credits"),
            (
                "1,u1,,Starter,5,750,dollars,manual,pending,pending,2024-05-01,",
                "currency",
            ),
            ("1,u1,,Starter,5,750,usd,paypal,pending,pending,2024-05-01,", "method"),
            (
                "1,u1,,Starter,5,750,usd,whop,pending,pending,2024-05-01,",
                "pending Whop order",
            ),
            ("1,u1,,Starter,5,750,usd,manual,pending,pending,3024-05-01,", "future"),
            (
                "1,u1,,Starter,5,750,usd,manual,pending,pending,yesterday,",
                "created_at",
            ),
            (
                "../1,u1,,Starter,5,750,usd,manual,pending,pending,2024-05-01,",
                "legacy_id",
            ),
        ];
        for (row, needle) in orders {
            let text = format!("{ORDERS}{row}\n");
            let (_, l, m) = line_of(validate(None, Some(&input("orders.csv", &text)), now).unwrap_err());
            assert_eq!(l, 2, "{row}: {m}");
            assert!(m.contains(needle), "{row}: {m}");
        }
    }

    #[test]
    fn the_header_is_required() {
        let e = validate(Some(&input("users.csv", "a@example.com,,,1\n")), None, Utc::now()).unwrap_err();
        assert_eq!(line_of(e).1, 1);
        assert!(validate(Some(&input("users.csv", "")), None, Utc::now()).is_err());
    }
}
