//! Background jobs: the app starts the ones its configuration calls for, and each job's step
//! does its work when called directly (no sleeping for a loop to come round).

use crate::common;

use std::time::Duration;

use atlas_credits::server::jobs::housekeeping::HousekeepingReport;
use atlas_credits::server::jobs::{Housekeeping, Job, SimDelivery};
use atlas_credits::server::store::{NewApiKey, NewSimDelivery};
use atlas_credits::server::whop::simulator::{DeliveryReport, Simulator};
use chrono::Utc;
use common::{Db, TestApp, TestDb};
use secrecy::SecretString;

async fn the_app_runs_the_jobs_its_configuration_calls_for(db: Db) {
    let Some(live) = TestApp::spawn(db).await else { return };
    assert_eq!(live.jobs, ["housekeeping", "webhook_apply", "host_webhooks"]);
    drop(live);
    let Some(sim) = TestApp::spawn_simulated(db).await else {
        return;
    };
    assert_eq!(
        sim.jobs,
        [
            "housekeeping",
            "webhook_apply",
            "host_webhooks",
            "whop_simulator_delivery"
        ]
    );
}

async fn housekeeping_deletes_expired_sessions_and_ended_rate_limit_windows(db: Db) {
    // A bare database, not a running app: the app's own housekeeping step at start-up would race
    // this test for the rows it made.
    let Some(test_db) = TestDb::new(db).await else { return };
    let store = test_db.store.clone();
    let user = common::user(store.as_ref(), "ann@example.com").await;
    let now = Utc::now();
    store
        .create_session("expired", user.user_id(), now - chrono::Duration::seconds(1), None)
        .await
        .unwrap();
    store
        .create_session("live", user.user_id(), now + chrono::Duration::days(1), None)
        .await
        .unwrap();

    // A window that began two hours ago has ended (the longest is an hour); one from now has not.
    let now_unix = now.timestamp();
    store.rate_limit_hit("test:old", now_unix - 7200, 300).await.unwrap();
    store.rate_limit_hit("test:current", now_unix, 300).await.unwrap();

    // Widget tokens are kept a day past their expiry (a page open overnight says "expired", not
    // "unknown"), then removed.
    let key = store
        .create_api_key(&NewApiKey {
            name: "atlas".into(),
            key_hash: "hash".into(),
            key_prefix: "ak_".into(),
            created_by: "cli".into(),
        })
        .await
        .unwrap();
    for (hash, expires) in [("old", -49), ("recent", -1), ("open", 1)] {
        store
            .create_widget_token(
                hash,
                user.user_id(),
                key.id,
                now - chrono::Duration::hours(50),
                now + chrono::Duration::hours(expires),
            )
            .await
            .unwrap();
    }

    let job = Housekeeping::new(store.clone());
    let report = job.run_once().await.unwrap();
    assert_eq!(
        report,
        HousekeepingReport {
            expired_sessions: 1,
            expired_sign_in_links: 0,
            ended_rate_limit_windows: 1,
            expired_widget_tokens: 1,
        }
    );
    assert!(job.is_noteworthy(&report));
    assert!(store.session_user("live", now).await.unwrap().is_some());
    assert!(store.widget_token_user("open", now).await.unwrap().is_some());
    assert!(
        store.widget_token_user("recent", now).await.unwrap().is_none(),
        "expired: refused"
    );
    // Nothing left to do: an idle step.
    let again = job.run_once().await.unwrap();
    assert_eq!(again, HousekeepingReport::default());
    assert!(!job.is_noteworthy(&again));
}

/// One step of the simulator's delivery job sends what is due, signed, and reports it.
async fn a_simulator_delivery_step_sends_what_is_due(db: Db) {
    // The simulator keeps its state in a database of its own here, and signs with a known secret
    // that the receiving app accepts.
    let Some(sim_db) = TestDb::new(db).await else { return };
    sim_db
        .store
        .setting_or_insert("whop_sim_webhook_secret", "ws_known_to_the_app")
        .await
        .unwrap();
    let Some(app) = TestApp::spawn_with_secrets(db, vec![SecretString::from("ws_known_to_the_app".to_string())]).await
    else {
        return;
    };
    let sim = Simulator::start(sim_db.store.clone(), &app.base, vec![Duration::from_secs(60)], None)
        .await
        .unwrap();
    let job = SimDelivery::new(sim.clone());
    assert_eq!(job.run_once().await.unwrap(), DeliveryReport::default(), "empty queue");

    for (id, due) in [
        ("msg_due", Utc::now()),
        ("msg_later", Utc::now() + chrono::Duration::hours(1)),
    ] {
        sim_db
            .store
            .sim_enqueue(&NewSimDelivery {
                webhook_id: id.into(),
                event_type: "payment.succeeded".into(),
                payload: format!(r#"{{"type":"payment.succeeded","data":{{"id":"pay_{id}"}}}}"#),
                status: "pending",
                due_at: due,
            })
            .await
            .unwrap();
    }
    let report = job.run_once().await.unwrap();
    assert_eq!(
        report,
        DeliveryReport {
            delivered: 1,
            ..Default::default()
        }
    );
    let stored = app.db.store.list_webhook_events().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].0, "msg_due");
    // Delivered once: the next step has nothing due.
    assert_eq!(job.run_once().await.unwrap(), DeliveryReport::default());
}

both_backends!(
    the_app_runs_the_jobs_its_configuration_calls_for,
    housekeeping_deletes_expired_sessions_and_ended_rate_limit_windows,
    a_simulator_delivery_step_sends_what_is_due,
);
