//! The low-balance banner on both backends: it shows once the balance falls below the threshold,
//! stays dismissed for that crossing, clears on a top-up, and shows again on the next fall.
//! Threshold 0 turns it off.

use crate::common;

use atlas_credits::model::{Credits, EntryKind, UserId};
use atlas_credits::server::service::ledger::{self, Actor, LedgerEntry};
use atlas_credits::server::service::low_balance::THRESHOLD_KEY;
use atlas_credits::server::store::Store;
use common::auth::Browser;
use common::{Db, TestApp};
use serde_json::Value;

both_backends!(once_per_crossing_until_topped_up);

async fn post(store: &dyn Store, u: UserId, kind: EntryKind, amount: i64, key: &str) {
    let e = LedgerEntry::new(u, kind, Credits(amount), "test", key, Actor::System).unwrap();
    ledger::post(store, &e).await.unwrap();
}

async fn notice(b: &Browser, app: &TestApp) -> Value {
    let r = b.call(app, "/api/get_low_balance_notice", &[]).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn dismiss(b: &Browser, app: &TestApp, crossing: &Value) {
    let r = b
        .call(app, "/api/dismiss_low_balance", &[("crossing", &crossing.to_string())])
        .await;
    assert_eq!(r.status(), 200);
}

async fn page_shows_banner(b: &Browser, app: &TestApp, path: &str) -> bool {
    let html = b
        .client
        .get(app.url(path))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    html.contains("id=\"low-balance-banner\"")
}

async fn once_per_crossing_until_topped_up(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    let ann = Browser::sign_up(&app, "ann@example.com").await;
    let bob = Browser::sign_up(&app, "bob@example.com").await;
    let u = store.user_by_email("ann@example.com").await.unwrap().unwrap().user_id();
    store.set_setting(THRESHOLD_KEY, "1000").await.unwrap();

    // No ledger rows yet, then well above: no banner.
    assert_eq!(notice(&ann, &app).await, Value::Null);
    post(store, u, EntryKind::ManualGrant, 5000, "g1").await;
    assert_eq!(notice(&ann, &app).await, Value::Null);

    // Falls below: shown, on both pages, to her only.
    post(store, u, EntryKind::Spend, -4500, "s1").await;
    let n = notice(&ann, &app).await;
    assert_eq!(n["balance"], "500");
    assert_eq!(n["threshold"], "1,000");
    let crossing = n["crossing"].clone();
    assert!(page_shows_banner(&ann, &app, "/credits").await);
    assert!(page_shows_banner(&ann, &app, "/account").await);
    assert_eq!(notice(&bob, &app).await, Value::Null);
    assert!(!page_shows_banner(&bob, &app, "/account").await);

    // Spending more is the same crossing; dismissing it hides it for good, even as it falls on.
    post(store, u, EntryKind::Spend, -100, "s2").await;
    assert_eq!(notice(&ann, &app).await["crossing"], crossing);
    // Bob cannot dismiss Ann's banner (his own crossing is none).
    dismiss(&bob, &app, &crossing).await;
    assert_eq!(notice(&ann, &app).await["crossing"], crossing);
    dismiss(&ann, &app, &crossing).await;
    assert_eq!(notice(&ann, &app).await, Value::Null);
    assert!(!page_shows_banner(&ann, &app, "/credits").await);
    post(store, u, EntryKind::Spend, -100, "s3").await;
    assert_eq!(notice(&ann, &app).await, Value::Null);

    // A top-up back to the threshold clears it; falling again is a new crossing.
    post(store, u, EntryKind::ManualGrant, 800, "g2").await; // 1,100
    assert_eq!(notice(&ann, &app).await, Value::Null);
    post(store, u, EntryKind::Spend, -200, "s4").await; // 900
    let again = notice(&ann, &app).await;
    assert_ne!(again["crossing"], crossing);
    assert_eq!(again["balance"], "900");
    // The old crossing's id dismisses nothing now.
    dismiss(&ann, &app, &crossing).await;
    assert_eq!(notice(&ann, &app).await["crossing"], again["crossing"]);
    // A top-up that stays below the threshold is no new crossing.
    post(store, u, EntryKind::ManualGrant, 50, "g3").await; // 950
    assert_eq!(notice(&ann, &app).await["crossing"], again["crossing"]);

    // Exactly at the threshold is not below it.
    post(store, u, EntryKind::ManualGrant, 50, "g4").await; // 1,000
    assert_eq!(notice(&ann, &app).await, Value::Null);

    // Threshold 0: off.
    post(store, u, EntryKind::Spend, -990, "s5").await; // 10
    assert!(notice(&ann, &app).await.is_object());
    store.set_setting(THRESHOLD_KEY, "0").await.unwrap();
    assert_eq!(notice(&ann, &app).await, Value::Null);

    // Signed out: 401, and bad input changes nothing.
    let anon = Browser::new(&app);
    assert_eq!(anon.call(&app, "/api/get_low_balance_notice", &[]).await.status(), 401);
    assert_eq!(
        ann.call(&app, "/api/dismiss_low_balance", &[("crossing", "x")])
            .await
            .status(),
        400
    );
}
