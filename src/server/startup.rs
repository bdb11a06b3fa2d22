//! The one start-up path, used by `serve` and by the tests: from the typed configuration and a
//! bound listener to a running app: the store (connected and migrated), the Whop setup, the
//! state, the router and the background jobs. `run_until_stopped` serves until the shutdown
//! future resolves, lets requests in flight finish, stops the jobs (waiting for a step in
//! flight, up to a limit) and closes the database.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

use crate::model::WhopMode;
use crate::server::config::{redact_url, Config, WhopConfig};
use crate::server::jobs::{AlertDelivery, HostWebhooks, Housekeeping, Jobs, Reconcile, SimDelivery, WebhookApply};
use crate::server::router;
use crate::server::serve::{self, ServeLimits};
use crate::server::state::{AppState, WebSettings};
use crate::server::store::{self, ConnectOptions, Store};
use crate::server::whop::WhopSetup;

/// How long shutdown waits for background jobs to finish the step they are in.
pub const JOB_STOP_LIMIT: Duration = Duration::from_secs(10);

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    jobs: Jobs,
    limits: ServeLimits,
}

impl Application {
    /// Builds everything the app serves with. Fails (before anything is served) on a database
    /// that cannot be reached or migrated, and on test mode where it is not allowed.
    pub async fn build(config: &Config, listener: TcpListener) -> anyhow::Result<Application> {
        // Refused before the database is touched (checked again, cheaply, by the common path).
        config.check_test_mode(listener.local_addr()?)?;
        let store = store::connect(&ConnectOptions::from(config)).await?;
        Self::build_with_store(config, listener, store).await
    }

    /// `build` on a store the caller connected: the seam through which the simulation test
    /// wraps the real store in one that fails on purpose. Migrates it, then the same start-up
    /// as `build` (which calls this), so there is one path, not a copy.
    pub async fn build_with_store(
        config: &Config,
        listener: TcpListener,
        store: Arc<dyn Store>,
    ) -> anyhow::Result<Application> {
        let leptos_options = config.leptos_options()?;
        let addr = listener.local_addr()?;
        config.check_test_mode(addr)?;

        store.migrate().await?;
        tracing::info!(
            database = %redact_url(&config.database_url),
            backend = store.backend().as_str(),
            schema = store.schema_version().await?,
            "database ready"
        );

        // In test mode the simulator sends its webhooks to the app's own address.
        let own_base = config.public_url.clone().unwrap_or_else(|| own_base_url(addr));
        let (whop, webhook_secrets) = WhopSetup::start(
            &config.whop,
            &config.limits,
            store.clone(),
            &own_base,
            &config.whop_webhook_secrets,
        )
        .await?;
        announce_whop_mode(config, &whop, &own_base);
        if webhook_secrets.is_empty() {
            tracing::warn!("WHOP_WEBHOOK_SECRET is not set: webhook deliveries will be refused with 503");
        }

        let state = AppState {
            leptos_options,
            store: store.clone(),
            webhook_secrets: Arc::new(webhook_secrets),
            web: Arc::new(WebSettings::from_config(config)),
            whop: Arc::new(whop),
            checkout: Arc::default(),
        };
        let router = router::build(state.clone());

        let mut jobs = Jobs::new();
        jobs.spawn(Housekeeping::new(store.clone()));
        jobs.spawn(WebhookApply::new(store.clone()));
        // Always: with no endpoint registered its step is one indexed read.
        jobs.spawn(HostWebhooks::new(store.clone(), config.host_webhook_destinations)?);
        if let Some(sim) = &state.whop.simulator {
            jobs.spawn(SimDelivery::new(sim.clone()));
        }
        if let Some(every) = config.reconcile_interval {
            jobs.spawn(Reconcile::new(store.clone(), state.whop.clone(), every));
        }
        if let Some(url) = &config.admin_alert_webhook_url {
            jobs.spawn(AlertDelivery::new(store.clone(), url.clone())?);
        }

        Ok(Application {
            listener,
            router,
            state,
            jobs,
            limits: config.limits.serve,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound TCP listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The background jobs running, by name.
    pub fn job_names(&self) -> Vec<&'static str> {
        self.jobs.names()
    }

    /// Serves until `shutdown` resolves, then drains requests, stops the jobs and closes the store.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let Application {
            listener,
            router,
            state,
            jobs,
            limits,
        } = self;
        let (fired, stop_jobs) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            shutdown.await;
            let _ = fired.send(());
        };
        // Our own accept loop: axum::serve has no header or body deadlines (see serve.rs).
        let serving = serve::serve(listener, router, limits, signal);
        // Jobs stop as soon as the signal comes (or the server fails), while requests drain.
        let stopping = async move {
            let _ = stop_jobs.await;
            jobs.shutdown(JOB_STOP_LIMIT).await
        };
        let (served, _) = tokio::join!(serving, stopping);
        tracing::info!("shutting down: closing the database");
        state.store.close().await;
        served?;
        Ok(())
    }
}

/// Says loudly which Whop this instance takes money through.
fn announce_whop_mode(config: &Config, whop: &WhopSetup, own_base: &str) {
    match (whop.mode, &config.whop) {
        (WhopMode::Simulated, WhopConfig::Simulated { explicit, .. }) => {
            let why = if *explicit {
                "WHOP_MODE=simulated"
            } else {
                "no WHOP_API_KEY (allowed by default on a loopback address only)"
            };
            tracing::warn!(
                "TEST MODE ({why}): payments go to the built-in Whop simulator at {own_base}/_sim/whop, \
                 whose checkout page pays for free. No real money moves."
            );
        }
        (WhopMode::Sandbox, _) => tracing::warn!(
            base_url = whop.client.base_url(),
            "Whop SANDBOX: real Whop API, test money only"
        ),
        (mode, _) => tracing::info!(?mode, base_url = whop.client.base_url(), "Whop LIVE: real payments"),
    }
}

/// `http://host:port` for reaching ourselves; an unspecified bind address (0.0.0.0) becomes loopback.
pub fn own_base_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    // SocketAddr's Display puts IPv6 addresses in brackets, as a URL needs.
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn own_base_url_is_a_url_for_every_bind_address() {
        let url = |a: &str| super::own_base_url(a.parse().unwrap());
        assert_eq!(url("0.0.0.0:3000"), "http://127.0.0.1:3000");
        assert_eq!(url("[::]:3000"), "http://[::1]:3000");
        assert_eq!(url("[::1]:80"), "http://[::1]:80");
        assert_eq!(url("10.0.0.5:8080"), "http://10.0.0.5:8080");
    }
}
