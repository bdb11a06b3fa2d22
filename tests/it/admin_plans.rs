//! Admins' plans over real HTTP on both backends, against the Whop simulator: creating, editing
//! and archiving push to Whop (the simulator's stored plan objects are checked), a custom price
//! stays off Whop, a failed push keeps the local change and Retry fixes it, past orders keep
//! their price, bad input changes nothing, and `sync-plans` run twice changes nothing on Whop the
//! second time (through the service it calls, and once through the built binary).

use crate::common;

use std::sync::Arc;

use atlas_credits::server::service::checkout::KeyedLocks;
use atlas_credits::server::service::plan_sync::{self, SyncAction};
use atlas_credits::server::service::plans::{self, PlanInput};
use atlas_credits::server::store::{AuditRow, PlanRow, Store};
use atlas_credits::server::whop::client::WhopClient;
use atlas_credits::server::whop::http::{ClientConfig, RetryPolicy};
use atlas_credits::server::whop::WhopSetup;
use common::auth::Browser;
use common::{Db, TestApp};
use reqwest::StatusCode;
use serde_json::Value;

both_backends!(
    create_edit_and_archive_push_to_whop,
    custom_price_plans_stay_off_whop,
    a_failed_push_keeps_the_change_and_retry_fixes_it,
    a_whop_that_refuses_connections_marks_the_plan_failed,
    editing_a_plan_never_changes_past_orders,
    bad_input_changes_nothing,
    sync_plans_twice_changes_nothing_the_second_time,
    the_sync_plans_command_asks_the_running_servers_simulator,
);

async fn call(b: &Browser, app: &TestApp, endpoint: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    b.call_fn(app, endpoint, form).await
}

async fn plan(app: &TestApp, name: &str) -> PlanRow {
    app.db.store.plan_by_name(name).await.unwrap().unwrap()
}

async fn sim_plan(app: &TestApp, id: &str) -> Value {
    let row = app.db.store.sim_get("plan", id).await.unwrap().unwrap();
    serde_json::from_str(&row.data).unwrap()
}

/// Every Whop plan the simulator holds, as stored (updated_at included).
async fn sim_plans(app: &TestApp) -> Vec<(String, String)> {
    let rows = app.db.store.sim_list("plan", 0, 1000).await.unwrap();
    rows.into_iter().map(|r| (r.id, r.data)).collect()
}

fn form<'a>(name: &'a str, credits: &'a str, price: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("name", name),
        ("credits", credits),
        ("price", price),
        ("currency", "usd"),
        ("sort_order", "40"),
    ]
}

async fn audit_actions(app: &TestApp, subject: &str) -> Vec<(String, String)> {
    let rows = app.db.store.list_audit(100).await.unwrap();
    rows.into_iter()
        .filter(|a| a.subject == subject)
        .map(|a| (a.action, a.actor))
        .rev()
        .collect()
}

/// The same Whop setup, pointed at a port nothing listens on, without retries.
fn unreachable_whop(app: &TestApp) -> WhopSetup {
    let mut cc = ClientConfig::new("http://127.0.0.1:9/api/v1", "sk_unused".to_string().into());
    cc.retry = RetryPolicy {
        max_attempts: 1,
        ..RetryPolicy::default()
    };
    let mut whop = (*app.state.whop).clone();
    whop.client = WhopClient::new(cc).unwrap();
    whop
}

async fn create_edit_and_archive_push_to_whop(db: Db) {
    let Some(app) = TestApp::spawn_simulated(db).await else {
        return;
    };
    let (b, root) = Browser::sign_up_admin(&app, "root@example.com").await;
    let actor = format!("admin:{}", root.id);

    let (s, msg) = call(&b, &app, "admin_create_plan", &form("Mega", "1,000,000", "99.00")).await;
    assert_eq!(s, 200, "{msg}");
    assert!(msg.as_str().unwrap().contains("created on Whop"), "{msg}");
    let p = plan(&app, "Mega").await;
    assert_eq!(
        (p.credits_amount, p.price_cents, p.sort_order),
        (1_000_000, Some(9900), 40)
    );
    assert_eq!((p.sync_status.as_str(), p.sync_error.as_deref()), ("synced", None));
    let first = p.whop_plan_id.clone().unwrap();
    let w = sim_plan(&app, &first).await;
    assert_eq!(
        (
            w["title"].as_str(),
            w["initial_price"].as_f64(),
            w["visibility"].as_str(),
            w["plan_type"].as_str()
        ),
        (Some("Mega"), Some(99.0), Some("hidden"), Some("one_time"))
    );

    // A new name is patched onto the same Whop plan.
    let id = p.id.to_string();
    let mut f = form("Mega Pack", "1000000", "99");
    f.push(("id", &id));
    let (s, msg) = call(&b, &app, "admin_update_plan", &f).await;
    assert_eq!(s, 200, "{msg}");
    assert!(msg.as_str().unwrap().contains("updated on Whop"), "{msg}");
    let p = plan(&app, "Mega Pack").await;
    assert_eq!((p.whop_plan_id.as_deref(), p.revision), (Some(first.as_str()), 0));
    assert_eq!(sim_plan(&app, &first).await["title"], "Mega Pack");

    // A new price is a new Whop plan; the old one is archived, never deleted.
    let mut f = form("Mega Pack", "1000000", "89.50");
    f.push(("id", &id));
    let (s, msg) = call(&b, &app, "admin_update_plan", &f).await;
    assert_eq!(s, 200, "{msg}");
    let p = plan(&app, "Mega Pack").await;
    let second = p.whop_plan_id.clone().unwrap();
    assert_ne!(second, first);
    assert_eq!(
        (p.revision, p.whop_plan_revision, p.sync_status.as_str()),
        (1, 1, "synced")
    );
    let w = sim_plan(&app, &second).await;
    assert_eq!(
        (w["initial_price"].as_f64(), w["visibility"].as_str()),
        (Some(89.5), Some("hidden"))
    );
    assert_eq!(sim_plan(&app, &first).await["visibility"], "archived");

    // It is on /credits; archived, it is not, and its Whop plan is archived.
    let buyer = Browser::sign_up(&app, "buyer@example.com").await;
    let on_sale = |v: &Value| v["plans"].as_array().unwrap().iter().any(|p| p["name"] == "Mega Pack");
    let (_, page) = call(&buyer, &app, "get_credits_page", &[]).await;
    assert!(on_sale(&page), "{page}");
    let (s, msg) = call(&b, &app, "admin_set_plan_active", &[("id", &id), ("active", "false")]).await;
    assert_eq!(s, 200, "{msg}");
    assert!(!plan(&app, "Mega Pack").await.active);
    assert_eq!(sim_plan(&app, &second).await["visibility"], "archived");
    let (_, page) = call(&buyer, &app, "get_credits_page", &[]).await;
    assert!(!on_sale(&page), "{page}");
    let (s, _) = call(&b, &app, "admin_set_plan_active", &[("id", &id), ("active", "true")]).await;
    assert_eq!(s, 200);
    assert_eq!(sim_plan(&app, &second).await["visibility"], "hidden");

    // Listed for the admin with its state; every change audited with the admin as actor.
    let (s, list) = call(&b, &app, "admin_list_plans", &[]).await;
    assert_eq!(s, 200);
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Mega Pack")
        .unwrap()
        .clone();
    assert_eq!(
        (row["sync_status"].as_str(), row["price_input"].as_str()),
        (Some("synced"), Some("89.50"))
    );
    let subject = format!("plan:{id}");
    assert_eq!(
        audit_actions(&app, &subject).await,
        [
            "plan.create",
            "plan.update",
            "plan.update",
            "plan.archive",
            "plan.restore"
        ]
        .map(|a| (a.to_string(), actor.clone()))
    );
    let audit = app.db.store.list_audit(100).await.unwrap();
    let price_change = audit
        .iter()
        .filter(|a| a.subject == subject && a.action == "plan.update")
        .max_by_key(|a| a.id)
        .unwrap();
    let before: Value = serde_json::from_str(price_change.before_value.as_deref().unwrap()).unwrap();
    let after: Value = serde_json::from_str(price_change.after_value.as_deref().unwrap()).unwrap();
    assert_eq!(
        (before["price_cents"].as_i64(), after["price_cents"].as_i64()),
        (Some(9900), Some(8950))
    );
}

async fn custom_price_plans_stay_off_whop(db: Db) {
    let Some(app) = TestApp::spawn_simulated(db).await else {
        return;
    };
    let (b, _) = Browser::sign_up_admin(&app, "root@example.com").await;
    let before = sim_plans(&app).await.len();
    let (s, msg) = call(&b, &app, "admin_create_plan", &form("Bespoke", "500000", "custom")).await;
    assert_eq!(s, 200, "{msg}");
    let p = plan(&app, "Bespoke").await;
    assert_eq!(
        (p.price_cents, p.sync_status.as_str(), p.whop_plan_id.as_deref()),
        (None, "manual", None)
    );
    assert_eq!(sim_plans(&app).await.len(), before, "nothing made on Whop");

    // A priced plan turned custom: its Whop plan is archived and it is sold by request only.
    let (_, _) = call(&b, &app, "admin_create_plan", &form("Turned", "10", "1.00")).await;
    let p = plan(&app, "Turned").await;
    let whop_id = p.whop_plan_id.clone().unwrap();
    let id = p.id.to_string();
    let mut f = form("Turned", "10", "custom");
    f.push(("id", &id));
    let (s, msg) = call(&b, &app, "admin_update_plan", &f).await;
    assert_eq!(s, 200, "{msg}");
    assert_eq!(plan(&app, "Turned").await.sync_status, "manual");
    assert_eq!(sim_plan(&app, &whop_id).await["visibility"], "archived");
}

async fn a_failed_push_keeps_the_change_and_retry_fixes_it(db: Db) {
    let Some(app) = TestApp::spawn_simulated(db).await else {
        return;
    };
    let (b, root) = Browser::sign_up_admin(&app, "root@example.com").await;
    let store = app.db.store.as_ref();
    let broken = unreachable_whop(&app);
    let locks = KeyedLocks::default();
    let input = PlanInput {
        name: "Flaky".into(),
        credits: "777".into(),
        price: "3.00".into(),
        currency: "usd".into(),
        sort_order: "5".into(),
    };
    let saved = plans::create(store, &broken, &locks, &root, &input).await.unwrap();
    assert!(saved.whop.is_err(), "{:?}", saved.whop);
    let p = plan(&app, "Flaky").await;
    assert_eq!(
        (p.sync_status.as_str(), p.credits_amount, p.whop_plan_id.as_deref()),
        ("failed", 777, None)
    );
    assert!(
        p.sync_error
            .as_deref()
            .is_some_and(|e| e.contains("could not be reached")),
        "{:?}",
        p.sync_error
    );

    // The admin sees it failed, with the message, and retries against the working Whop.
    let (_, list) = call(&b, &app, "admin_list_plans", &[]).await;
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Flaky")
        .unwrap()
        .clone();
    assert_eq!(row["sync_status"], "failed");
    assert!(row["sync_error"].as_str().is_some());
    let (s, msg) = call(&b, &app, "admin_retry_plan_sync", &[("id", &p.id.to_string())]).await;
    assert_eq!(s, 200, "{msg}");
    let p = plan(&app, "Flaky").await;
    assert_eq!((p.sync_status.as_str(), p.sync_error.as_deref()), ("synced", None));
    let w = sim_plan(&app, p.whop_plan_id.as_deref().unwrap()).await;
    assert_eq!(w["initial_price"].as_f64(), Some(3.0));
    assert!(audit_actions(&app, &format!("plan:{}", p.id))
        .await
        .iter()
        .any(|(a, _)| a == "plan.sync"));

    // A failed price change keeps the new price here and never sells the old one: the next
    // purchase pushes the new price first (the lazy push is the same code path).
    let edit = PlanInput {
        price: "4.00".into(),
        ..input.clone()
    };
    let saved = plans::edit(store, &broken, &locks, &root, p.id, &edit).await.unwrap();
    assert!(saved.whop.is_err());
    let failed = plan(&app, "Flaky").await;
    assert_eq!(
        (failed.sync_status.as_str(), failed.price_cents, failed.revision),
        ("failed", Some(400), 1)
    );
    let buyer = Browser::sign_up(&app, "buyer@example.com").await;
    let (s, url) = call(
        &buyer,
        &app,
        "start_checkout",
        &[("plan_id", &p.id.to_string()), ("client_key", "key-flakyflakyflaky")],
    )
    .await;
    assert_eq!(s, 200, "{url}");
    let p = plan(&app, "Flaky").await;
    assert_eq!((p.sync_status.as_str(), p.whop_plan_revision), ("synced", 1));
    assert_eq!(
        sim_plan(&app, p.whop_plan_id.as_deref().unwrap()).await["initial_price"].as_f64(),
        Some(4.0)
    );
}

async fn a_whop_that_refuses_connections_marks_the_plan_failed(db: Db) {
    // Not simulated: the configured Whop is a closed port.
    let Some(app) = TestApp::spawn(db).await else { return };
    let (b, _) = Browser::sign_up_admin(&app, "root@example.com").await;
    let (s, msg) = call(&b, &app, "admin_create_plan", &form("Offline", "100", "2.00")).await;
    assert_eq!(s, 200, "the local plan is saved: {msg}");
    assert!(msg.as_str().unwrap().contains("pushing it to Whop failed"), "{msg}");
    let p = plan(&app, "Offline").await;
    assert_eq!(p.sync_status, "failed");
    assert!(p.sync_error.is_some());
    let (s, _) = call(&b, &app, "admin_retry_plan_sync", &[("id", &p.id.to_string())]).await;
    assert_eq!(s, 200);
    assert_eq!(
        plan(&app, "Offline").await.sync_status,
        "failed",
        "still failing, still kept"
    );
}

async fn editing_a_plan_never_changes_past_orders(db: Db) {
    let Some(app) = TestApp::spawn_simulated(db).await else {
        return;
    };
    let (b, _) = Browser::sign_up_admin(&app, "root@example.com").await;
    let buyer = Browser::sign_up(&app, "buyer@example.com").await;
    let starter = plan(&app, "Starter").await;
    let id = starter.id.to_string();
    let (s, url) = call(
        &buyer,
        &app,
        "start_checkout",
        &[("plan_id", &id), ("client_key", "key-pastpastpastpast")],
    )
    .await;
    assert_eq!(s, 200, "{url}");
    let store = app.db.store.as_ref();
    let u = store.user_by_email("buyer@example.com").await.unwrap().unwrap();
    let before = store.list_user_orders(u.user_id(), 10).await.unwrap();
    assert_eq!(before.len(), 1);

    let mut f = form("Starter Plus", "6000", "9.00");
    f.push(("id", &id));
    let (s, msg) = call(&b, &app, "admin_update_plan", &f).await;
    assert_eq!(s, 200, "{msg}");
    let (s, _) = call(&b, &app, "admin_set_plan_active", &[("id", &id), ("active", "false")]).await;
    assert_eq!(s, 200);

    let after = store.list_user_orders(u.user_id(), 10).await.unwrap();
    assert_eq!(after, before, "the order keeps what it copied");
    let o = &after[0];
    assert_eq!(
        (o.plan_name.as_str(), o.credits_amount, o.price_cents),
        ("Starter", 5000, 750)
    );
    // Its checkout's Whop plan still charges the old price (archived, not changed).
    let w = sim_plan(&app, o.whop_plan_id.as_deref().unwrap()).await;
    assert_eq!(
        (w["initial_price"].as_f64(), w["visibility"].as_str()),
        (Some(7.5), Some("archived"))
    );
}

async fn bad_input_changes_nothing(db: Db) {
    let Some(app) = TestApp::spawn_simulated(db).await else {
        return;
    };
    let (b, _) = Browser::sign_up_admin(&app, "root@example.com").await;
    let store = app.db.store.as_ref();
    let plans_before = store.list_plans(true).await.unwrap();
    let audit_before = store.list_audit(1000).await.unwrap().len();
    let sim_before = sim_plans(&app).await;
    let long = "x".repeat(31);
    let cases: Vec<(Vec<(&str, &str)>, u16)> = vec![
        (form("", "10", "1"), 400),
        (form(&long, "10", "1"), 400),
        (form("Bad\u{0}Name", "10", "1"), 400),
        (form("Tab\tName", "10", "1"), 400),
        (form("Zero", "0", "1"), 400),
        (form("Negative", "-10", "1"), 400),
        (form("Huge", "99999999999999999999", "1"), 400),
        (form("Free", "10", "0"), 400),
        (form("Minus", "10", "-1.00"), 400),
        (form("Fraction", "10", "1.005"), 400),
        (form("Rich", "10", "100000.01"), 400),
        (form("Words", "10", "ten"), 400),
        (
            vec![
                ("name", "Yen"),
                ("credits", "10"),
                ("price", "1"),
                ("currency", "jpy"),
                ("sort_order", "0"),
            ],
            400,
        ),
        (
            vec![
                ("name", "Far"),
                ("credits", "10"),
                ("price", "1"),
                ("currency", "usd"),
                ("sort_order", "99999999999"),
            ],
            400,
        ),
        // Names are unique ignoring case.
        (form("starter", "10", "1"), 409),
    ];
    for (f, want) in &cases {
        let (s, body) = call(&b, &app, "admin_create_plan", f).await;
        assert_eq!(s.as_u16(), *want, "{f:?}: {body}");
        assert!(body.to_string().len() < 400, "a short clear message: {body}");
    }
    // Editing: a bad value, a name taken by another plan, a plan that does not exist.
    let pro = plan(&app, "Pro").await.id.to_string();
    let mut f = form("Starter", "10", "1");
    f.push(("id", &pro));
    assert_eq!(call(&b, &app, "admin_update_plan", &f).await.0, 409);
    let mut f = form("Pro", "0", "1");
    f.push(("id", &pro));
    assert_eq!(call(&b, &app, "admin_update_plan", &f).await.0, 400);
    let mut f = form("Ghost", "10", "1");
    f.push(("id", "999999"));
    assert_eq!(call(&b, &app, "admin_update_plan", &f).await.0, 404);
    let (s, _) = call(&b, &app, "admin_set_plan_active", &[("id", &pro), ("active", "maybe")]).await;
    assert_eq!(s, 400);
    let (s, _) = call(&b, &app, "admin_retry_plan_sync", &[("id", "999999")]).await;
    assert_eq!(s, 404);

    assert_eq!(store.list_plans(true).await.unwrap(), plans_before);
    assert_eq!(store.list_audit(1000).await.unwrap().len(), audit_before);
    assert_eq!(sim_plans(&app).await, sim_before);
}

/// The `plan.sync` audit lines written by `actor`, newest first.
async fn sync_audit(store: &dyn Store, actor: &str) -> Vec<AuditRow> {
    let rows = store.list_audit(1000).await.unwrap();
    rows.into_iter()
        .filter(|a| a.action == "plan.sync" && a.actor == actor)
        .collect()
}

async fn sync_plans_twice_changes_nothing_the_second_time(db: Db) {
    let Some(app) = TestApp::spawn_simulated(db).await else {
        return;
    };
    let store = app.db.store.as_ref();
    let locks = KeyedLocks::default();
    let actions = |r: &[plan_sync::PlanReport]| -> Vec<(String, SyncAction)> {
        r.iter()
            .map(|p| (p.name.clone(), *p.outcome.as_ref().unwrap()))
            .collect()
    };

    let first = plan_sync::sync_all(store, &app.state.whop, &locks, "test")
        .await
        .unwrap();
    assert_eq!(
        actions(&first),
        [
            ("Starter".to_string(), SyncAction::Created),
            ("Pro".to_string(), SyncAction::Created),
            ("Enterprise".to_string(), SyncAction::NotOnWhop)
        ]
    );
    let whop_after_first = sim_plans(&app).await;
    assert_eq!(whop_after_first.len(), 2);
    // One audit line per plan changed on Whop (Enterprise was not), by the run's actor.
    let syncs = sync_audit(store, "test").await;
    assert_eq!(syncs.len(), 2, "{syncs:?}");
    assert!(syncs
        .iter()
        .all(|a| a.after_value.as_deref().unwrap().contains("created on Whop")));
    let plans_after_first = store.list_plans(true).await.unwrap();

    let second = plan_sync::sync_all(store, &app.state.whop, &locks, "test")
        .await
        .unwrap();
    assert!(
        second.iter().all(|r| !r.outcome.as_ref().unwrap().changed_whop()),
        "{second:?}"
    );
    assert_eq!(sim_plans(&app).await, whop_after_first, "not one Whop object touched");
    assert_eq!(store.list_plans(true).await.unwrap(), plans_after_first);
    assert_eq!(sync_audit(store, "test").await.len(), 2, "no change, no audit line");

    // A plan archived here is archived on Whop by the next run, once.
    let pro = plan(&app, "Pro").await;
    let root = common::user(store, "root@example.com").await;
    plans::set_active(store, &unreachable_whop(&app), &locks, &root, pro.id, false)
        .await
        .unwrap();
    let third = plan_sync::sync_all(store, &app.state.whop, &locks, "test")
        .await
        .unwrap();
    assert!(actions(&third).contains(&("Pro".to_string(), SyncAction::Archived)));
    assert_eq!(
        sim_plan(&app, pro.whop_plan_id.as_deref().unwrap()).await["visibility"],
        "archived"
    );
    let whop_now = sim_plans(&app).await;
    let fourth = plan_sync::sync_all(store, &app.state.whop, &locks, "test")
        .await
        .unwrap();
    assert!(
        fourth.iter().all(|r| !r.outcome.as_ref().unwrap().changed_whop()),
        "{fourth:?}"
    );
    assert_eq!(sim_plans(&app).await, whop_now);
}

async fn the_sync_plans_command_asks_the_running_servers_simulator(db: Db) {
    let Some(app) = TestApp::spawn_simulated(db).await else {
        return;
    };
    let app = Arc::new(app);
    let run = || {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_atlas-credits"));
        c.arg("sync-plans")
            .env("DATABASE_URL", &app.db.url)
            .env("WHOP_MODE", "simulated")
            .env("PUBLIC_URL", &app.base)
            .env(
                "LEPTOS_CONFIG_FILE",
                concat!(env!("CARGO_MANIFEST_DIR"), "/Leptos.toml"),
            )
            .env_remove("WHOP_API_KEY")
            .env_remove("WHOP_SIM_API_KEY")
            .env_remove("RUST_LOG");
        // The server runs on this test's runtime: wait for the command off it.
        tokio::task::spawn_blocking(move || c.output().unwrap())
    };
    let out = run().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("plan #")).count(),
        3,
        "{stdout}"
    );
    assert!(
        stdout.contains("\"Starter\"") && stdout.contains("created on Whop"),
        "{stdout}"
    );
    assert!(stdout.contains("2 plans changed on Whop"), "{stdout}");
    assert!(stdout.contains(&app.base), "names the Whop it asked: {stdout}");
    let whop_before = sim_plans(&app).await;
    assert_eq!(whop_before.len(), 2);
    let store = app.db.store.as_ref();
    let subjects = |rows: Vec<AuditRow>| rows.into_iter().map(|a| a.subject).collect::<Vec<_>>();
    let mut audited = subjects(sync_audit(store, "cli").await);
    audited.sort();
    let mut changed = vec![
        format!("plan:{}", plan(&app, "Starter").await.id),
        format!("plan:{}", plan(&app, "Pro").await.id),
    ];
    changed.sort();
    assert_eq!(audited, changed, "one line per plan changed, by the CLI");

    let out = run().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("Nothing changed on Whop"), "{stdout}");
    assert_eq!(sim_plans(&app).await, whop_before);
    assert_eq!(
        sync_audit(store, "cli").await.len(),
        2,
        "a run that changes nothing audits nothing"
    );
}
