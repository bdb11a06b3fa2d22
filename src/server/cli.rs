//! Command line: `serve` (the default) and `migrate`. Reads `.env`, then the typed config; a bad
//! value stops here with the variable's name, before anything starts.

mod import;
mod sync_plans;
mod webhook_endpoints;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::server::config::{redact_url, Config, ConfigError};
use crate::server::startup::Application;
use crate::server::store::{self, ConnectOptions};
use crate::server::{dotenv, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "atlas-credits",
    version,
    about = "Atlas Credits: prepaid credits sold through Whop, kept in an exact ledger"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Migrate the database, then serve the app (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create an admin, or reset an admin's password; either way its sessions end. The password
    /// comes from ATLAS_ADMIN_PASSWORD or a prompt (never from the command line).
    CreateAdmin {
        #[arg(long)]
        email: String,
        /// Also promote an existing non-admin account with this email (ending its sessions and
        /// replacing its password). Anyone can sign up with any email, so check who owns it first.
        #[arg(long)]
        promote_existing: bool,
    },
    /// Create an API key for the host app and print it (it is shown only this once).
    CreateApiKey {
        #[arg(long)]
        name: String,
    },
    /// Run one reconciliation pass now: ask Whop for the payments of pending orders and for
    /// every payment changed since the last pass (or since --since), apply what the webhooks
    /// missed, and print what was found and fixed. In test mode it asks the simulator of the
    /// running server (same database, at PUBLIC_URL or the site address).
    Reconcile {
        /// Read changes from this day (YYYY-MM-DD, UTC) or time (RFC 3339) instead of the
        /// last pass's watermark.
        #[arg(long)]
        since: Option<String>,
    },
    /// Create or update the Whop plan of every local plan with a price, and archive on Whop the
    /// plans archived here. A second run changes nothing on Whop and says so. In test mode it
    /// talks to the running server's simulator, like reconcile.
    SyncPlans,
    /// Load the legacy Atlas's users (with balances) and credit orders from CSV files (formats
    /// in the README), in one transaction; a second run changes nothing.
    Import {
        #[arg(long, value_name = "FILE")]
        users: Option<std::path::PathBuf>,
        #[arg(long, value_name = "FILE")]
        orders: Option<std::path::PathBuf>,
    },
    /// Manage the host app's webhook endpoints (signed deliveries of credit events to Atlas).
    WebhookEndpoints {
        #[command(subcommand)]
        command: webhook_endpoints::EndpointCommand,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // A missing .env is normal; a malformed one stops here, named by line number only (its
    // text may hold a secret).
    if let Err(e) = dotenv::load(std::path::Path::new(".env")) {
        eprintln!("atlas-credits: {e}");
        return ExitCode::from(2);
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("atlas-credits: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format);

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("atlas-credits: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(config).await,
            Command::Migrate => migrate(config).await,
            Command::CreateAdmin {
                email,
                promote_existing,
            } => create_admin(config, email, promote_existing).await,
            Command::CreateApiKey { name } => create_api_key(config, name).await,
            Command::Reconcile { since } => reconcile(config, since).await,
            Command::SyncPlans => sync_plans::run(config).await,
            Command::Import { users, orders } => import::run(config, users, orders).await,
            Command::WebhookEndpoints { command } => webhook_endpoints::run(config, command).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A configuration problem found at start-up (e.g. test mode where it is not allowed).
        Err(e) if e.downcast_ref::<ConfigError>().is_some() => {
            eprintln!("atlas-credits: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "atlas-credits stopped");
            eprintln!("atlas-credits: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let store = store::connect(&ConnectOptions::from(&config)).await?;
    store.migrate().await?;
    tracing::info!(database = %redact_url(&config.database_url), version = store.schema_version().await?, "migrations applied");
    store.close().await;
    Ok(())
}

async fn create_admin(config: Config, email: String, promote_existing: bool) -> anyhow::Result<()> {
    use crate::server::service::auth::{self, AdminOutcome};
    use secrecy::{ExposeSecret, SecretString};

    let email = auth::parse_email(&email)?;
    let store = store::connect(&ConnectOptions::from(&config)).await?;
    store.migrate().await?;
    // Refuse before asking for a password (the service checks again when it writes).
    if let Some(user) = store.user_by_email(&email).await? {
        if user.role != "admin" && !promote_existing {
            store.close().await;
            anyhow::bail!(refuse_promotion(&email, &user.role));
        }
    }
    let password = match std::env::var("ATLAS_ADMIN_PASSWORD").ok().filter(|p| !p.is_empty()) {
        Some(p) => SecretString::from(p),
        None => {
            let first = rpassword::prompt_password(format!("Password for {email}: "))?;
            let again = rpassword::prompt_password("Repeat the password: ")?;
            anyhow::ensure!(first == again, "the passwords differ");
            SecretString::from(first)
        }
    };
    auth::check_password_rules(password.expose_secret())?;
    let hash = auth::hash_password(password).await?;
    let outcome = auth::create_or_promote_admin(store.as_ref(), &email, &hash, promote_existing).await;
    store.close().await;
    match outcome? {
        AdminOutcome::Created(_) => println!("Created admin {email}"),
        AdminOutcome::Promoted { sessions_ended, .. } => {
            println!("Promoted {email} to admin; password replaced, {sessions_ended} session(s) ended")
        }
        AdminOutcome::PasswordReset { sessions_ended, .. } => {
            println!("Reset the password of admin {email}; {sessions_ended} session(s) ended")
        }
        AdminOutcome::NeedsPromoteExisting { role } => anyhow::bail!(refuse_promotion(&email, &role)),
    }
    Ok(())
}

fn refuse_promotion(email: &str, role: &str) -> String {
    format!(
        "{email} already has an account (role {role}) that create-admin did not make. Anyone can \
         sign up with any email address (no confirmation email is sent), so this account may not \
         belong to you. Check who owns it; to make it an admin anyway, re-run with \
         --promote-existing: its sessions will be ended and its password replaced."
    )
}

async fn create_api_key(config: Config, name: String) -> anyhow::Result<()> {
    use crate::server::service::api_keys;

    let store = store::connect(&ConnectOptions::from(&config)).await?;
    store.migrate().await?;
    let (key, row) = api_keys::create(store.as_ref(), &name, "cli").await?;
    store.close().await;
    eprintln!(
        "API key {:?} created (id {}). It is shown only now; store it as a secret:",
        row.name, row.id
    );
    println!("{key}");
    Ok(())
}

/// `--since`: a day (midnight UTC) or an RFC 3339 time, not in the future.
fn parse_since(raw: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    use chrono::{NaiveDate, TimeZone, Utc};
    let raw = raw.trim();
    let at = if let Ok(day) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight exists"))
    } else if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        t.with_timezone(&Utc)
    } else {
        anyhow::bail!("--since must be a day like 2026-11-01 or an RFC 3339 time");
    };
    anyhow::ensure!(at <= Utc::now(), "--since is in the future");
    Ok(at)
}

async fn reconcile(config: Config, since: Option<String>) -> anyhow::Result<()> {
    use crate::server::jobs::reconcile::{with_lease_renewed, LEASE, LEASE_TTL};
    use crate::server::service::reconcile::run_pass;
    use crate::server::whop::WhopSetup;

    let since = since.as_deref().map(parse_since).transpose()?;
    let store = store::connect(&ConnectOptions::from(&config)).await?;
    store.migrate().await?;
    // In test mode the client asks the running server's simulator (its key is in the database).
    let site = config.leptos_options()?.site_addr;
    let own_base = config
        .public_url
        .clone()
        .unwrap_or_else(|| crate::server::startup::own_base_url(site));
    let (whop, _) = WhopSetup::start(&config.whop, &config.limits, store.clone(), &own_base, &[]).await?;

    // One pass at a time across instances: wait for a server's pass to finish, or for the lease
    // of one that died in a pass to run out (LEASE_TTL).
    let holder = format!("cli-{}", std::process::id());
    let mut tries = 0;
    loop {
        let now = chrono::Utc::now();
        if store
            .take_lease(LEASE, &holder, now, now + chrono::Duration::from_std(LEASE_TTL)?)
            .await?
        {
            break;
        }
        tries += 1;
        anyhow::ensure!(
            tries < LEASE_TTL.as_secs() + 15,
            "another reconciliation pass is running; try again in a minute"
        );
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    let pass = run_pass(
        store.as_ref(),
        &whop.client,
        &whop.company_id,
        since,
        chrono::Utc::now(),
    );
    let result = with_lease_renewed(store.as_ref(), &holder, pass).await;
    store.release_lease(LEASE, &holder).await?;
    store.close().await;
    let s = result?;
    println!(
        "Reconciled against {}: {} payments checked; {} credited, {} failed, {} refunds clawed back, \
         {} dispute changes, {} unmatched (see /admin/unmatched), {} waiting for their payment, {} refused, {} errors",
        whop.client.base_url(),
        s.checked,
        s.credited,
        s.failed,
        s.clawed_back,
        s.disputes,
        s.unmatched,
        s.waiting,
        s.refused,
        s.errors
    );
    anyhow::ensure!(
        s.errors == 0,
        "{} errors: run reconcile again later (nothing was marked as read)",
        s.errors
    );
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let addr = config.leptos_options()?.site_addr;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let app = Application::build(&config, listener).await?;
    tracing::info!(jobs = ?app.job_names(), "listening on http://{}", app.local_addr());
    app.run_until_stopped(shutdown_signal()).await
}

/// Resolves on Ctrl-C or SIGTERM; in-flight requests then finish before the server stops.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("Ctrl-C received"),
        _ = terminate => tracing::info!("SIGTERM received"),
    }
}
