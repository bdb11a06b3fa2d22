//! Property test of the ledger on both backends: random sequences of grants, purchases, spends,
//! clawbacks, repeats of earlier entries and bursts of concurrent spends, checked after every
//! step against a model. Invariants: the balance equals the sum of the rows (and the newest
//! row's balance_after); no spend crosses zero; a repeat is a no-op; a refused entry changes
//! nothing.
//!
//! Cases: 500 per backend by default; `PROPTEST_CASES=50000` runs 100x more.

use crate::common;

use std::collections::HashMap;
use std::sync::Arc;

use atlas_credits::model::{Credits, EntryKind, UserId};
use atlas_credits::server::service::ledger::{self, Actor, LedgerEntry, LedgerError};
use atlas_credits::server::store::Store;
use common::{user, Db, TestDb};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

#[derive(Debug, Clone)]
enum Op {
    Purchase(i64),
    Grant(i64),
    Spend(i64),
    Clawback(i64),
    /// Post again the n-th earlier entry (mod the count so far).
    Repeat(usize),
    /// `count` spends of `each` credits at once.
    ConcurrentSpends {
        count: usize,
        each: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (1i64..5_000).prop_map(Op::Purchase),
        1 => (1i64..500).prop_map(Op::Grant),
        4 => (1i64..3_000).prop_map(Op::Spend),
        1 => (1i64..4_000).prop_map(Op::Clawback),
        2 => any::<usize>().prop_map(Op::Repeat),
        1 => (2usize..8, 1i64..1_500).prop_map(|(count, each)| Op::ConcurrentSpends { count, each }),
    ]
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500)
}

/// The model: what the ledger must hold after each step.
struct Model {
    balance: i64,
    /// (kind, source) -> amount of every entry that applied.
    applied: HashMap<(EntryKind, String), i64>,
    posted: Vec<LedgerEntry>,
}

impl Model {
    fn expect(&self, e: &LedgerEntry, source: &str) -> Expect {
        if self.applied.contains_key(&(e.kind(), source.to_string())) {
            Expect::NoOp
        } else if !ledger::may_overdraw(e.kind(), e.amount()) && self.balance + e.amount().get() < 0 {
            Expect::Refused
        } else {
            Expect::Applied
        }
    }
}

#[derive(Debug, PartialEq)]
enum Expect {
    Applied,
    NoOp,
    Refused,
}

fn check(cond: bool, msg: impl Into<String>) -> Result<(), TestCaseError> {
    if cond {
        Ok(())
    } else {
        Err(TestCaseError::fail(msg.into()))
    }
}

async fn invariants(store: &dyn Store, u: UserId, model: &Model) -> Result<(), TestCaseError> {
    let balance = store.user_by_id(u).await.unwrap().unwrap().credits_balance;
    let sum = store.ledger_sum(u).await.unwrap().get();
    check(balance == sum, format!("balance {balance} != sum of rows {sum}"))?;
    check(
        balance == model.balance,
        format!("balance {balance} != model {}", model.balance),
    )?;
    let rows = store.list_transactions(u, None, 10_000).await.unwrap();
    if let Some(newest) = rows.first() {
        check(
            newest.balance_after == balance,
            "newest row's balance_after differs from the balance",
        )?;
    }
    check(
        rows.iter().filter(|r| r.kind == "spend").all(|r| r.balance_after >= 0),
        "a spend crossed zero",
    )?;
    check(
        rows.len() == model.applied.len(),
        format!("{} rows but {} applied entries", rows.len(), model.applied.len()),
    )?;
    Ok(())
}

async fn run_case(store: Arc<dyn Store>, case: u64, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let u = user(store.as_ref(), &format!("prop{case}@example.com")).await.user_id();
    let mut model = Model {
        balance: 0,
        applied: HashMap::new(),
        posted: Vec::new(),
    };
    let mk = |kind, amount: i64, n: usize| {
        LedgerEntry::new(u, kind, Credits(amount), "prop", &format!("{case}-{n}"), Actor::System).unwrap()
    };

    for (step, op) in ops.into_iter().enumerate() {
        let single = match op {
            Op::Purchase(n) => Some(mk(EntryKind::Purchase, n, step)),
            Op::Grant(n) => Some(mk(EntryKind::ManualGrant, n, step)),
            Op::Spend(n) => Some(mk(EntryKind::Spend, -n, step)),
            Op::Clawback(n) => Some(mk(EntryKind::RefundClawback, -n, step)),
            Op::Repeat(i) if !model.posted.is_empty() => Some(model.posted[i % model.posted.len()].clone()),
            Op::Repeat(_) => None,
            Op::ConcurrentSpends { count, each } => {
                let can = if model.balance < 0 {
                    0
                } else {
                    (model.balance / each).min(count as i64)
                };
                let tasks: Vec<_> = (0..count)
                    .map(|k| {
                        let store = store.clone();
                        let e = mk(EntryKind::Spend, -each, step * 100 + k + 10_000);
                        tokio::spawn(async move { (ledger::post(store.as_ref(), &e).await, e) })
                    })
                    .collect();
                let mut ok = 0;
                for t in tasks {
                    let (res, e) = t.await.unwrap();
                    match res {
                        Ok(p) => {
                            check(p.applied, "a fresh concurrent spend did not apply")?;
                            ok += 1;
                            model.balance -= each;
                            model
                                .applied
                                .insert((EntryKind::Spend, p.transaction.source_id.clone()), -each);
                            model.posted.push(e);
                        }
                        Err(LedgerError::InsufficientCredits { .. }) => model.posted.push(e),
                        Err(other) => return Err(TestCaseError::fail(format!("unexpected {other:?}"))),
                    }
                }
                check(
                    ok == can,
                    format!("{ok} of {count} concurrent spends applied, expected {can}"),
                )?;
                None
            }
        };
        if let Some(e) = single {
            let source = e.source_id().to_string();
            let expected = model.expect(&e, &source);
            let got = ledger::post(store.as_ref(), &e).await;
            match (&expected, &got) {
                (Expect::Applied, Ok(p)) if p.applied => {
                    model.balance += e.amount().get();
                    model.applied.insert((e.kind(), source), e.amount().get());
                    check(
                        p.balance_after().get() == model.balance,
                        "balance_after differs from the model",
                    )?;
                }
                (Expect::NoOp, Ok(p)) if !p.applied => {}
                (Expect::Refused, Err(LedgerError::InsufficientCredits { balance })) => {
                    check(balance.get() == model.balance, "refusal reported a wrong balance")?;
                }
                _ => {
                    return Err(TestCaseError::fail(format!(
                        "step {step} {op:?}: expected {expected:?}, got {got:?}"
                    )))
                }
            }
            model.posted.push(e);
        }
        invariants(store.as_ref(), u, &model).await?;
    }
    Ok(())
}

fn run(db: Db) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let Some(test_db) = rt.block_on(TestDb::with_pool_size(db, 8)) else {
        return;
    };
    let store = test_db.store.clone();
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let counter = std::sync::atomic::AtomicU64::new(0);
    let result = runner.run(&proptest::collection::vec(op(), 1..14), |ops| {
        let case = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        rt.block_on(run_case(store.clone(), case, ops))
    });
    let cases_run = counter.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("ledger properties on {db:?}: {cases_run} cases run");
    drop(test_db);
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn ledger_properties_sqlite() {
    run(Db::Sqlite);
}

#[test]
fn ledger_properties_postgres() {
    run(Db::Postgres);
}
