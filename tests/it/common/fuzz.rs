//! Shared by the fuzz suites (`fuzz_*.rs`): how many cases to run, and hostile values to build
//! inputs from. CI runs each suite's default; `FUZZ_CASES=1000000` runs that many cases in every
//! suite that calls the code directly (and a hundredth of it in those that go over HTTP) for the
//! long run documented in BENCHMARKS.md.
#![allow(dead_code)]

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

/// `FUZZ_CASES` if set, else the suite's CI default.
pub fn cases(ci_default: u32) -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(ci_default)
}

/// Cases for a suite that goes over HTTP: a hundredth of `FUZZ_CASES`, else its CI default.
pub fn http_cases(ci_default: u32) -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .map(|n| (n / 100).max(ci_default))
        .unwrap_or(ci_default)
}

/// A runner for `cases` cases that writes no regression files (the suites print the failing
/// input instead) and does not stop on many rejected cases.
pub fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_global_rejects: u32::MAX,
        ..Config::default()
    })
}

/// `n` values of the strategy `make` builds (no shrinking: for suites whose check is async).
/// Made on a thread with a large stack: generating the rare deeply recursive value overflowed the
/// 2 MiB of a test thread already inside an async test (seen about once in 10 runs of 2,000).
pub fn sample<S, F>(make: F, n: u32) -> Vec<S::Value>
where
    S: Strategy,
    S::Value: Send + 'static,
    F: FnOnce() -> S + Send + 'static,
{
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || {
            let strategy = make();
            let mut runner = runner(n);
            (0..n)
                .map(|_| strategy.new_tree(&mut runner).expect("a value").current())
                .collect()
        })
        .expect("a sampling thread")
        .join()
        .expect("sampling did not panic")
}

/// Text an attacker would send: control characters, quotes, escapes, long runs, non-ASCII.
pub fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        "[\\x00-\\x1f\\x7f\"\\\\,;'<>]{0,20}",
        "[a-z0-9_.:@-]{1,64}",
        (1usize..5000).prop_map(|n| "a".repeat(n)),
        Just(String::new()),
        Just(" padded ".to_string()),
        Just("\u{202e}\u{200b}\u{feff}".to_string()),
    ]
}

/// Number text at and past every edge: i64 limits, beyond them, exponents, fractions, signs.
pub fn hostile_number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        Just(i64::MAX.to_string()),
        Just(i64::MIN.to_string()),
        Just("9223372036854775808".to_string()),
        Just("-9223372036854775809".to_string()),
        Just("1e400".to_string()),
        Just("-1e400".to_string()),
        Just("1e-400".to_string()),
        Just("0.1".to_string()),
        Just("-0".to_string()),
        Just("1.0".to_string()),
        Just("1E2".to_string()),
        "[0-9]{19,60}",
        (any::<i64>(), 0u32..10).prop_map(|(n, d)| format!("{n}.{}", "5".repeat(d as usize + 1))),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| f.to_string()),
    ]
}

/// Any JSON value (as text), nested a few levels, with hostile strings and numbers.
pub fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        hostile_number(),
        hostile_text().prop_map(|s| serde_json::to_string(&s).unwrap()),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((hostile_text(), inner), 0..6).prop_map(|kv| {
                let fields: Vec<String> = kv
                    .into_iter()
                    .map(|(k, v)| format!("{}:{v}", serde_json::to_string(&k).unwrap()))
                    .collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    })
}

/// Nesting far past any parser's recursion limit: `[[[[...` (closed or not).
pub fn deep_nesting() -> impl Strategy<Value = String> {
    (100usize..100_000, any::<bool>(), prop::sample::select(vec!['[', '{'])).prop_map(|(depth, closed, open)| {
        let mut s = String::with_capacity(depth * 2);
        for _ in 0..depth {
            s.push(open);
            if open == '{' {
                s.push_str("\"a\":");
            }
        }
        s.push('1');
        if closed {
            for _ in 0..depth {
                s.push(if open == '[' { ']' } else { '}' });
            }
        }
        s
    })
}

/// One change to some bytes: flip a bit, drop, insert, truncate, duplicate a slice.
pub fn mutate(bytes: &mut Vec<u8>, how: u8, at: prop::sample::Index, byte: u8) {
    if bytes.is_empty() {
        bytes.push(byte);
        return;
    }
    let i = at.index(bytes.len());
    match how % 5 {
        0 => bytes[i] ^= 1 << (byte % 8),
        1 => {
            bytes.remove(i);
        }
        2 => bytes.insert(i, byte),
        3 => bytes.truncate(i),
        _ => {
            let tail = bytes[i..].to_vec();
            bytes.extend_from_slice(&tail[..tail.len().min(64)]);
        }
    }
}
