//! Command line: `serve` (the default) and `migrate`. Reads `.env`, then the typed config; a bad
//! value stops here with the variable's name, before anything starts.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::model::WhopMode;
use crate::server::config::{redact_url, Config};
use crate::server::state::{AppState, WebSettings};
use crate::server::store::{self, ConnectOptions};
use crate::server::whop::WhopSetup;
use crate::server::{router, telemetry};

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
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // A missing .env is normal; a malformed one is worth a word.
    if let Err(e) = dotenvy::dotenv() {
        if !e.not_found() {
            eprintln!("warning: .env could not be read: {e}");
        }
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
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
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

async fn serve(config: Config) -> anyhow::Result<()> {
    let leptos_options = config.leptos_options()?;
    let addr = leptos_options.site_addr;

    let store = store::connect(&ConnectOptions::from(&config)).await?;
    store.migrate().await?;
    tracing::info!(
        database = %redact_url(&config.database_url),
        backend = store.backend().as_str(),
        schema = store.schema_version().await?,
        "database ready"
    );
    // Bind first: in test mode the simulator needs the app's own address.
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let own_base = config
        .public_url
        .clone()
        .unwrap_or_else(|| own_base_url(listener.local_addr().unwrap_or(addr)));
    let (whop, webhook_secrets) =
        WhopSetup::start(&config.whop, store.clone(), &own_base, &config.whop_webhook_secrets).await?;
    match whop.mode {
        WhopMode::Simulated => tracing::warn!(
            "TEST MODE: no WHOP_API_KEY, so payments go to the built-in Whop simulator at {own_base}/_sim/whop"
        ),
        mode => tracing::info!(?mode, base_url = whop.client.base_url(), "Whop API configured"),
    }
    if webhook_secrets.is_empty() {
        tracing::warn!("WHOP_WEBHOOK_SECRET is not set: webhook deliveries will be refused with 503");
    }

    let state = AppState {
        leptos_options,
        store: store.clone(),
        webhook_secrets: Arc::new(webhook_secrets),
        web: Arc::new(WebSettings::from_config(&config)),
        whop: Arc::new(whop),
    };
    let app = router::build(state);
    spawn_housekeeping(store.clone());

    tracing::info!("listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;

    tracing::info!("shutting down: closing the database");
    store.close().await;
    Ok(())
}

/// Deletes expired sessions every hour (they are refused anyway; this keeps the table small).
fn spawn_housekeeping(store: Arc<dyn crate::server::store::Store>) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            every.tick().await;
            match store.delete_expired_sessions(chrono::Utc::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(sessions = n, "expired sessions deleted"),
                Err(e) => tracing::warn!(error = %e, "could not delete expired sessions"),
            }
        }
    });
}

/// `http://host:port` for reaching ourselves; an unspecified bind address (0.0.0.0) becomes loopback.
fn own_base_url(addr: std::net::SocketAddr) -> String {
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        addr.ip().to_string()
    };
    format!("http://{host}:{}", addr.port())
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
