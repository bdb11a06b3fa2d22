//! API keys made and revoked by an admin over the server functions, on both backends: each
//! change writes one audit line naming the admin and the key (never its secret), and a refused
//! request (a bad name, a key revoked already) writes none.

use crate::common;

use atlas_credits::server::store::AuditRow;
use common::auth::Browser;
use common::{Db, TestApp};
use reqwest::StatusCode;

both_backends!(creating_and_revoking_a_key_is_audited);

async fn audit(app: &TestApp, subject: &str) -> Vec<AuditRow> {
    app.db.store.audit_for(subject, 10).await.unwrap()
}

async fn creating_and_revoking_a_key_is_audited(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let (root, admin) = Browser::sign_up_admin(&app, "root@example.com").await;
    let actor = format!("admin:{}", admin.id);
    let audit_before = app.db.store.list_audit(100).await.unwrap().len();

    let (s, _) = root.call_fn(&app, "admin_create_api_key", &[("name", "  ")]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(app.db.store.list_audit(100).await.unwrap().len(), audit_before);

    let (s, created) = root
        .call_fn(&app, "admin_create_api_key", &[("name", "host app")])
        .await;
    assert_eq!(s, StatusCode::OK, "{created}");
    let id = created["view"]["id"].as_i64().unwrap();
    let secret = created["key"].as_str().unwrap();
    let subject = format!("api_key:{id}");
    let lines = audit(&app, &subject).await;
    assert_eq!(lines.len(), 1);
    assert_eq!((lines[0].action.as_str(), &lines[0].actor), ("api_key.create", &actor));
    let after = lines[0].after_value.as_deref().unwrap();
    assert!(after.contains("host app") && !after.contains(secret), "{after}");

    let (s, body) = root
        .call_fn(&app, "admin_revoke_api_key", &[("id", &id.to_string())])
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let lines = audit(&app, &subject).await;
    assert_eq!(lines.len(), 2);
    assert_eq!((lines[0].action.as_str(), &lines[0].actor), ("api_key.revoke", &actor));

    // Revoked already: refused, nothing more audited.
    let (s, _) = root
        .call_fn(&app, "admin_revoke_api_key", &[("id", &id.to_string())])
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(audit(&app, &subject).await.len(), 2);
}
