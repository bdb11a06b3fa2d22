//! `atlas-credits import` on both backends: a second run changes nothing, a bad row stops the
//! import naming its file and line with the database unchanged, balances equal their ledger
//! sums afterwards, and pending manual orders are there as pending for an admin. Once through
//! the built binary too.

use crate::common;

use atlas_credits::model::Credits;
use atlas_credits::server::service::admin_orders::{self, ListQuery};
use atlas_credits::server::service::import::{self, ImportError, Input};
use atlas_credits::server::store::{ImportCounts, Store};
use common::{user, Db, TestDb};

both_backends!(
    importing_twice_changes_nothing_the_second_time,
    a_bad_row_stops_everything_with_its_line,
    a_row_the_database_refuses_rolls_back_the_whole_run,
);

const USERS: &str = "\u{feff}email,external_id,name,balance\r\n\
ann@example.com,atlas-1,\"Ann, Lee\",12500\r\n\
bob@example.com,,Bob,0\r\n\
existing@example.com,atlas-3,,700\r\n";

const ORDERS: &str = "legacy_id,user_external_id,user_email,plan_name,credits,price_cents,currency,method,payment_status,review_status,created_at,notes\n\
1001,atlas-1,,Starter,5000,750,usd,whop,paid,approved,2024-03-01T10:00:00Z,\n\
1002,,bob@example.com,Enterprise,100000,0,usd,manual,pending,pending,2024-04-02,\"Invoice \"\"A-7\"\",\nsent by email\"\n\
1003,atlas-1,,Pro,25000,3250,usd,manual,paid,approved,2024-05-03,\n";

fn input(name: &str, text: &str) -> Input {
    Input {
        name: name.into(),
        bytes: text.as_bytes().to_vec(),
    }
}

/// Every user's balance equals the sum of their ledger rows; returns (email, balance) sorted.
async fn balances(store: &dyn Store, emails: &[&str]) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for email in emails {
        if let Some(u) = store.user_by_email(email).await.unwrap() {
            assert_eq!(store.ledger_sum(u.user_id()).await.unwrap(), u.balance(), "{email}");
            out.push((email.to_string(), u.credits_balance));
        }
    }
    out
}

const EMAILS: [&str; 3] = ["ann@example.com", "bob@example.com", "existing@example.com"];

async fn importing_twice_changes_nothing_the_second_time(db: Db) {
    let Some(t) = TestDb::new(db).await else { return };
    let store = t.store.as_ref();
    // Someone who signed up already (by email, no external id yet) with credits of their own.
    let existing = user(store, "Existing@Example.com").await;
    let grant = atlas_credits::server::service::ledger::LedgerEntry::new(
        existing.user_id(),
        atlas_credits::model::EntryKind::ManualGrant,
        Credits(300),
        "test",
        "before-import",
        atlas_credits::server::service::ledger::Actor::System,
    )
    .unwrap();
    atlas_credits::server::service::ledger::post(store, &grant)
        .await
        .unwrap();

    let (u, o) = (input("users.csv", USERS), input("orders.csv", ORDERS));
    let first = import::run(store, Some(&u), Some(&o)).await.unwrap();
    assert_eq!(
        first,
        ImportCounts {
            users_created: 2,
            users_present: 1,
            balances_posted: 2,
            balances_present: 0,
            orders_created: 3,
            orders_present: 0,
        }
    );
    assert_eq!(
        balances(store, &EMAILS).await,
        [
            ("ann@example.com".to_string(), 12_500),
            ("bob@example.com".to_string(), 0),
            ("existing@example.com".to_string(), 1_000),
        ]
    );
    let ann = store.user_by_external_id("atlas-1").await.unwrap().unwrap();
    assert_eq!(
        (ann.name.as_deref(), ann.password_hash.as_deref()),
        (Some("Ann, Lee"), None)
    );
    let ann_rows = store.list_transactions(ann.user_id(), None, 10).await.unwrap();
    assert_eq!(ann_rows.len(), 1, "one migration row; imported paid orders post none");
    assert_eq!(
        (ann_rows[0].kind.as_str(), ann_rows[0].source_id.as_str()),
        ("migration", "atlas-1")
    );
    // The existing account was linked to its external id.
    assert_eq!(
        store.user_by_external_id("atlas-3").await.unwrap().map(|u| u.id),
        Some(existing.id)
    );

    // The pending manual order waits as pending; the paid ones look settled.
    let bob = store.user_by_email("bob@example.com").await.unwrap().unwrap();
    let bob_orders = store.list_user_orders(bob.user_id(), 10).await.unwrap();
    assert_eq!(bob_orders.len(), 1);
    let pending = &bob_orders[0];
    assert_eq!(
        (
            pending.payment_method.as_str(),
            pending.status.as_str(),
            pending.payment_status.as_str()
        ),
        ("manual", "pending", "pending")
    );
    assert_eq!(pending.client_key.as_deref(), Some("import:1002"));
    assert_eq!(pending.notes.as_deref(), Some("Invoice \"A-7\",\nsent by email"));
    assert_eq!(pending.credits_amount, 100_000);
    // ... in the admin's queue: the orders list with the review filter finds it.
    let queue = ListQuery {
        status: Some("pending".into()),
        method: Some("manual".into()),
        ..ListQuery::default()
    };
    let page = admin_orders::list(store, &queue, None).await.unwrap();
    assert_eq!(page.queue_count, 1);
    let listed: Vec<(i64, &str)> = page.items.iter().map(|i| (i.id, i.user_email.as_str())).collect();
    assert_eq!(listed, [(pending.id, "bob@example.com")]);
    let paid = store.list_user_orders(ann.user_id(), 10).await.unwrap();
    assert_eq!(paid.len(), 2);
    assert!(paid
        .iter()
        .all(|o| o.payment_status == "paid" && o.credited_at.is_some()));
    assert_eq!(
        paid.iter()
            .find(|o| o.client_key.as_deref() == Some("import:1001"))
            .unwrap()
            .price_cents,
        750
    );

    // Again: nothing new, and it says so.
    let second = import::run(store, Some(&u), Some(&o)).await.unwrap();
    assert_eq!(
        second,
        ImportCounts {
            users_created: 0,
            users_present: 3,
            balances_posted: 0,
            balances_present: 2,
            orders_created: 0,
            orders_present: 3,
        }
    );
    assert!(import::summary(&second).ends_with("nothing to do: everything was imported before"));
    assert_eq!(balances(store, &EMAILS).await[0].1, 12_500);
    assert_eq!(store.list_user_orders(bob.user_id(), 10).await.unwrap().len(), 1);
    // Either file alone works too.
    assert_eq!(import::run(store, None, Some(&o)).await.unwrap().orders_present, 3);
}

async fn snapshot(store: &dyn Store) -> (Vec<(String, i64)>, usize) {
    let b = balances(store, &EMAILS).await;
    let mut orders = 0;
    for email in EMAILS {
        if let Some(u) = store.user_by_email(email).await.unwrap() {
            orders += store.list_user_orders(u.user_id(), 100).await.unwrap().len();
        }
    }
    (b, orders)
}

async fn a_bad_row_stops_everything_with_its_line(db: Db) {
    let Some(t) = TestDb::new(db).await else { return };
    let store = t.store.as_ref();
    let before = snapshot(store).await;
    // Line 4 (the quoted note of line 3 spans two lines) has a negative price.
    let bad_orders = ORDERS.replace("Pro,25000,3250", "Pro,25000,-3250");
    let e = import::run(
        store,
        Some(&input("users.csv", USERS)),
        Some(&input("orders.csv", &bad_orders)),
    )
    .await
    .unwrap_err();
    match &e {
        ImportError::Row { file, line, message } => {
            assert_eq!((file.as_str(), *line), ("orders.csv", 5), "{message}");
            assert!(message.contains("price_cents"), "{message}");
        }
        other => panic!("{other}"),
    }
    assert!(e.to_string().starts_with("orders.csv, line 5: "), "{e}");
    assert_eq!(
        snapshot(store).await,
        before,
        "nothing written, not even the valid users"
    );
    assert!(store.user_by_email("ann@example.com").await.unwrap().is_none());
}

async fn a_row_the_database_refuses_rolls_back_the_whole_run(db: Db) {
    let Some(t) = TestDb::new(db).await else { return };
    let store = t.store.as_ref();
    // Two different users already hold the email and the external id of users.csv line 3.
    user(store, "bob@example.com").await;
    store
        .create_user(&atlas_credits::server::store::NewUser {
            email: "someone@example.com".into(),
            password_hash: None,
            role: "user".into(),
            external_id: Some("atlas-2".into()),
            name: None,
        })
        .await
        .unwrap();
    let users = USERS.replace("bob@example.com,,Bob,0", "bob@example.com,atlas-2,Bob,40");
    let before = snapshot(store).await;
    let e = import::run(
        store,
        Some(&input("users.csv", &users)),
        Some(&input("orders.csv", ORDERS)),
    )
    .await
    .unwrap_err();
    let text = e.to_string();
    assert!(text.starts_with("users.csv, line 3: "), "{text}");
    assert!(text.contains("two different users"), "{text}");
    assert_eq!(snapshot(store).await, before);
    assert!(
        store.user_by_external_id("atlas-1").await.unwrap().is_none(),
        "line 2 rolled back"
    );
    // An order for a user nobody knows: the line of that order.
    let orphan = "legacy_id,user_external_id,user_email,plan_name,credits,price_cents,currency,method,payment_status,review_status,created_at,notes\n\
9,nobody-1,,Pro,1,1,usd,manual,pending,pending,2024-01-01,\n";
    let e = import::run(store, None, Some(&input("orders.csv", orphan)))
        .await
        .unwrap_err();
    assert!(
        e.to_string().starts_with("orders.csv, line 2: no such user nobody-1"),
        "{e}"
    );
}

#[test]
fn the_binary_imports_and_says_so_on_a_second_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("users.csv"), USERS).unwrap();
    std::fs::write(dir.path().join("orders.csv"), ORDERS).unwrap();
    let run = || {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_atlas-credits"));
        c.args(["import", "--users", "users.csv", "--orders", "orders.csv"])
            .current_dir(dir.path())
            .env(
                "DATABASE_URL",
                format!("sqlite://{}", dir.path().join("a.db").display()),
            )
            .env_remove("WHOP_API_KEY")
            .env_remove("WHOP_MODE");
        c.output().unwrap()
    };
    let first = run();
    let out = String::from_utf8_lossy(&first.stdout);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert!(
        out.contains("users: 3 created") && out.contains("import complete"),
        "{out}"
    );
    let second = run();
    let out = String::from_utf8_lossy(&second.stdout);
    assert!(second.status.success());
    assert!(out.contains("nothing to do"), "{out}");

    std::fs::write(
        dir.path().join("orders.csv"),
        ORDERS.replace("1003,atlas-1", "1003,bad id"),
    )
    .unwrap();
    let bad = run();
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("orders.csv, line 5") && err.contains("nothing was written"),
        "{err}"
    );
}
