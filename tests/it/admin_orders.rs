//! The admin's orders over real HTTP on both backends, as a signed-in admin's browser calls the
//! server functions: the filtered, paginated list; an order's timeline; approving a manual order
//! (credits granted once, a custom price recorded), rejecting one (its owner sees the reason),
//! hand adjustments (never below zero, posted once per form), a partial and a full refund asked
//! of the simulator (credits move when Whop's webhook lands), the audit line of each, and bad
//! input refused with nothing changed.

use crate::common;

use std::time::Duration;

use atlas_credits::model::{Credits, UserId};
use atlas_credits::server::store::{NewOrder, OrderRow, Store};
use common::auth::Browser;
use common::sim_shop::{press, SimShop};
use common::{Db, TestApp};
use serde_json::Value;

both_backends!(
    the_list_filters_and_pages_without_gaps_or_repeats,
    approving_grants_once_and_the_timeline_shows_it,
    a_custom_price_is_recorded_and_bad_prices_change_nothing,
    rejecting_shows_the_reason_to_the_user,
    adjustments_never_overdraw_and_post_once_per_form,
    a_refund_is_asked_of_whop_and_credits_fall_when_it_lands,
    a_full_refund_without_an_amount_takes_back_every_credit,
);

struct World {
    app: TestApp,
    admin: Browser,
    ann: Browser,
    ann_id: UserId,
    admin_id: i64,
}

async fn world(app: TestApp) -> World {
    let admin = Browser::sign_up(&app, "root@example.com").await;
    let ann = Browser::sign_up(&app, "ann@example.com").await;
    let store = app.db.store.as_ref();
    let root = store.user_by_email("root@example.com").await.unwrap().unwrap();
    store
        .set_user_credentials(root.user_id(), "admin", root.password_hash.as_deref().unwrap())
        .await
        .unwrap();
    let ann_id = store.user_by_email("ann@example.com").await.unwrap().unwrap().user_id();
    World {
        app,
        admin,
        ann,
        ann_id,
        admin_id: root.id,
    }
}

impl World {
    fn store(&self) -> &dyn Store {
        self.app.db.store.as_ref()
    }

    async fn call(&self, name: &str, form: &[(&str, &str)]) -> (u16, Value) {
        call(&self.app, &self.admin, name, form).await
    }

    async fn balance(&self, u: UserId) -> Credits {
        common::checked_balance(self.store(), u).await
    }

    async fn order(&self, id: i64) -> OrderRow {
        self.store()
            .order_by_id(atlas_credits::model::OrderId(id))
            .await
            .unwrap()
            .unwrap()
    }

    async fn audit_count(&self, subject: &str) -> usize {
        self.store().audit_for(subject, 100).await.unwrap().len()
    }
}

async fn call(app: &TestApp, b: &Browser, name: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r = b.call(app, &format!("/api/{name}"), form).await;
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn new_order(store: &dyn Store, u: UserId, key: &str, method: &'static str, plan: &str, price: i64) -> OrderRow {
    let (o, created) = store
        .create_order(&NewOrder {
            user_id: u,
            plan_name: plan.into(),
            credits_amount: if plan == "Enterprise" { 100_000 } else { 5000 },
            price_cents: price,
            currency: "usd".into(),
            payment_method: method,
            notes: Some("please".into()),
            client_key: Some(format!("key_{key}_0123456789abcdef")),
        })
        .await
        .unwrap();
    assert!(created);
    o
}

fn ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect()
}

async fn the_list_filters_and_pages_without_gaps_or_repeats(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let w = world(app).await;
    let store = w.store();
    let bob = common::user(store, "Bob@Example.com").await.user_id();
    let mut all = Vec::new();
    let mut bobs = Vec::new();
    let mut manual = Vec::new();
    for i in 0..57 {
        let (u, method) = match i % 3 {
            0 => (bob, "whop"),
            1 => (w.ann_id, "manual"),
            _ => (w.ann_id, "whop"),
        };
        let o = new_order(store, u, &format!("o{i}"), method, "Starter", 750).await;
        if u == bob {
            bobs.push(o.id);
        }
        if method == "manual" {
            manual.push(o.id);
        }
        all.push(o.id);
    }
    // One failed Whop order and one rejected manual one.
    assert!(store
        .fail_order(atlas_credits::model::OrderId(all[2]), "card declined")
        .await
        .unwrap());
    let (s, _) = w
        .call(
            "admin_reject_order",
            &[("id", &manual[0].to_string()), ("reason", "no budget")],
        )
        .await;
    assert_eq!(s, 200);
    all.reverse();
    bobs.reverse();
    manual.reverse();

    // Every page in turn: newest first, each order exactly once.
    let mut seen = Vec::new();
    let mut before: Option<i64> = None;
    loop {
        let b = before.map(|b| b.to_string());
        let mut form = vec![];
        if let Some(b) = &b {
            form.push(("before", b.as_str()));
        }
        let (s, page) = w.call("admin_list_orders", &form).await;
        assert_eq!(s, 200, "{page}");
        assert!(ids(&page).len() <= 25);
        seen.extend(ids(&page));
        match page["next_before"].as_i64() {
            Some(n) => before = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, all, "no gaps, no repeats, newest first");

    // Filters, each alone and combined; the email in any case.
    let (_, page) = w.call("admin_list_orders", &[("email", "bob@EXAMPLE.com")]).await;
    assert_eq!(ids(&page), bobs);
    assert!(page["items"][0]["user_email"] == "Bob@Example.com");
    let (_, page) = w
        .call("admin_list_orders", &[("method", "manual"), ("status", "pending")])
        .await;
    assert_eq!(ids(&page), manual[..manual.len() - 1].to_vec());
    assert_eq!(page["queue_count"], 18, "19 manual orders, one rejected");
    let (_, page) = w.call("admin_list_orders", &[("status", "rejected")]).await;
    assert_eq!(ids(&page), vec![*manual.last().unwrap()]);
    let (_, page) = w.call("admin_list_orders", &[("payment_status", "failed")]).await;
    assert_eq!(ids(&page), vec![all[all.len() - 3]]);
    let (_, page) = w
        .call(
            "admin_list_orders",
            &[("payment_status", "failed"), ("method", "manual")],
        )
        .await;
    assert_eq!(ids(&page), Vec::<i64>::new());
    let (_, page) = w.call("admin_list_orders", &[("email", "nobody@example.com")]).await;
    assert_eq!(ids(&page), Vec::<i64>::new());
    let today = chrono::Utc::now().date_naive();
    let (d0, d1) = (today.to_string(), (today - chrono::Duration::days(1)).to_string());
    let (_, page) = w.call("admin_list_orders", &[("from", &d0), ("to", &d0)]).await;
    assert_eq!(ids(&page).len(), 25);
    let (_, page) = w.call("admin_list_orders", &[("to", &d1)]).await;
    assert_eq!(ids(&page), Vec::<i64>::new());
    // "All" and empty mean no filter.
    let (_, page) = w.call("admin_list_orders", &[("method", "all"), ("status", "")]).await;
    assert_eq!(ids(&page), all[..25].to_vec());

    // Bad filters are refused with a message, not ignored.
    for (k, v) in [
        ("payment_status", "bogus"),
        ("status", "paid; drop table users"),
        ("method", "cash"),
        ("from", "2026-13-01"),
        ("to", "yesterday"),
        ("from", "+20000-01-01"),
        ("email", "a\u{0}b@example.com"),
    ] {
        let (s, body) = w.call("admin_list_orders", &[(k, v)]).await;
        assert_eq!(s, 400, "{k}={v:?}: {body}");
    }
    let (s, _) = w.call("admin_list_orders", &[("from", &d0), ("to", &d1)]).await;
    assert_eq!(s, 400, "from after to");
    let (s, _) = w.call("admin_list_orders", &[("before", "99999999999999999999")]).await;
    assert_eq!(s, 400, "a cursor beyond i64");
    for name in ["admin_get_order", "admin_reject_order"] {
        let (s, _) = w.call(name, &[("id", "abc"), ("reason", "x")]).await;
        assert_eq!(s, 400, "{name} with a bad id");
    }
}

async fn approving_grants_once_and_the_timeline_shows_it(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let w = world(app).await;
    let store = w.store();
    let o = new_order(store, w.ann_id, "starter", "manual", "Starter", 750).await;
    let id = o.id.to_string();

    // Without the confirm box, or without a reason: nothing happens.
    let (s, _) = w
        .call("admin_approve_order", &[("id", &id), ("reason", "paid by invoice")])
        .await;
    assert_eq!(s, 400);
    let (s, _) = w
        .call(
            "admin_approve_order",
            &[("id", &id), ("reason", "  "), ("confirm", "yes")],
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = w
        .call(
            "admin_approve_order",
            &[("id", &id), ("reason", "bad\nline"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(s, 400);
    // A price is only for a custom-priced order.
    let (s, _) = w
        .call(
            "admin_approve_order",
            &[("id", &id), ("price", "5.00"), ("reason", "x"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(w.order(o.id).await.status, "pending");
    assert_eq!(w.balance(w.ann_id).await, Credits(0));
    assert_eq!(w.audit_count(&format!("order:{}", o.id)).await, 0);

    let form = [("id", id.as_str()), ("reason", "paid by invoice 7"), ("confirm", "yes")];
    // A double submit: two at once, then a third later. One grant.
    let (a, b) = tokio::join!(
        w.call("admin_approve_order", &form),
        w.call("admin_approve_order", &form)
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
    let (s, body) = w.call("admin_approve_order", &form).await;
    assert_eq!(s, 409);
    assert!(body.to_string().contains("approved already"), "{body}");
    assert_eq!(w.balance(w.ann_id).await, Credits(5000));
    let rows = store.list_transactions(w.ann_id, None, 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].kind.as_str(),
            rows[0].source_kind.as_str(),
            rows[0].source_id.clone()
        ),
        ("manual_grant", "order", id.clone())
    );
    assert_eq!(rows[0].actor, format!("admin:{}", w.admin_id));
    assert_eq!(rows[0].order_id, Some(o.id));
    let after = w.order(o.id).await;
    assert_eq!(
        (after.status.as_str(), after.payment_status.as_str()),
        ("approved", "paid")
    );
    assert!(after.paid_at.is_some() && after.credited_at.is_some());
    assert_eq!(after.reviewed_by, Some(format!("admin:{}", w.admin_id)));
    let audit = store.audit_for(&format!("order:{}", o.id), 10).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, "order.approve");
    assert_eq!(audit[0].actor, format!("admin:{}", w.admin_id));
    assert!(audit[0].after_value.as_deref().unwrap().contains("\"approved\""));

    // The timeline: created, paid, credited, reviewed, the audit line and the ledger row, in time order.
    let (s, detail) = w.call("admin_get_order", &[("id", &id)]).await;
    assert_eq!(s, 200, "{detail}");
    let sources: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources[0], "order");
    for want in ["ledger", "audit"] {
        assert!(sources.contains(&want), "{sources:?}");
    }
    let times: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["at"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "in time order");
    assert_eq!(detail["reviewable"], false);
    assert_eq!(detail["user_balance"], 5000);
    assert!(detail.to_string().contains("paid by invoice 7"));

    // Unknown ids: 404 and nothing written.
    for name in ["admin_get_order", "admin_reject_order"] {
        let (s, _) = w.call(name, &[("id", "999999"), ("reason", "x")]).await;
        assert_eq!(s, 404, "{name}");
    }
    let (s, _) = w
        .call(
            "admin_approve_order",
            &[("id", "999999"), ("reason", "x"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = w
        .call(
            "admin_approve_order",
            &[("id", "-1"), ("reason", "x"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(s, 404);
    // A Whop order is never approved by hand.
    let whop = new_order(store, w.ann_id, "whop1", "whop", "Starter", 750).await;
    let (s, body) = w
        .call(
            "admin_approve_order",
            &[("id", &whop.id.to_string()), ("reason", "x"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(s, 409);
    assert!(body.to_string().contains("only a manual order"), "{body}");
    assert_eq!(w.balance(w.ann_id).await, Credits(5000));
    assert_eq!(w.order(whop.id).await.status, "pending");
}

async fn a_custom_price_is_recorded_and_bad_prices_change_nothing(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let w = world(app).await;
    let o = new_order(w.store(), w.ann_id, "ent", "manual", "Enterprise", 0).await;
    let id = o.id.to_string();
    for bad in [
        "-5",
        "0",
        "0.00",
        "10000000.01",
        "99999999999999999999",
        "1.234",
        "abc",
        "1e5",
        "$",
        "1,250.00\0",
    ] {
        let (s, body) = w
            .call(
                "admin_approve_order",
                &[("id", &id), ("price", bad), ("reason", "deal"), ("confirm", "yes")],
            )
            .await;
        assert_eq!(s, 400, "{bad:?}: {body}");
    }
    assert_eq!(w.order(o.id).await, o, "nothing changed");
    assert_eq!(w.balance(w.ann_id).await, Credits(0));

    let (s, body) = w
        .call(
            "admin_approve_order",
            &[
                ("id", &id),
                ("price", "$1,250.00"),
                ("reason", "deal signed"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert!(body.as_str().unwrap().contains("$1,250.00"), "{body}");
    let after = w.order(o.id).await;
    assert_eq!(after.price_cents, 125_000);
    assert_eq!(after.payment_status, "paid");
    assert_eq!(w.balance(w.ann_id).await, Credits(100_000));
    let (_, detail) = w.call("admin_get_order", &[("id", &id)]).await;
    assert_eq!(detail["item"]["price"], "$1,250.00");
}

async fn rejecting_shows_the_reason_to_the_user(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let w = world(app).await;
    let o = new_order(w.store(), w.ann_id, "rej", "manual", "Enterprise", 0).await;
    let id = o.id.to_string();
    for bad in ["", "tab\there", &"x".repeat(501)] {
        let (s, _) = w.call("admin_reject_order", &[("id", &id), ("reason", bad)]).await;
        assert_eq!(s, 400, "{bad:?}");
    }
    assert_eq!(w.order(o.id).await, o);

    let (s, body) = w
        .call(
            "admin_reject_order",
            &[("id", &id), ("reason", "We only sell to companies")],
        )
        .await;
    assert_eq!(s, 200, "{body}");
    // Once only; and a rejected order is never approved afterwards.
    let (s, _) = w.call("admin_reject_order", &[("id", &id), ("reason", "again")]).await;
    assert_eq!(s, 409);
    let (s, _) = w
        .call(
            "admin_approve_order",
            &[("id", &id), ("reason", "oops"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(w.balance(w.ann_id).await, Credits(0));
    assert_eq!(w.audit_count(&format!("order:{id}")).await, 1);
    let after = w.order(o.id).await;
    assert_eq!(after.status, "rejected");
    assert_eq!(after.review_note.as_deref(), Some("We only sell to companies"));

    // The user sees it on /credits and /account (their own server functions).
    let (s, page) = call(&w.app, &w.ann, "get_credits_page", &[]).await;
    assert_eq!(s, 200);
    let mine = &page["orders"][0];
    assert_eq!(mine["state"]["state"], "rejected");
    assert_eq!(mine["state"]["reason"], "We only sell to companies");
    let (_, account) = call(&w.app, &w.ann, "get_account", &[]).await;
    assert_eq!(account["requests"][0]["state"]["reason"], "We only sell to companies");
    // And in the pages' HTML.
    for path in ["/credits", "/account"] {
        let html = w
            .ann
            .client
            .get(w.app.url(path))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("Reason: We only sell to companies"), "{path}");
    }
    // A Whop order cannot be rejected.
    let whop = new_order(w.store(), w.ann_id, "whoprej", "whop", "Starter", 750).await;
    let (s, _) = w
        .call("admin_reject_order", &[("id", &whop.id.to_string()), ("reason", "x")])
        .await;
    assert_eq!(s, 409);
    assert_eq!(w.order(whop.id).await, whop);
}

async fn adjustments_never_overdraw_and_post_once_per_form(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let w = world(app).await;
    let key1 = "0123456789abcdef0123456789abcdef-adjust-0";
    let form = |credits: &'static str, key: &'static str| {
        vec![
            ("email", "ANN@example.com"),
            ("credits", credits),
            ("reason", "goodwill"),
            ("key", key),
            ("confirm", "yes"),
        ]
    };
    let (s, body) = w.call("admin_adjust_credits", &form("1,500", key1)).await;
    assert_eq!(s, 200, "{body}");
    assert!(body.as_str().unwrap().starts_with("Posted +1500"), "{body}");
    // The same form again (a double submit): posted once.
    let (s, body) = w.call("admin_adjust_credits", &form("1,500", key1)).await;
    assert_eq!(s, 200);
    assert!(body.as_str().unwrap().starts_with("Already posted"), "{body}");
    assert_eq!(w.balance(w.ann_id).await, Credits(1500));
    // The same key with another amount: refused.
    let (s, _) = w.call("admin_adjust_credits", &form("200", key1)).await;
    assert_eq!(s, 409);

    // By user id (the order page's form), negative; never below zero.
    let uid = w.ann_id.0.to_string();
    let by_id = |credits: &'static str, key: &'static str| {
        vec![
            ("user_id", uid.clone()),
            ("credits", credits.to_string()),
            ("reason", "correction".to_string()),
            ("key", key.to_string()),
            ("confirm", "yes".to_string()),
        ]
    };
    let (s, body) = call_owned(&w, by_id("-1501", "key-two-0123456789")).await;
    assert_eq!(s, 400, "{body}");
    assert!(body.to_string().contains("Not enough credits"), "{body}");
    assert_eq!(w.balance(w.ann_id).await, Credits(1500));
    let (s, _) = call_owned(&w, by_id("-1500", "key-three-0123456789")).await;
    assert_eq!(s, 200);
    assert_eq!(w.balance(w.ann_id).await, Credits(0));

    // Bad input: 4xx and nothing posted.
    for (credits, key, email, confirm) in [
        ("0", "key-bad-0123456789a", "ann@example.com", "yes"),
        ("99999999999999", "key-bad-0123456789b", "ann@example.com", "yes"),
        ("1000000001", "key-bad-0123456789c", "ann@example.com", "yes"),
        ("12.5", "key-bad-0123456789d", "ann@example.com", "yes"),
        ("--5", "key-bad-0123456789e", "ann@example.com", "yes"),
        ("5", "short", "ann@example.com", "yes"),
        ("5", "key with spaces 0123456789", "ann@example.com", "yes"),
        ("5", "key-bad-0123456789f", "nobody@example.com", "yes"),
        ("5", "key-bad-0123456789g", "ann@example.com", "no"),
    ] {
        let (s, body) = w
            .call(
                "admin_adjust_credits",
                &[
                    ("email", email),
                    ("credits", credits),
                    ("reason", "r"),
                    ("key", key),
                    ("confirm", confirm),
                ],
            )
            .await;
        assert_eq!(s, 400, "{credits} {key} {email} {confirm}: {body}");
    }
    let (s, _) = w
        .call(
            "admin_adjust_credits",
            &[
                ("email", "ann@example.com"),
                ("credits", "5"),
                ("reason", "nul\0"),
                ("key", "key-bad-0123456789h"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(s, 400);
    let mut unknown = by_id("5", "key-bad-0123456789i");
    unknown[0].1 = "424242".into();
    let (s, _) = call_owned(&w, unknown).await;
    assert_eq!(s, 404);
    assert_eq!(w.balance(w.ann_id).await, Credits(0));
    let rows = w.store().list_transactions(w.ann_id, None, 10).await.unwrap();
    assert_eq!(rows.len(), 2, "+1500 and -1500 only");
    assert!(rows
        .iter()
        .all(|r| r.kind == "admin_adjustment" && r.actor == format!("admin:{}", w.admin_id)));
    let audit = w.store().audit_for(&format!("user:{}", w.ann_id.0), 10).await.unwrap();
    assert_eq!(audit.len(), 2, "one audit line per posted adjustment");
    assert!(audit.iter().all(|a| a.action == "user.adjust_credits"));
}

async fn a_refund_is_asked_of_whop_and_credits_fall_when_it_lands(db: Db) {
    let Some(app) = TestApp::spawn_simulated(db).await else {
        return;
    };
    let shop = SimShop::open(&app).await;
    let w = world(app).await;
    let (o, url) = shop.order(&w.app, w.ann_id, "refund", true).await;
    press(&w.app, &url, "pay").await;
    wait_for(&w, w.ann_id, Credits(25_000)).await;
    let id = o.id.to_string();

    // A manual-order style refusal first: more than was paid, a bad amount, no confirmation.
    for (amount, confirm, want) in [("32.51", "yes", 400), ("-1", "yes", 400), ("16.25", "no", 400)] {
        let (s, body) = w
            .call(
                "admin_refund_order",
                &[
                    ("id", &id),
                    ("amount", amount),
                    ("reason", "asked"),
                    ("confirm", confirm),
                ],
            )
            .await;
        assert_eq!(s, want, "{amount}: {body}");
    }
    let (s, body) = w
        .call(
            "admin_refund_order",
            &[
                ("id", &id),
                ("amount", "16.25"),
                ("reason", "half unused"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert!(body.as_str().unwrap().contains("when Whop confirms"), "{body}");
    // Credits move only when Whop's webhook lands: half of them.
    wait_for(&w, w.ann_id, Credits(12_500)).await;
    let after = w.order(o.id).await;
    assert_eq!(after.payment_status, "partially_refunded");
    let audit = w.store().audit_for(&format!("order:{id}"), 10).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, "order.refund_requested");
    assert_eq!(audit[0].actor, format!("admin:{}", w.admin_id));
    let (_, detail) = w.call("admin_get_order", &[("id", &id)]).await;
    let sources: Vec<String> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["source"].as_str().unwrap().to_string())
        .collect();
    for want in ["webhook", "ledger", "refund", "audit"] {
        assert!(sources.iter().any(|s| s == want), "{want} in {sources:?}");
    }
    assert_eq!(detail["refundable"], "$16.25");
    // A manual order is not refundable through Whop.
    let m = new_order(w.store(), w.ann_id, "man", "manual", "Starter", 750).await;
    let (s, _) = w
        .call(
            "admin_refund_order",
            &[("id", &m.id.to_string()), ("reason", "x"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(s, 409);
}

async fn a_full_refund_without_an_amount_takes_back_every_credit(db: Db) {
    let Some(app) = TestApp::spawn_simulated(db).await else {
        return;
    };
    let shop = SimShop::open(&app).await;
    let w = world(app).await;
    let (o, url) = shop.order(&w.app, w.ann_id, "full", true).await;
    press(&w.app, &url, "pay").await;
    wait_for(&w, w.ann_id, Credits(25_000)).await;
    let id = o.id.to_string();
    let form = [("id", id.as_str()), ("reason", "not wanted"), ("confirm", "yes")];

    // No amount: all that is left, the whole $32.50.
    let (s, body) = w.call("admin_refund_order", &form).await;
    assert_eq!(s, 200, "{body}");
    assert!(body.as_str().unwrap().contains("refund $32.50 of order"), "{body}");
    wait_for(&w, w.ann_id, Credits(0)).await;
    let after = w.order(o.id).await;
    assert_eq!(after.payment_status, "refunded");
    let (_, detail) = w.call("admin_get_order", &[("id", &id)]).await;
    assert_eq!(detail["item"]["payment_status"], "refunded", "{detail}");
    assert_eq!(detail["refundable"], Value::Null, "nothing left to refund");
    let rows = w.store().list_transactions(w.ann_id, None, 10).await.unwrap();
    assert_eq!(
        (rows[0].kind.as_str(), rows[0].amount, rows[0].order_id),
        ("refund_clawback", -25_000, Some(o.id))
    );
    let audit = w.store().audit_for(&format!("order:{id}"), 10).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(
        (audit[0].action.as_str(), audit[0].actor.clone()),
        ("order.refund_requested", format!("admin:{}", w.admin_id))
    );
    assert!(audit[0]
        .after_value
        .as_deref()
        .unwrap()
        .contains("\"requested_cents\":3250"));

    // Nothing is left: a second full refund is refused and changes nothing.
    let (s, body) = w.call("admin_refund_order", &form).await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(w.balance(w.ann_id).await, Credits(0));
    assert_eq!(w.audit_count(&format!("order:{id}")).await, 1);
}

async fn call_owned(w: &World, f: Vec<(&'static str, String)>) -> (u16, Value) {
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    w.call("admin_adjust_credits", &f).await
}

/// Waits (up to 20 s) for the user's balance to reach `want`, as webhooks arrive.
async fn wait_for(w: &World, u: UserId, want: Credits) {
    for _ in 0..200 {
        if w.balance(u).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("balance never reached {want}: {}", w.balance(u).await);
}
