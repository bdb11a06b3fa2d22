//! The admin's webhook log and audit log over real HTTP on both backends: listing newest first
//! with filters and keyset pages, the payload view, and Replay, which re-applies an event through
//! the same idempotent path (a credited payment replayed twice leaves the balance as it was) and
//! is audited; bad input is refused and changes nothing.

use crate::common;

use atlas_credits::model::{AuditPage, Credits, WebhookDetail, WebhookPage};
use atlas_credits::server::store::{AuditEntry, NewWebhookEvent, Store};
use chrono::{Duration, Utc};
use common::auth::Browser;
use common::whop_events::{body, deliver, event, order, payment};
use common::{user, Db, TestApp};

both_backends!(
    replaying_a_credited_payment_changes_nothing_and_is_audited,
    replaying_a_stored_unapplied_payment_credits_it_once,
    bad_replay_input_changes_nothing,
    the_webhook_log_filters_and_pages_newest_first,
    the_audit_log_filters_by_actor_and_action_and_pages,
);

/// A signed-in admin (and the user row id behind it).
async fn admin(app: &TestApp) -> (Browser, i64) {
    let b = Browser::sign_up(app, "root@example.com").await;
    let store = app.db.store.as_ref();
    let root = store.user_by_email("root@example.com").await.unwrap().unwrap();
    store
        .set_user_credentials(root.user_id(), "admin", root.password_hash.as_deref().unwrap())
        .await
        .unwrap();
    (b, root.id)
}

async fn call(b: &Browser, app: &TestApp, f: &str, form: &[(&str, &str)]) -> (u16, String) {
    let r = b.call(app, &format!("/api/{f}"), form).await;
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn replay(b: &Browser, app: &TestApp, id: &str) -> (u16, String) {
    call(
        b,
        app,
        "admin_replay_webhook",
        &[("id", id), ("reason", "checking the log"), ("confirm", "yes")],
    )
    .await
}

async fn balance(store: &dyn Store, email: &str) -> Credits {
    let u = store.user_by_email(email).await.unwrap().unwrap();
    common::checked_balance(store, u.user_id()).await
}

async fn replays_audited(store: &dyn Store, id: &str) -> usize {
    store
        .list_audit(1000)
        .await
        .unwrap()
        .iter()
        .filter(|a| a.action == "webhook.replay" && a.subject == format!("webhook:{id}"))
        .count()
}

async fn replaying_a_credited_payment_changes_nothing_and_is_audited(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    let u = user(store, "ann@example.com").await;
    let o = order(store, u.user_id(), "replay", 5000, 750).await;
    deliver(&app, "msg_replay", "payment.succeeded", &payment("pay_replay", &o)).await;
    assert_eq!(event(store, "msg_replay").await.status, "processed");
    assert_eq!(balance(store, "ann@example.com").await, Credits(5000));
    let (b, admin_id) = admin(&app).await;

    for round in 1..=2 {
        let (s, body) = replay(&b, &app, "msg_replay").await;
        assert_eq!(s, 200, "{body}");
        assert!(
            body.contains("Already applied: nothing changed."),
            "round {round}: {body}"
        );
        assert_eq!(balance(store, "ann@example.com").await, Credits(5000), "round {round}");
        let e = event(store, "msg_replay").await;
        assert_eq!((e.status.as_str(), e.order_id), ("processed", Some(o.id)));
    }
    assert_eq!(replays_audited(store, "msg_replay").await, 2);
    let line = store.list_audit(1).await.unwrap().remove(0);
    assert_eq!(line.actor, format!("admin:{admin_id}"));
    assert!(line.after_value.unwrap().contains("checking the log"));

    // The payload view shows the stored body, pretty-printed, as text.
    let (s, body) = call(&b, &app, "admin_webhook", &[("id", "msg_replay")]).await;
    assert_eq!(s, 200, "{body}");
    let d: WebhookDetail = serde_json::from_str(&body).unwrap();
    assert_eq!(d.event.payment_id.as_deref(), Some("pay_replay"));
    assert!(
        d.payload.contains("\n  \"type\": \"payment.succeeded\""),
        "{}",
        d.payload
    );

    // A payload is shown as text: markup in it is escaped, never injected.
    store
        .record_webhook_event(&NewWebhookEvent {
            id: "msg_markup".into(),
            event_type: "x.unknown".into(),
            payload: r#"{"type":"x.unknown","data":{"note":"<script>alert(1)</script>"}}"#.into(),
            received_at: Utc::now(),
        })
        .await
        .unwrap();
    let page = b
        .client
        .get(app.url("/admin/webhooks/msg_markup"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
    assert!(!html.contains("<script>alert(1)"), "{html}");
    assert!(html.contains("id=\"replay\""), "the Replay button is there");
}

async fn replaying_a_stored_unapplied_payment_credits_it_once(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    let u = user(store, "bob@example.com").await;
    let o = order(store, u.user_id(), "late", 5000, 750).await;
    // Stored but never applied (the process stopped in between); the retry job is not due yet
    // in this test's time, so only the replay applies it.
    store
        .record_webhook_event(&NewWebhookEvent {
            id: "msg_late".into(),
            event_type: "payment.succeeded".into(),
            payload: body("msg_late", "payment.succeeded", &payment("pay_late", &o)),
            received_at: Utc::now(),
        })
        .await
        .unwrap();
    let (b, _) = admin(&app).await;
    let (s, first) = replay(&b, &app, "msg_late").await;
    assert_eq!(s, 200, "{first}");
    let second = replay(&b, &app, "msg_late").await.1;
    // The retry job may have applied it between storing and the first replay: then both say so.
    let credited = format!("Credited 5,000 credits to order #{}.", o.id);
    assert!(
        first.contains(&credited) || first.contains("Already applied"),
        "{first}"
    );
    assert!(second.contains("Already applied: nothing changed."), "{second}");
    assert_eq!(balance(store, "bob@example.com").await, Credits(5000));
    assert_eq!(event(store, "msg_late").await.status, "processed");
    assert_eq!(replays_audited(store, "msg_late").await, 2);
}

async fn bad_replay_input_changes_nothing(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    let u = user(store, "cy@example.com").await;
    let o = order(store, u.user_id(), "bad", 5000, 750).await;
    deliver(&app, "msg_bad", "payment.succeeded", &payment("pay_bad", &o)).await;
    let before = event(store, "msg_bad").await;
    let (b, _) = admin(&app).await;
    let cases: [(&[(&str, &str)], u16); 7] = [
        (&[("id", "msg_bad"), ("reason", "x")], 400), // not confirmed
        (&[("id", "msg_bad"), ("reason", ""), ("confirm", "yes")], 400),
        (&[("id", "msg_bad"), ("reason", "a\0b"), ("confirm", "yes")], 400),
        (
            &[("id", "msg_bad"), ("reason", &"x".repeat(501)), ("confirm", "yes")],
            400,
        ),
        (&[("id", "msg_nope"), ("reason", "x"), ("confirm", "yes")], 404),
        (&[("id", "msg\nbad"), ("reason", "x"), ("confirm", "yes")], 400),
        (&[("id", &"m".repeat(201)), ("reason", "x"), ("confirm", "yes")], 400),
    ];
    for (form, want) in cases {
        let (s, body) = call(&b, &app, "admin_replay_webhook", form).await;
        assert_eq!(s, want, "{form:?}: {body}");
    }
    assert_eq!(event(store, "msg_bad").await, before);
    assert_eq!(replays_audited(store, "msg_bad").await, 0);
    for (form, want) in [
        (vec![("status", "nope")], 400),
        (vec![("before", "not-a-cursor")], 400),
        (vec![("event_type", "a\u{7}b")], 400),
    ] {
        let (s, body) = call(&b, &app, "admin_list_webhooks", &form).await;
        assert_eq!(s, want, "{form:?}: {body}");
    }
    for (form, want) in [(vec![("before", "-1")], 400), (vec![("actor", "x\ny")], 400)] {
        let (s, body) = call(&b, &app, "admin_list_audit", &form).await;
        assert_eq!(s, want, "{form:?}: {body}");
    }
}

async fn list(b: &Browser, app: &TestApp, form: &[(&str, &str)]) -> WebhookPage {
    let (s, body) = call(b, app, "admin_list_webhooks", form).await;
    assert_eq!(s, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

async fn the_webhook_log_filters_and_pages_newest_first(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    // 60 events in 3 bursts of 20 that share their received time (the cursor's tie-break is the
    // id), every third of them of another type; stored directly (this test is about listing).
    // The other types are ones the app ignores: the retry job applies every event while the test
    // runs, so the statuses are the job's answers.
    let t0 = Utc::now() - Duration::hours(1);
    let mut expected = Vec::new();
    for i in 0..60 {
        let at = t0 + Duration::minutes(i / 20);
        let id = format!("msg_{:03}", (i * 37) % 60);
        // One payment event with an empty body: the app's retry job fails it for good (a
        // malformed payload), the one failure the status filter must find.
        let kind = if id == "msg_000" {
            "payment.succeeded"
        } else if i % 3 == 0 {
            "membership.went_invalid"
        } else {
            "membership.went_valid"
        };
        store
            .record_webhook_event(&NewWebhookEvent {
                id: id.clone(),
                event_type: kind.into(),
                payload: "{}".into(),
                received_at: at,
            })
            .await
            .unwrap();
        expected.push((at, id, kind));
    }
    // The app's retry job applies pending events every 2 s: wait until it has answered them all.
    for _ in 0..100 {
        if store.count_pending_webhook_events().await.unwrap() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    expected.sort_by(|a, b| (b.0, &b.1).cmp(&(a.0, &a.1)));
    let (b, _) = admin(&app).await;

    let first = list(&b, &app, &[]).await;
    assert_eq!(first.items.len(), 50);
    let cursor = first.next_before.clone().expect("a second page");
    let second = list(&b, &app, &[("before", &cursor)]).await;
    assert_eq!(second.items.len(), 10);
    assert_eq!(second.next_before, None);
    let ids: Vec<String> = first.items.iter().chain(&second.items).map(|e| e.id.clone()).collect();
    let want: Vec<String> = expected.iter().map(|e| e.1.clone()).collect();
    assert_eq!(ids, want, "newest first, ties by id, no row twice or lost");

    let invalid = list(&b, &app, &[("event_type", "membership.went_invalid")]).await;
    assert_eq!(invalid.items.len(), 19);
    assert!(invalid.items.iter().all(|e| e.event_type == "membership.went_invalid"));
    let failed = list(&b, &app, &[("status", "failed")]).await;
    assert_eq!(failed.items.len(), 1);
    assert_eq!(failed.items[0].id, "msg_000");
    assert!(failed.items[0].last_error.is_some(), "the failure's reason is shown");
    let none = list(
        &b,
        &app,
        &[("status", "failed"), ("event_type", "membership.went_valid")],
    )
    .await;
    assert!(none.items.is_empty());
}

async fn the_audit_log_filters_by_actor_and_action_and_pages(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    for i in 0..60 {
        let (actor, action) = match i % 3 {
            0 => ("admin:1", "webhook.replay"),
            1 => ("admin:2", "order.approve"),
            _ => ("admin:12", "order.refund"),
        };
        store
            .record_audit(
                &AuditEntry {
                    actor: actor.into(),
                    action: action.into(),
                    subject: format!("thing:{i}"),
                    before: Some(r#"{"a":1}"#.into()),
                    after: None,
                },
                Utc::now(),
            )
            .await
            .unwrap();
    }
    let (b, _) = admin(&app).await;
    let get = |form: Vec<(&'static str, String)>| {
        let b = &b;
        let app = &app;
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (s, body) = call(b, app, "admin_list_audit", &form).await;
            assert_eq!(s, 200, "{body}");
            serde_json::from_str::<AuditPage>(&body).unwrap()
        }
    };
    let all = get(vec![]).await;
    assert_eq!(all.items.len(), 50);
    assert!(all.items.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    assert_eq!(all.items[0].subject, "thing:59");
    assert_eq!(all.items.last().unwrap().before.as_deref(), Some("{\n  \"a\": 1\n}"));
    let rest = get(vec![("before", all.next_before.unwrap().to_string())]).await;
    assert_eq!((rest.items.len(), rest.next_before), (10, None));

    // Exact actor: admin:1 only, not admin:12.
    let one = get(vec![("actor", "admin:1".into())]).await;
    assert_eq!(one.items.len(), 20);
    assert!(one.items.iter().all(|a| a.actor == "admin:1"));
    // Prefix: admin:1 and admin:12.
    let prefix = get(vec![("actor", "admin:1*".into())]).await;
    assert_eq!(prefix.items.len(), 40);
    let orders = get(vec![("action", "order.*".into()), ("actor", "admin:12".into())]).await;
    assert_eq!(orders.items.len(), 20);
    assert!(orders.items.iter().all(|a| a.action == "order.refund"));
    // Case matters the same on both backends.
    assert!(get(vec![("action", "ORDER.*".into())]).await.items.is_empty());
}
