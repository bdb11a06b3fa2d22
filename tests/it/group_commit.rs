//! Group commit of ledger posts (store::group_commit): many posts queued at once are applied in
//! a few transactions, and every caller still gets exactly the answer it would get if the posts
//! ran one by one in the order they were queued. Both backends, through `Store::post_entry`.
//!
//! To make the batches large and their order known, the database is held by another connection
//! while the posts queue (SQLite: a write transaction; PostgreSQL: the users' row locks), then
//! released: the writer(s) take the queue in order, up to a batch at a time.

use crate::common;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use atlas_credits::model::{Credits, UserId};
use atlas_credits::server::store::{NewEntry, PostOutcome, StoreError, TransactionRow};
use common::{user, Db, TestDb};

both_backends!(
    queued_posts_answer_as_a_sequential_model,
    one_source_for_many_users_applies_once,
    a_dropped_caller_loses_and_doubles_nothing,
    one_users_batch_is_written_in_order,
);

fn entry(user: i64, amount: i64, key: &str) -> NewEntry {
    let spend = amount < 0;
    NewEntry {
        user_id: user,
        amount,
        kind: if spend { "spend" } else { "manual_grant" },
        source_kind: "gc_test".into(),
        source_id: key.into(),
        order_id: None,
        actor: "system".into(),
        reason: None,
        no_overdraft: spend,
    }
}

/// A write lock on the database from outside the store, until dropped (committed).
enum Hold {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

async fn hold(t: &TestDb, db: Db, users: &[i64]) -> Hold {
    match db {
        Db::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&t.url).await.unwrap();
            Hold::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await.unwrap())
        }
        Db::Postgres => {
            let pool = sqlx::PgPool::connect(&t.url).await.unwrap();
            let mut tx = pool.begin().await.unwrap();
            sqlx::query("select id from users where id = any($1) for update")
                .bind(users)
                .fetch_all(&mut *tx)
                .await
                .unwrap();
            Hold::Postgres(tx)
        }
    }
}

impl Hold {
    async fn release(self) {
        match self {
            Hold::Sqlite(tx) => tx.commit().await.unwrap(),
            Hold::Postgres(tx) => tx.commit().await.unwrap(),
        }
    }
}

type Post<'a> = Pin<Box<dyn Future<Output = Result<PostOutcome, StoreError>> + Send + 'a>>;

type Answer = Result<PostOutcome, StoreError>;

/// A queued post: its answer, or the future still waiting for it.
enum Queued<'a> {
    Answered(Answer),
    Waiting(Post<'a>),
}

impl Queued<'_> {
    async fn answer(self) -> Answer {
        match self {
            Queued::Answered(a) => a,
            Queued::Waiting(p) => p.await,
        }
    }
}

/// Polls every post once, in order: each queues its entry and (almost always) waits for its
/// answer, so the queue holds them in this order.
async fn queue_in_order(posts: Vec<Post<'_>>) -> Vec<Queued<'_>> {
    let mut posts: Vec<Queued> = posts.into_iter().map(Queued::Waiting).collect();
    std::future::poll_fn(|cx| {
        for q in posts.iter_mut() {
            if let Queued::Waiting(p) = q {
                if let Poll::Ready(a) = p.as_mut().poll(cx) {
                    *q = Queued::Answered(a);
                }
            }
        }
        Poll::Ready(())
    })
    .await;
    posts
}

/// What a sequential ledger answers, post by post.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    Applied { balance_after: i64 },
    AlreadyApplied { id: i64 },
    Insufficient { balance: i64 },
    NoUser,
}

async fn queued_posts_answer_as_a_sequential_model(db: Db) {
    let Some(t) = TestDb::new(db).await else {
        return;
    };
    let s = t.store.as_ref();
    let mut users = Vec::new();
    for i in 0..4 {
        users.push(user(s, &format!("gc{i}@example.com")).await.id);
    }
    let unknown = users.iter().max().unwrap() + 1000;

    // 700 posts (more than two full batches) over four users and one that does not exist: small
    // grants and larger spends, so balances hit zero and spends are refused; keys drawn from a
    // small set per user, so a key repeats within a batch and across batches.
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let ops: Vec<NewEntry> = (0..700)
        .map(|_| {
            let who = next(9) as usize;
            let u = if who == 8 { unknown } else { users[who % 4] };
            let amount = if next(3) == 0 {
                1 + next(6) as i64
            } else {
                -(1 + next(4) as i64)
            };
            entry(u, amount, &format!("u{u}-k{}", next(150)))
        })
        .collect();

    let held = hold(&t, db, &users).await;
    let posts = queue_in_order(ops.iter().map(|e| Box::pin(s.post_entry(e)) as Post).collect()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    held.release().await;
    let mut answers = Vec::new();
    for p in posts {
        answers.push(p.answer().await);
    }

    // The sequential model.
    let mut balance: HashMap<i64, i64> = users.iter().map(|u| (*u, 0)).collect();
    // By (kind, source id): the unique key (the source kind is the same for all).
    let mut applied: HashMap<(&str, String), TransactionRow> = HashMap::new();
    let mut rows_written = 0;
    for (i, (e, got)) in ops.iter().zip(&answers).enumerate() {
        let key = (e.kind, e.source_id.clone());
        let expect = match balance.get(&e.user_id).copied() {
            None => Expect::NoUser,
            Some(_) if applied.contains_key(&key) => Expect::AlreadyApplied { id: applied[&key].id },
            Some(b) if e.no_overdraft && b + e.amount < 0 => Expect::Insufficient { balance: b },
            Some(b) => Expect::Applied {
                balance_after: b + e.amount,
            },
        };
        let actual = match got {
            Ok(PostOutcome::Applied(row)) => {
                assert_eq!(
                    (row.user_id, row.amount, row.source_id.as_str()),
                    (e.user_id, e.amount, e.source_id.as_str()),
                    "post {i}: the row is its own"
                );
                balance.insert(e.user_id, row.balance_after);
                applied.insert(key.clone(), row.clone());
                rows_written += 1;
                Expect::Applied {
                    balance_after: row.balance_after,
                }
            }
            Ok(PostOutcome::AlreadyApplied(row)) => {
                assert_eq!(Some(row), applied.get(&key), "post {i}: the first row");
                Expect::AlreadyApplied { id: row.id }
            }
            Err(StoreError::InsufficientCredits { balance: Credits(b) }) => Expect::Insufficient { balance: *b },
            Err(StoreError::NotFound("user")) => Expect::NoUser,
            Err(other) => panic!("post {i}: unexpected {other:?}"),
        };
        assert_eq!(actual, expect, "post {i} ({e:?})");
    }
    // The mix exercised every answer.
    let count = |f: fn(&Expect) -> bool| {
        answers
            .iter()
            .zip(&ops)
            .filter(|(a, _)| {
                f(&match a {
                    Ok(PostOutcome::Applied(_)) => Expect::Applied { balance_after: 0 },
                    Ok(PostOutcome::AlreadyApplied(_)) => Expect::AlreadyApplied { id: 0 },
                    Err(StoreError::InsufficientCredits { .. }) => Expect::Insufficient { balance: 0 },
                    _ => Expect::NoUser,
                })
            })
            .count()
    };
    assert!(count(|e| matches!(e, Expect::Applied { .. })) > 100);
    assert!(count(|e| matches!(e, Expect::AlreadyApplied { .. })) > 50);
    assert!(count(|e| matches!(e, Expect::Insufficient { .. })) > 20);
    assert!(count(|e| matches!(e, Expect::NoUser)) > 20);

    // The database holds exactly what the answers say.
    let mut rows_in_db = 0;
    for u in &users {
        let stored = s.user_by_id(UserId(*u)).await.unwrap().unwrap().balance().get();
        assert_eq!(stored, balance[u], "user {u}: the model's balance");
        assert_eq!(
            s.ledger_sum(UserId(*u)).await.unwrap().get(),
            stored,
            "balance == ledger sum"
        );
        rows_in_db += s.list_transactions(UserId(*u), None, 1000).await.unwrap().len();
    }
    assert_eq!(
        rows_in_db, rows_written,
        "one row per applied post, none for the others"
    );
}

async fn one_source_for_many_users_applies_once(db: Db) {
    let Some(t) = TestDb::new(db).await else {
        return;
    };
    let s = t.store.clone();
    let mut users = Vec::new();
    for i in 0..16 {
        users.push(user(s.as_ref(), &format!("one{i}@example.com")).await.id);
    }
    // Every round, all sixteen users post a grant under the same source at once (on PostgreSQL
    // they fall to different writers): one applies, the others get that row.
    for round in 0..20 {
        let tasks: Vec<_> = users
            .iter()
            .map(|u| {
                let (s, e) = (s.clone(), entry(*u, 5, &format!("shared-{round}")));
                tokio::spawn(async move { s.post_entry(&e).await.unwrap() })
            })
            .collect();
        let mut winner = None;
        let mut others = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                PostOutcome::Applied(row) => {
                    assert!(winner.replace(row).is_none(), "round {round}: applied twice");
                }
                PostOutcome::AlreadyApplied(row) => others.push(row),
            }
        }
        let winner = winner.expect("one applied");
        assert!(
            others.iter().all(|r| *r == winner),
            "round {round}: the others see the winner"
        );
    }
    for u in &users {
        let b = s.user_by_id(UserId(*u)).await.unwrap().unwrap().balance();
        assert_eq!(s.ledger_sum(UserId(*u)).await.unwrap(), b);
    }
    let total: i64 = {
        let mut sum = 0;
        for u in &users {
            sum += s.ledger_sum(UserId(*u)).await.unwrap().get();
        }
        sum
    };
    assert_eq!(total, 20 * 5, "one grant per round");
}

async fn a_dropped_caller_loses_and_doubles_nothing(db: Db) {
    let Some(t) = TestDb::new(db).await else {
        return;
    };
    let s = t.store.as_ref();
    let u = user(s, "drop@example.com").await.id;
    let ops: Vec<NewEntry> = (0..50).map(|i| entry(u, 2, &format!("d{i}"))).collect();
    let held = hold(&t, db, &[u]).await;
    // Queued, then the callers go away before any answer (a client hanging up).
    let posts = queue_in_order(ops.iter().map(|e| Box::pin(s.post_entry(e)) as Post).collect()).await;
    drop(posts);
    held.release().await;
    // Once queued, a post is applied: the user's next post comes after all of them.
    let last = s.post_entry(&entry(u, 1, "after")).await.unwrap();
    assert!(
        matches!(last, PostOutcome::Applied(ref r) if r.balance_after == 101),
        "{last:?}"
    );
    // Retried with the same keys, each is already applied: nothing twice.
    for e in &ops {
        let again = s.post_entry(e).await.unwrap();
        assert!(matches!(again, PostOutcome::AlreadyApplied(_)), "{again:?}");
    }
    assert_eq!(s.ledger_sum(UserId(u)).await.unwrap().get(), 101);
    assert_eq!(s.user_by_id(UserId(u)).await.unwrap().unwrap().balance().get(), 101);
    assert_eq!(s.list_transactions(UserId(u), None, 1000).await.unwrap().len(), 51);
}

/// Many entries of one user in one batch (one multi-row insert, one balance update): a spend that
/// would overdraw in the middle is refused and writes nothing, a repeated key answers with the
/// first row, and the rows stand in the ledger in the order posted, each balance_after the
/// running sum of those before it.
async fn one_users_batch_is_written_in_order(db: Db) {
    let Some(t) = TestDb::new(db).await else {
        return;
    };
    let s = t.store.as_ref();
    let u = user(s, "order@example.com").await.id;
    let ops = [
        entry(u, 10, "g1"),
        entry(u, -4, "s1"),
        entry(u, -4, "s2"),
        entry(u, -4, "s3"), // 2 left: refused
        entry(u, -4, "s1"), // the key of the second post: its row
        entry(u, 5, "g2"),
        entry(u, -4, "s3"), // the refused key again, now covered
        entry(u, -3, "s4"),
    ];
    let held = hold(&t, db, &[u]).await;
    let posts = queue_in_order(ops.iter().map(|e| Box::pin(s.post_entry(e)) as Post).collect()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    held.release().await;
    let mut answers = Vec::new();
    for p in posts {
        answers.push(p.answer().await);
    }
    let shape: Vec<String> = answers
        .iter()
        .map(|a| match a {
            Ok(PostOutcome::Applied(r)) => format!("{} {}", r.source_id, r.balance_after),
            Ok(PostOutcome::AlreadyApplied(r)) => format!("again {} {}", r.source_id, r.balance_after),
            Err(StoreError::InsufficientCredits { balance }) => format!("short {}", balance.get()),
            Err(e) => format!("{e:?}"),
        })
        .collect();
    assert_eq!(
        shape,
        ["g1 10", "s1 6", "s2 2", "short 2", "again s1 6", "g2 7", "s3 3", "s4 0"]
    );
    // Newest first: oldest first is the order posted, each row the running sum.
    let mut rows = s.list_transactions(UserId(u), None, 100).await.unwrap();
    rows.reverse();
    let mut sum = 0;
    for r in &rows {
        sum += r.amount;
        assert_eq!(r.balance_after, sum, "{r:?}");
    }
    let keys: Vec<&str> = rows.iter().map(|r| r.source_id.as_str()).collect();
    assert_eq!(keys, ["g1", "s1", "s2", "g2", "s3", "s4"]);
    assert_eq!(s.user_by_id(UserId(u)).await.unwrap().unwrap().balance().get(), 0);
    assert_eq!(s.ledger_sum(UserId(u)).await.unwrap().get(), 0);
}
