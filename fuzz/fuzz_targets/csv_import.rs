//! The legacy import's reader and validation, before anything is written: arbitrary bytes as the
//! users file and as the orders file. Read or refused naming a line of the file; never a panic.
#![no_main]

use atlas_credits::server::service::import::{self, csv, Input};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let lines = 1 + data.iter().filter(|b| **b == b'\n').count() as u64;
    match csv::parse(data, csv::Limits::default()) {
        Ok(records) => assert!(records.iter().all(|r| r.line >= 1 && r.line <= lines)),
        Err(e) => assert!(e.line >= 1 && e.line <= lines),
    }
    let input = Input {
        name: "fuzz.csv".into(),
        bytes: data.to_vec(),
    };
    let now = chrono::Utc::now();
    for (users, orders) in [(Some(&input), None), (None, Some(&input))] {
        if let Err(import::ImportError::Row { line, .. }) = import::validate(users, orders, now) {
            assert!(line >= 1 && line <= lines);
        }
    }
});
