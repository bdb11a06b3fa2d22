//! Signing up and in over real HTTP, the way a browser does, for authorization tests.
#![allow(dead_code)]

use super::TestApp;

pub const PASSWORD: &str = "correct horse battery";

/// A browser-like client: keeps cookies, sends a same-site Origin.
pub struct Browser {
    pub client: reqwest::Client,
    pub origin: String,
}

impl Browser {
    pub fn new(app: &TestApp) -> Self {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap();
        Browser {
            client,
            origin: app.base.clone(),
        }
    }

    /// Calls a server function by its endpoint path with form-encoded arguments.
    pub async fn call(&self, app: &TestApp, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(app.url(path))
            .header("origin", &self.origin)
            .header("accept", "application/json")
            .form(form)
            .send()
            .await
            .unwrap()
    }

    pub async fn sign_up(app: &TestApp, email: &str) -> Browser {
        let b = Browser::new(app);
        let r = b
            .call(app, "/api/sign_up", &[("email", email), ("password", PASSWORD)])
            .await;
        assert!(
            r.status().is_success() || r.status().is_redirection(),
            "sign up failed: {} {}",
            r.status(),
            r.text().await.unwrap()
        );
        b
    }

    /// Signs up `email`, makes that account an admin, and returns its browser and row.
    pub async fn sign_up_admin(app: &TestApp, email: &str) -> (Browser, atlas_credits::server::store::UserRow) {
        let b = Browser::sign_up(app, email).await;
        let store = app.db.store.as_ref();
        let u = store.user_by_email(email).await.unwrap().unwrap();
        store
            .set_user_credentials(u.user_id(), "admin", u.password_hash.as_deref().unwrap())
            .await
            .unwrap();
        (b, store.user_by_email(email).await.unwrap().unwrap())
    }

    /// Calls server function `endpoint` and answers its status and body (JSON, or the text as a
    /// JSON string when it is not JSON).
    pub async fn call_fn(
        &self,
        app: &TestApp,
        endpoint: &str,
        form: &[(&str, &str)],
    ) -> (reqwest::StatusCode, serde_json::Value) {
        let r = self.call(app, &format!("/api/{endpoint}"), form).await;
        let status = r.status();
        let text = r.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        (status, body)
    }
}
