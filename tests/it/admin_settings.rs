//! The admin settings over real HTTP on both backends, against the simulator: the Whop switch and
//! the beta list change what /credits offers at once on this instance (the save clears its
//! cache), the low-balance threshold is stored through its one parser, which Whop the app talks
//! to is shown without a key, every change is audited with before and after, bad input
//! changes nothing, and an order already at Whop when the switch goes off still settles.

use crate::common;

use common::auth::Browser;
use common::sim_shop::press;
use common::{Db, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

both_backends!(
    the_switch_and_the_beta_list_change_what_credits_offers,
    the_threshold_and_the_whop_target,
    bad_settings_change_nothing,
    an_order_already_at_whop_still_settles_after_the_switch_is_off,
);

async fn call(b: &Browser, app: &TestApp, endpoint: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    b.call_fn(app, endpoint, form).await
}

async fn whop_offered(b: &Browser, app: &TestApp) -> bool {
    let (s, page) = call(b, app, "get_credits_page", &[]).await;
    assert_eq!(s, 200, "{page}");
    page["whop_enabled"].as_bool().unwrap()
}

/// The settings audit lines, oldest first: (subject, before, after).
async fn settings_audit(app: &TestApp) -> Vec<(String, Option<Value>, Option<Value>)> {
    let rows = app.db.store.list_audit(100).await.unwrap();
    let parse = |v: Option<String>| v.map(|t| serde_json::from_str::<Value>(&t).unwrap());
    rows.into_iter()
        .rev()
        .filter(|a| a.action == "settings.update")
        .map(|a| (a.subject, parse(a.before_value), parse(a.after_value)))
        .collect()
}

async fn the_switch_and_the_beta_list_change_what_credits_offers(db: Db) {
    let Some(app) = TestApp::spawn_simulated(db).await else {
        return;
    };
    let (root, admin_row) = Browser::sign_up_admin(&app, "root@example.com").await;
    let ann = Browser::sign_up(&app, "ann@example.com").await;
    let bob = Browser::sign_up(&app, "bob@example.com").await;
    // The cache is warm (read within its 3 s): the save must clear it for the change to show now.
    assert!(whop_offered(&ann, &app).await);

    let (s, msg) = call(&root, &app, "admin_set_whop_enabled", &[("enabled", "off")]).await;
    assert_eq!(s, 200, "{msg}");
    assert!(!whop_offered(&ann, &app).await, "off: the request flow only");
    let starter = app
        .db
        .store
        .plan_by_name("Starter")
        .await
        .unwrap()
        .unwrap()
        .id
        .to_string();
    let (s, body) = call(
        &ann,
        &app,
        "start_checkout",
        &[("plan_id", &starter), ("client_key", "key-offoffoffoffoff")],
    )
    .await;
    assert_eq!(s, 400, "{body}");
    let (_, view) = call(&root, &app, "admin_get_settings", &[]).await;
    assert_eq!(view["whop_enabled"], false);

    let (s, _) = call(&root, &app, "admin_set_whop_enabled", &[("enabled", "on")]).await;
    assert_eq!(s, 200);
    assert!(whop_offered(&ann, &app).await);

    // Only listed users see Buy (any case, any separator); signed-out visitors do not.
    let (s, msg) = call(
        &root,
        &app,
        "admin_set_whop_beta",
        &[("emails", " ANN@example.com\n\nzed@example.com, ann@example.com ")],
    )
    .await;
    assert_eq!(s, 200, "{msg}");
    assert!(msg.as_str().unwrap().contains("2 listed"), "{msg}");
    assert!(whop_offered(&ann, &app).await);
    assert!(!whop_offered(&bob, &app).await);
    assert!(!whop_offered(&Browser::new(&app), &app).await);
    let (_, view) = call(&root, &app, "admin_get_settings", &[]).await;
    assert_eq!(view["beta_emails"], json!(["ann@example.com", "zed@example.com"]));

    // Cleared: everyone again.
    let (s, _) = call(&root, &app, "admin_set_whop_beta", &[("emails", "  ")]).await;
    assert_eq!(s, 200);
    assert!(whop_offered(&bob, &app).await);

    let actor = format!("admin:{}", admin_row.id);
    let audit = settings_audit(&app).await;
    assert_eq!(
        audit,
        [
            (
                "setting:whop_payments_enabled".to_string(),
                None,
                Some(json!({ "value": "false" }))
            ),
            (
                "setting:whop_payments_enabled".to_string(),
                Some(json!({ "value": "false" })),
                Some(json!({ "value": "true" }))
            ),
            (
                "setting:whop_beta_emails".to_string(),
                None,
                Some(json!({ "value": "ann@example.com\nzed@example.com" }))
            ),
            (
                "setting:whop_beta_emails".to_string(),
                Some(json!({ "value": "ann@example.com\nzed@example.com" })),
                Some(json!({ "value": "" }))
            ),
        ]
    );
    let rows = app.db.store.list_audit(100).await.unwrap();
    assert!(rows
        .iter()
        .filter(|a| a.action == "settings.update")
        .all(|a| a.actor == actor));
}

async fn the_threshold_and_the_whop_target(db: Db) {
    let Some(app) = TestApp::spawn_simulated(db).await else {
        return;
    };
    let (root, _) = Browser::sign_up_admin(&app, "root@example.com").await;
    let (s, view) = call(&root, &app, "admin_get_settings", &[]).await;
    assert_eq!(s, 200, "{view}");
    assert_eq!(
        (view["low_balance_threshold"].as_i64(), view["whop_mode"].as_str()),
        (Some(1000), Some("simulated"))
    );
    assert!(view["whop_api_base"].as_str().unwrap().starts_with(&app.base), "{view}");
    assert!(
        !view.to_string().contains("sk_") && !view.to_string().to_lowercase().contains("key\""),
        "no key: {view}"
    );

    let (s, msg) = call(
        &root,
        &app,
        "admin_set_low_balance_threshold",
        &[("threshold", "2,500")],
    )
    .await;
    assert_eq!(s, 200, "{msg}");
    assert_eq!(
        app.db.store.setting("low_balance_threshold").await.unwrap().as_deref(),
        Some("2500")
    );
    let (_, view) = call(&root, &app, "admin_get_settings", &[]).await;
    assert_eq!(view["low_balance_threshold"], 2500);
    let (s, _) = call(&root, &app, "admin_set_low_balance_threshold", &[("threshold", "0")]).await;
    assert_eq!(s, 200);
    let audit = settings_audit(&app).await;
    assert_eq!(audit.len(), 2);
    assert_eq!(
        (audit[1].1.clone(), audit[1].2.clone()),
        (Some(json!({ "value": "2500" })), Some(json!({ "value": "0" })))
    );
}

async fn bad_settings_change_nothing(db: Db) {
    let Some(app) = TestApp::spawn_simulated(db).await else {
        return;
    };
    let (root, _) = Browser::sign_up_admin(&app, "root@example.com").await;
    let (_, before) = call(&root, &app, "admin_get_settings", &[]).await;
    let many: Vec<String> = (0..501).map(|i| format!("u{i}@example.com")).collect();
    let many = many.join("\n");
    let long = "a".repeat(70_000);
    let cases: Vec<(&str, &str, &str)> = vec![
        ("admin_set_whop_enabled", "enabled", "maybe"),
        ("admin_set_whop_enabled", "enabled", ""),
        ("admin_set_whop_beta", "emails", "ann@example.com, not-an-email"),
        ("admin_set_whop_beta", "emails", "ann@exa\u{0}mple.com"),
        ("admin_set_whop_beta", "emails", &many),
        ("admin_set_whop_beta", "emails", &long),
        ("admin_set_low_balance_threshold", "threshold", "-5"),
        ("admin_set_low_balance_threshold", "threshold", "1.5"),
        ("admin_set_low_balance_threshold", "threshold", "1000000001"),
        (
            "admin_set_low_balance_threshold",
            "threshold",
            "99999999999999999999999",
        ),
        ("admin_set_low_balance_threshold", "threshold", ""),
    ];
    for (endpoint, field, value) in cases {
        let (s, body) = call(&root, &app, endpoint, &[(field, value)]).await;
        assert_eq!(s, 400, "{endpoint} {:?}: {body}", value.get(..40.min(value.len())));
        assert!(body.to_string().len() < 300, "a short clear message: {body}");
    }
    let (_, after) = call(&root, &app, "admin_get_settings", &[]).await;
    assert_eq!(after, before);
    assert!(settings_audit(&app).await.is_empty());
}

async fn an_order_already_at_whop_still_settles_after_the_switch_is_off(db: Db) {
    let Some(app) = TestApp::spawn_simulated(db).await else {
        return;
    };
    let (root, _) = Browser::sign_up_admin(&app, "root@example.com").await;
    let ann = Browser::sign_up(&app, "ann@example.com").await;
    let store = app.db.store.as_ref();
    let pro = store.plan_by_name("Pro").await.unwrap().unwrap();
    let (s, url) = call(
        &ann,
        &app,
        "start_checkout",
        &[
            ("plan_id", &pro.id.to_string()),
            ("client_key", "key-at-whop-0123456789"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{url}");

    // Turned off while Ann is on Whop's checkout page: new checkouts stop, hers still pays.
    let (s, msg) = call(&root, &app, "admin_set_whop_enabled", &[("enabled", "off")]).await;
    assert_eq!(s, 200, "{msg}");
    assert!(!whop_offered(&ann, &app).await);
    press(&app, url.as_str().unwrap(), "pay").await;
    let ann_id = store.user_by_email("ann@example.com").await.unwrap().unwrap().user_id();
    for _ in 0..200 {
        if common::checked_balance(store, ann_id).await.get() == pro.credits_amount {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(common::checked_balance(store, ann_id).await.get(), pro.credits_amount);
    let orders = store.list_user_orders(ann_id, 10).await.unwrap();
    assert_eq!(orders.len(), 1);
    assert_eq!(
        (orders[0].payment_status.as_str(), orders[0].credited_at.is_some()),
        ("paid", true)
    );
    let rows = store.list_transactions(ann_id, None, 10).await.unwrap();
    assert_eq!((rows.len(), rows[0].kind.as_str()), (1, "purchase"), "credited once");
}
