//! Fuzzing the legacy CSV import's parsing (no database: `import::validate` is what runs before
//! anything is written): any fields written the RFC 4180 way read back exactly, with the line each
//! record starts on; arbitrary and mutated bytes are read or refused with a line, never a panic;
//! and mutated users and orders files are validated or refused naming a line of the file.

use crate::common;

use atlas_credits::server::service::import::{self, csv, Input, ORDER_COLUMNS, USER_COLUMNS};
use chrono::Utc;
use common::fuzz::{self, hostile_number, hostile_text};
use proptest::prelude::*;

/// Writes records the RFC 4180 way: every field quoted, quotes doubled.
fn write_csv(records: &[Vec<String>], crlf: bool) -> String {
    let end = if crlf { "\r\n" } else { "\n" };
    records
        .iter()
        .map(|r| {
            r.iter()
                .map(|f| format!("\"{}\"", f.replace('"', "\"\"")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect::<Vec<_>>()
        .join(end)
}

#[test]
fn any_fields_written_as_csv_read_back_exactly() {
    // Any characters at all inside quotes: commas, quotes, line breaks, control characters.
    let field = prop_oneof![".{0,12}", "[,\"\r\n a]{0,8}", hostile_text()];
    let records = prop::collection::vec(prop::collection::vec(field, 1..8), 1..12);
    fuzz::runner(fuzz::cases(1500))
        .run(&(records, any::<bool>()), |(records, crlf)| {
            // Keep within the reader's limits (checked below) so every record is read.
            prop_assume!(records
                .iter()
                .all(|r| r.iter().map(|f| f.chars().count() + 2).sum::<usize>() < 16_000));
            // A record of one empty field reads as a blank line, which the reader skips (and no
            // import file has one-column rows).
            prop_assume!(records.iter().all(|r| r.len() > 1 || !r[0].is_empty()));
            let text = write_csv(&records, crlf);
            let read =
                csv::parse(text.as_bytes(), csv::Limits::default()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let fields: Vec<Vec<String>> = read.iter().map(|r| r.fields.clone()).collect();
            prop_assert_eq!(&fields, &records);
            // Each record starts on the line after the previous one's last.
            let mut line = 1u64;
            for (r, written) in read.iter().zip(&records) {
                prop_assert_eq!(r.line, line);
                line += 1 + written.iter().map(|f| f.matches('\n').count() as u64).sum::<u64>();
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn any_bytes_are_read_or_refused_with_a_line() {
    let valid = "email,external_id,name,balance\r\nann@example.com,a-1,\"Ann, \"\"A\"\"\",100\r\n\
                 bob@example.com,,Bob,0\n";
    let mutated = prop::collection::vec((any::<u8>(), any::<prop::sample::Index>(), any::<u8>()), 1..10).prop_map(
        move |changes| {
            let mut b = valid.as_bytes().to_vec();
            for (how, at, byte) in changes {
                fuzz::mutate(&mut b, how, at, byte);
            }
            b
        },
    );
    let bytes = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        prop::collection::vec(prop::sample::select(b",\"\r\n\xef\xbb\xbfa ".to_vec()), 0..256),
        mutated,
    ];
    let limits = csv::Limits {
        max_file_bytes: 4096,
        max_record_chars: 64,
        max_fields: 6,
    };
    fuzz::runner(fuzz::cases(7000))
        .run(&bytes, |b| {
            let lines = 1 + b.iter().filter(|c| **c == b'\n').count() as u64;
            match csv::parse(&b, limits) {
                Ok(records) => {
                    for r in &records {
                        prop_assert!(r.line >= 1 && r.line <= lines);
                        prop_assert!(r.fields.len() <= limits.max_fields);
                    }
                }
                Err(e) => prop_assert!(e.line >= 1 && e.line <= lines, "{e} ({lines} lines)"),
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn mutated_import_files_are_validated_or_refused_by_line() {
    let user_row = (hostile_text(), hostile_text(), hostile_text(), hostile_number());
    let users = prop::collection::vec(user_row, 0..6).prop_map(|rows| {
        let mut all = vec![USER_COLUMNS.iter().map(|c| c.to_string()).collect::<Vec<_>>()];
        all.extend(rows.into_iter().map(|(a, b, c, d)| vec![a, b, c, d]));
        write_csv(&all, true)
    });
    let order_row = prop::collection::vec(
        prop_oneof![
            hostile_text(),
            hostile_number(),
            prop::sample::select(vec![
                "usd",
                "whop",
                "manual",
                "paid",
                "pending",
                "approved",
                "2024-05-01",
                "ann@example.com",
                "Starter",
            ])
            .prop_map(str::to_string),
        ],
        12,
    );
    let orders = prop::collection::vec(order_row, 0..6).prop_map(|rows| {
        let mut all = vec![ORDER_COLUMNS.iter().map(|c| c.to_string()).collect::<Vec<_>>()];
        all.extend(rows);
        write_csv(&all, false)
    });
    let files = (
        users,
        orders,
        prop::collection::vec((any::<u8>(), any::<prop::sample::Index>(), any::<u8>()), 0..4),
    );
    fuzz::runner(fuzz::cases(1500))
        .run(&files, |(users, orders, changes)| {
            let mut orders = orders.into_bytes();
            for (how, at, byte) in changes {
                fuzz::mutate(&mut orders, how, at, byte);
            }
            let lines = |b: &[u8]| 1 + b.iter().filter(|c| **c == b'\n').count() as u64;
            let (user_lines, order_lines) = (lines(users.as_bytes()), lines(&orders));
            let users = Input {
                name: "users.csv".into(),
                bytes: users.into_bytes(),
            };
            let orders = Input {
                name: "orders.csv".into(),
                bytes: orders,
            };
            match import::validate(Some(&users), Some(&orders), Utc::now()) {
                Ok((u, o)) => {
                    prop_assert!(u.len() as u64 <= user_lines && o.len() as u64 <= order_lines);
                    // What passed holds no amount past the limit.
                    prop_assert!(u.iter().all(|u| (0..=import::MAX_AMOUNT).contains(&u.balance)));
                }
                Err(import::ImportError::Row { file, line, .. }) => {
                    let max = if file == "users.csv" { user_lines } else { order_lines };
                    prop_assert!(line >= 1 && line <= max, "{file} line {line} of {max}");
                }
                Err(e) => {
                    let message = e.to_string();
                    prop_assert!(
                        message.contains("users.csv") || message.contains("orders.csv"),
                        "{message}"
                    );
                }
            }
            Ok(())
        })
        .unwrap();
}
