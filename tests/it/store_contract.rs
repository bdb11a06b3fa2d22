//! The store contract: every test runs against SQLite and against PostgreSQL, each on a fresh
//! database. What passes here holds for whichever backend `DATABASE_URL` picks.

use crate::common;

use std::sync::Arc;

use atlas_credits::model::{Credits, EntryKind, UserId};
use atlas_credits::server::service::ledger::{self, Actor, LedgerEntry, LedgerError};
use atlas_credits::server::store::{NewUser, Store, StoreError};
use common::{user, Db, TestDb};

both_backends!(
    migrations_seed_the_plans,
    users_have_unique_case_insensitive_emails,
    post_applies_once_and_tracks_balance_after,
    spend_cannot_cross_zero_and_changes_nothing,
    clawbacks_apply_in_full_and_debt_blocks_spending,
    same_source_different_amount_is_a_conflict,
    unknown_user_is_refused,
    ledger_rows_are_immutable,
    transactions_page_newest_first_by_keyset,
    concurrent_spends_never_overdraw,
    concurrent_duplicate_posts_apply_once,
    concurrent_mixed_writers_keep_balance_equal_to_sum,
    balance_overflow_is_an_invalid_entry,
    concurrent_writes_of_every_kind_all_succeed,
    rate_limit_windows_that_ended_are_pruned,
    one_users_sessions_are_deleted_together,
);

async fn rate_limit_windows_that_ended_are_pruned(db: Db) {
    let Some(t) = TestDb::new(db).await else {
        return;
    };
    let s = t.store.as_ref();
    let now = 1_000_000;
    assert_eq!(s.rate_limit_hit("old", now - 7200, 300).await.unwrap(), 1);
    assert_eq!(s.rate_limit_hit("edge", now - 3600, 3600).await.unwrap(), 1);
    assert_eq!(s.rate_limit_hit("live", now - 60, 300).await.unwrap(), 1);
    assert_eq!(s.rate_limit_hit("live", now, 300).await.unwrap(), 2);

    assert_eq!(
        s.prune_rate_limits(now - 3600).await.unwrap(),
        1,
        "only the window begun before"
    );
    assert_eq!(s.prune_rate_limits(now - 3600).await.unwrap(), 0);
    // A pruned bucket starts over; a kept one keeps counting.
    assert_eq!(s.rate_limit_hit("old", now, 300).await.unwrap(), 1);
    assert_eq!(s.rate_limit_hit("live", now, 300).await.unwrap(), 3);
    // The housekeeping helper keeps every window that may still be running (the longest is 1 h).
    let pruned = atlas_credits::server::service::rate_limit::prune_ended(s, now + 1)
        .await
        .unwrap();
    assert_eq!(pruned, 1, "the `edge` window, begun an hour and a second before");
    assert_eq!(s.prune_rate_limits(i64::MAX).await.unwrap(), 2);
}

async fn one_users_sessions_are_deleted_together(db: Db) {
    let Some(t) = TestDb::new(db).await else {
        return;
    };
    let s = t.store.as_ref();
    let (a, b) = (user(s, "a@example.com").await, user(s, "b@example.com").await);
    let later = chrono::Utc::now() + chrono::Duration::days(1);
    for token in ["a1", "a2"] {
        s.create_session(token, a.user_id(), later, None).await.unwrap();
    }
    s.create_session("b1", b.user_id(), later, None).await.unwrap();

    assert_eq!(s.delete_user_sessions(a.user_id()).await.unwrap(), 2);
    assert_eq!(s.delete_user_sessions(a.user_id()).await.unwrap(), 0);
    let now = chrono::Utc::now();
    assert!(s.session_user("a1", now).await.unwrap().is_none());
    assert!(s.session_user("a2", now).await.unwrap().is_none());
    assert_eq!(
        s.session_user("b1", now).await.unwrap().unwrap().id,
        b.id,
        "others stay"
    );
}

fn entry(u: UserId, kind: EntryKind, amount: i64, source: &str) -> LedgerEntry {
    LedgerEntry::new(u, kind, Credits(amount), "test", source, Actor::System).unwrap()
}

async fn assert_consistent(store: &dyn Store, u: UserId) -> Credits {
    let balance = store.user_by_id(u).await.unwrap().unwrap().balance();
    let sum = store.ledger_sum(u).await.unwrap();
    assert_eq!(balance, sum, "balance must equal the sum of the ledger rows");
    let last = store.list_transactions(u, None, 1).await.unwrap();
    if let Some(row) = last.first() {
        assert_eq!(
            row.balance_after(),
            balance,
            "the newest row's balance_after is the balance"
        );
    }
    balance
}

async fn migrations_seed_the_plans(db: Db) {
    let Some(t) = TestDb::new(db).await else {
        return;
    };
    let plans = t.store.list_plans(false).await.unwrap();
    let summary: Vec<_> = plans
        .iter()
        .map(|p| (p.plan_name.as_str(), p.credits_amount, p.price_cents))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("Starter", 5000, Some(750)),
            ("Pro", 25000, Some(3250)),
            ("Enterprise", 100000, None)
        ]
    );
    assert!(plans
        .iter()
        .all(|p| p.active && p.whop_plan_id.is_none() && p.currency == "usd"));
    let folder = if db == Db::Sqlite {
        "migrations/sqlite"
    } else {
        "migrations/postgres"
    };
    let newest = std::fs::read_dir(folder)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.split('_').next()?.parse::<i64>().ok())
        .max()
        .unwrap();
    assert_eq!(
        t.store.schema_version().await.unwrap(),
        newest,
        "every migration applied"
    );
    // Running the migrations again is a no-op.
    t.store.migrate().await.unwrap();
    assert_eq!(t.store.list_plans(true).await.unwrap().len(), 3);
}

async fn users_have_unique_case_insensitive_emails(db: Db) {
    let Some(t) = TestDb::new(db).await else {
        return;
    };
    let a = user(t.store.as_ref(), "Ann@Example.com").await;
    assert_eq!(a.balance(), Credits(0));
    assert_eq!(a.role, "user");
    let dup = t
        .store
        .create_user(&NewUser {
            email: "ann@example.COM".into(),
            password_hash: None,
            role: "user".into(),
            external_id: None,
            name: None,
        })
        .await;
    assert!(
        matches!(dup, Err(StoreError::Conflict(ref what)) if what == "email"),
        "{dup:?}"
    );

    let with_ext = NewUser {
        email: "b@example.com".into(),
        password_hash: None,
        role: "user".into(),
        external_id: Some("ext-1".into()),
        name: None,
    };
    t.store.create_user(&with_ext).await.unwrap();
    let dup_ext = t
        .store
        .create_user(&NewUser {
            email: "c@example.com".into(),
            ..with_ext
        })
        .await;
    assert!(
        matches!(dup_ext, Err(StoreError::Conflict(ref what)) if what == "external_id"),
        "{dup_ext:?}"
    );
}

async fn post_applies_once_and_tracks_balance_after(db: Db) {
    let Some(t) = TestDb::new(db).await else {
        return;
    };
    let s = t.store.as_ref();
    let u = user(s, "a@example.com").await.user_id();

    let first = ledger::post(s, &entry(u, EntryKind::Purchase, 5000, "pay_1"))
        .await
        .unwrap();
    assert!(first.applied);
    assert_eq!(first.balance_after(), Credits(5000));
    let again = ledger::post(s, &entry(u, EntryKind::Purchase, 5000, "pay_1"))
        .await
        .unwrap();
    assert!(!again.applied, "a duplicate is a no-op");
    assert_eq!(again.transaction, first.transaction, "and reports the first result");

    // Same source id under another kind is a different entry (a refund of that payment).
    let clawback = ledger::post(s, &entry(u, EntryKind::RefundClawback, -1000, "pay_1"))
        .await
        .unwrap();
    assert!(clawback.applied);
    assert_eq!(clawback.balance_after(), Credits(4000));
    assert_eq!(assert_consistent(s, u).await, Credits(4000));
    assert_eq!(s.list_transactions(u, None, 10).await.unwrap().len(), 2);
}

async fn spend_cannot_cross_zero_and_changes_nothing(db: Db) {
    let Some(t) = TestDb::new(db).await else {
        return;
    };
    let s = t.store.as_ref();
    let u = user(s, "a@example.com").await.user_id();
    ledger::post(s, &entry(u, EntryKind::ManualGrant, 10, "grant"))
        .await
        .unwrap();

    let err = ledger::post(s, &entry(u, EntryKind::Spend, -11, "spend-1"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, LedgerError::InsufficientCredits { balance: Credits(10) }),
        "{err:?}"
    );
    assert_eq!(assert_consistent(s, u).await, Credits(10));
    assert_eq!(
        s.list_transactions(u, None, 10).await.unwrap().len(),
        1,
        "a refused spend writes no row"
    );

    // The refused key is not burnt: the same key may succeed once there is enough.
    let ok = ledger::post(s, &entry(u, EntryKind::Spend, -10, "spend-1")).await;
    assert!(ok.is_ok(), "{ok:?}");
    assert_eq!(assert_consistent(s, u).await, Credits(0));

    // Downward admin adjustments obey the same rule.
    let err = ledger::post(s, &entry(u, EntryKind::AdminAdjustment, -1, "adj-1"))
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::InsufficientCredits { .. }));
}

async fn clawbacks_apply_in_full_and_debt_blocks_spending(db: Db) {
    let Some(t) = TestDb::new(db).await else {
        return;
    };
    let s = t.store.as_ref();
    let u = user(s, "a@example.com").await.user_id();
    ledger::post(s, &entry(u, EntryKind::Purchase, 5000, "pay_1"))
        .await
        .unwrap();
    ledger::post(s, &entry(u, EntryKind::Spend, -4500, "use-1"))
        .await
        .unwrap();

    // The payment is refunded after most credits were spent: the clawback still applies in full.
    let r = ledger::post(s, &entry(u, EntryKind::RefundClawback, -5000, "rf_1"))
        .await
        .unwrap();
    assert_eq!(r.balance_after(), Credits(-4500));
    let err = ledger::post(s, &entry(u, EntryKind::Spend, -1, "use-2"))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        LedgerError::InsufficientCredits {
            balance: Credits(-4500)
        }
    ));

    // A dispute hold on another payment deepens the debt; the next purchase repays it.
    ledger::post(s, &entry(u, EntryKind::DisputeHold, -100, "dspt_1"))
        .await
        .unwrap();
    let p = ledger::post(s, &entry(u, EntryKind::Purchase, 25000, "pay_2"))
        .await
        .unwrap();
    assert_eq!(p.balance_after(), Credits(25000 - 4600));
    ledger::post(s, &entry(u, EntryKind::DisputeRelease, 100, "dspt_1"))
        .await
        .unwrap();
    assert_eq!(assert_consistent(s, u).await, Credits(20500));
}

async fn same_source_different_amount_is_a_conflict(db: Db) {
    let Some(t) = TestDb::new(db).await else {
        return;
    };
    let s = t.store.as_ref();
    let a = user(s, "a@example.com").await.user_id();
    let b = user(s, "b@example.com").await.user_id();
    ledger::post(s, &entry(a, EntryKind::ManualGrant, 100, "g"))
        .await
        .unwrap();
    ledger::post(s, &entry(a, EntryKind::Spend, -5, "key-1")).await.unwrap();

    let err = ledger::post(s, &entry(a, EntryKind::Spend, -6, "key-1"))
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::SourceConflict { .. }), "{err:?}");
    // The source key is global: another user cannot reuse it either.
    let err = ledger::post(s, &entry(b, EntryKind::Spend, -5, "key-1"))
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::SourceConflict { .. }), "{err:?}");
    assert_eq!(assert_consistent(s, a).await, Credits(95));
    assert_eq!(assert_consistent(s, b).await, Credits(0));
}

async fn unknown_user_is_refused(db: Db) {
    let Some(t) = TestDb::new(db).await else {
        return;
    };
    let err = ledger::post(
        t.store.as_ref(),
        &entry(UserId(999_999), EntryKind::ManualGrant, 1, "g"),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, LedgerError::UserNotFound), "{err:?}");
}

async fn ledger_rows_are_immutable(db: Db) {
    let Some(t) = TestDb::new(db).await else {
        return;
    };
    let s = t.store.as_ref();
    let u = user(s, "a@example.com").await.user_id();
    ledger::post(s, &entry(u, EntryKind::ManualGrant, 10, "g"))
        .await
        .unwrap();
    let (update, delete) = if db == Db::Sqlite {
        let pool = sqlx::SqlitePool::connect(&t.url).await.unwrap();
        (
            sqlx::query("update credit_transactions set amount = 1000")
                .execute(&pool)
                .await
                .map(|_| ()),
            sqlx::query("delete from credit_transactions")
                .execute(&pool)
                .await
                .map(|_| ()),
        )
    } else {
        let pool = sqlx::PgPool::connect(&t.url).await.unwrap();
        (
            sqlx::query("update credit_transactions set amount = 1000")
                .execute(&pool)
                .await
                .map(|_| ()),
            sqlx::query("delete from credit_transactions")
                .execute(&pool)
                .await
                .map(|_| ()),
        )
    };
    assert!(update.unwrap_err().to_string().contains("immutable"));
    assert!(delete.unwrap_err().to_string().contains("immutable"));
    assert_eq!(assert_consistent(s, u).await, Credits(10));
}

async fn transactions_page_newest_first_by_keyset(db: Db) {
    let Some(t) = TestDb::new(db).await else {
        return;
    };
    let s = t.store.as_ref();
    let u = user(s, "a@example.com").await.user_id();
    let other = user(s, "b@example.com").await.user_id();
    for i in 0..7 {
        ledger::post(s, &entry(u, EntryKind::ManualGrant, i + 1, &format!("g{i}")))
            .await
            .unwrap();
    }
    ledger::post(s, &entry(other, EntryKind::ManualGrant, 1, "other"))
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = s.list_transactions(u, before, 3).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.windows(2).all(|w| w[0].id > w[1].id), "newest first");
        before = page.last().map(|r| r.id);
        seen.extend(page.into_iter().map(|r| r.amount));
    }
    assert_eq!(
        seen,
        vec![7, 6, 5, 4, 3, 2, 1],
        "every row once, none of another user's"
    );
}

async fn concurrent_spends_never_overdraw(db: Db) {
    let Some(t) = TestDb::with_pool_size(db, 16).await else {
        return;
    };
    let store: Arc<dyn Store> = t.store.clone();
    let u = user(store.as_ref(), "a@example.com").await.user_id();
    ledger::post(store.as_ref(), &entry(u, EntryKind::ManualGrant, 100, "grant"))
        .await
        .unwrap();

    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                ledger::post(store.as_ref(), &entry(u, EntryKind::Spend, -1, &format!("spend-{i}"))).await
            })
        })
        .collect();
    let (mut ok, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(p) => {
                assert!(p.applied);
                assert!(p.balance_after() >= Credits(0));
                ok += 1;
            }
            Err(LedgerError::InsufficientCredits { balance }) => {
                assert_eq!(balance, Credits(0));
                refused += 1;
            }
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }
    assert_eq!((ok, refused), (100, 100));
    assert_eq!(assert_consistent(store.as_ref(), u).await, Credits(0));
}

async fn concurrent_duplicate_posts_apply_once(db: Db) {
    let Some(t) = TestDb::with_pool_size(db, 16).await else {
        return;
    };
    let store: Arc<dyn Store> = t.store.clone();
    let u = user(store.as_ref(), "a@example.com").await.user_id();
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                ledger::post(store.as_ref(), &entry(u, EntryKind::Purchase, 25000, "pay_same"))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut applied = 0;
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let p = t.await.unwrap();
        applied += p.applied as usize;
        ids.insert(p.transaction.id);
    }
    assert_eq!(applied, 1, "exactly one of 100 concurrent posts applies");
    assert_eq!(ids.len(), 1, "every caller sees the same row");
    assert_eq!(assert_consistent(store.as_ref(), u).await, Credits(25000));
}

async fn concurrent_mixed_writers_keep_balance_equal_to_sum(db: Db) {
    let Some(t) = TestDb::with_pool_size(db, 16).await else {
        return;
    };
    let store: Arc<dyn Store> = t.store.clone();
    let users: Vec<UserId> = {
        let mut v = Vec::new();
        for i in 0..4 {
            v.push(user(store.as_ref(), &format!("u{i}@example.com")).await.user_id());
        }
        v
    };
    let tasks: Vec<_> = (0..160)
        .map(|i| {
            let store = store.clone();
            let u = users[i % users.len()];
            tokio::spawn(async move {
                let e = match i % 4 {
                    0 => entry(u, EntryKind::Purchase, 50, &format!("p{}", i / 2)), // half of these repeat
                    1 => entry(u, EntryKind::Spend, -20, &format!("s{i}")),
                    2 => entry(u, EntryKind::RefundClawback, -10, &format!("r{i}")),
                    _ => entry(u, EntryKind::ManualGrant, 5, &format!("g{i}")),
                };
                let _ = ledger::post(store.as_ref(), &e).await;
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    for u in users {
        assert_consistent(store.as_ref(), u).await;
        let rows = store.list_transactions(u, None, 1000).await.unwrap();
        assert!(
            rows.iter().filter(|r| r.kind == "spend").all(|r| r.balance_after >= 0),
            "no spend crossed zero"
        );
    }
}

/// A balance past the i64 range is a refused entry (`LedgerError::Invalid`, a 400 at the API),
/// not a database error; nothing is written. Regression: it surfaced as a store "conflict" that
/// the API answered with 500.
async fn balance_overflow_is_an_invalid_entry(db: Db) {
    let Some(t) = TestDb::new(db).await else {
        return;
    };
    let store = t.store.as_ref();
    let down = user(store, "down@example.com").await.user_id();
    ledger::post(store, &entry(down, EntryKind::RefundClawback, -i64::MAX, "c1"))
        .await
        .unwrap();
    let err = ledger::post(store, &entry(down, EntryKind::RefundClawback, -2, "c2"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, LedgerError::Invalid(ref m) if m.contains("range")),
        "{err:?}"
    );
    assert_eq!(assert_consistent(store, down).await, Credits(-i64::MAX));

    let up = user(store, "up@example.com").await.user_id();
    ledger::post(store, &entry(up, EntryKind::ManualGrant, i64::MAX, "g1"))
        .await
        .unwrap();
    let err = ledger::post(store, &entry(up, EntryKind::ManualGrant, 1, "g2"))
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::Invalid(_)), "{err:?}");
    assert_eq!(assert_consistent(store, up).await, Credits(i64::MAX));
    assert_eq!(store.list_transactions(up, None, 10).await.unwrap().len(), 1);
}

/// 64 concurrent writes of every kind the app makes (sessions, rate-limit hits, spends,
/// settings, key use) on a pool of 10: all succeed (on SQLite none fails with SQLITE_BUSY; they
/// queue on the store's write permit) and each lands exactly once.
async fn concurrent_writes_of_every_kind_all_succeed(db: Db) {
    use atlas_credits::server::store::NewApiKey;
    let Some(t) = TestDb::with_pool_size(db, 10).await else {
        return;
    };
    let store: Arc<dyn Store> = t.store.clone();
    let u = user(store.as_ref(), "w@example.com").await.user_id();
    ledger::post(store.as_ref(), &entry(u, EntryKind::ManualGrant, 100, "grant"))
        .await
        .unwrap();
    let key = store
        .create_api_key(&NewApiKey {
            name: "k".into(),
            key_hash: "hash".into(),
            key_prefix: "ak_hash".into(),
            created_by: "test".into(),
        })
        .await
        .unwrap();
    let now = chrono::Utc::now();
    let expires = now + chrono::Duration::hours(1);

    #[derive(Debug)]
    enum Done {
        Session,
        Hit(i64),
        Spent,
        Setting(String),
        KeyUse(bool),
    }
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let done = match i % 5 {
                    0 => {
                        store.create_session(&format!("tok-{i}"), u, expires, None).await?;
                        store.create_session(&format!("gone-{i}"), u, expires, None).await?;
                        store.delete_session(&format!("gone-{i}")).await?;
                        Done::Session
                    }
                    1 => Done::Hit(store.rate_limit_hit("bucket", now.timestamp(), 3600).await?),
                    2 => {
                        let spend = entry(u, EntryKind::Spend, -1, &format!("s{i}"));
                        ledger::post(store.as_ref(), &spend)
                            .await
                            .map_err(|e| StoreError::Config(e.to_string()))?;
                        Done::Spent
                    }
                    3 => Done::Setting(store.setting_or_insert("shared", &format!("v{i}")).await?),
                    _ => Done::KeyUse(
                        store
                            .record_api_key_use(key.id, now, now - chrono::Duration::seconds(60))
                            .await?,
                    ),
                };
                Ok::<_, StoreError>((i, done))
            })
        })
        .collect();
    let (mut hits, mut spent, mut settings, mut key_writes) = (Vec::new(), 0, Vec::new(), 0);
    for t in tasks {
        let (i, done) = t
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("a concurrent write failed: {e:?}"));
        match done {
            Done::Session => {
                assert!(store.session_user(&format!("tok-{i}"), now).await.unwrap().is_some());
                assert!(store.session_user(&format!("gone-{i}"), now).await.unwrap().is_none());
            }
            Done::Hit(n) => hits.push(n),
            Done::Spent => spent += 1,
            Done::Setting(v) => settings.push(v),
            Done::KeyUse(wrote) => key_writes += wrote as usize,
        }
    }
    hits.sort();
    assert_eq!(
        hits,
        (1..=hits.len() as i64).collect::<Vec<_>>(),
        "each hit counted once"
    );
    assert_eq!(assert_consistent(store.as_ref(), u).await, Credits(100 - spent));
    let stored = store.setting("shared").await.unwrap().unwrap();
    assert!(settings.iter().all(|v| *v == stored), "first writer wins: {settings:?}");
    assert_eq!(key_writes, 1, "the key's use is recorded once per interval");
}
