//! `atlas-credits webhook-endpoints add|list|disable`: registers the host app's webhook endpoints
//! from a shell (the admin page does the same). `add` prints the id and the signing secret, which
//! is shown only this once.

use clap::Subcommand;

use crate::server::config::Config;
use crate::server::service::host_webhooks;
use crate::server::store::{self, ConnectOptions};

#[derive(Debug, Subcommand)]
pub enum EndpointCommand {
    /// Register an endpoint and print its id and signing secret (shown only now).
    Add {
        #[arg(long)]
        url: String,
        /// Comma-separated event types, e.g. credits.purchased,balance.low. Default: all but
        /// credits.spent.
        #[arg(long)]
        events: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// List the endpoints (never their secrets).
    List,
    /// Disable an endpoint: no new events reach it and its pending deliveries wait.
    Disable { id: i64 },
    /// Enable a disabled endpoint again; its waiting deliveries resume.
    Enable { id: i64 },
}

pub async fn run(config: Config, command: EndpointCommand) -> anyhow::Result<()> {
    let store = store::connect(&ConnectOptions::from(&config)).await?;
    store.migrate().await?;
    let result = match command {
        EndpointCommand::Add {
            url,
            events,
            description,
        } => {
            let events = events.unwrap_or_else(|| host_webhooks::DEFAULT_EVENT_TYPES.join(","));
            host_webhooks::create_endpoint(
                store.as_ref(),
                "cli",
                &url,
                config.host_webhook_destinations,
                &[events],
                description.as_deref(),
            )
            .await
            .map(|(secret, row)| {
                eprintln!(
                    "Webhook endpoint {} created for {} ({}). Its signing secret is shown only now:",
                    row.id, row.url, row.event_types
                );
                println!("id: {}", row.id);
                println!("secret: {secret}");
            })
        }
        EndpointCommand::List => store.list_host_endpoints().await.map_err(Into::into).map(|rows| {
            if rows.is_empty() {
                eprintln!("No webhook endpoints.");
            }
            for r in rows {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    r.id,
                    if r.enabled { "enabled" } else { "disabled" },
                    r.url,
                    r.event_types,
                    r.description.unwrap_or_default()
                );
            }
        }),
        EndpointCommand::Disable { id } => host_webhooks::set_enabled(store.as_ref(), "cli", id, false)
            .await
            .map(|()| eprintln!("Webhook endpoint {id} disabled.")),
        EndpointCommand::Enable { id } => host_webhooks::set_enabled(store.as_ref(), "cli", id, true)
            .await
            .map(|()| eprintln!("Webhook endpoint {id} enabled.")),
    };
    store.close().await;
    Ok(result?)
}
