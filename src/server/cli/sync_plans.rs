//! `atlas-credits sync-plans`: makes Whop match every local plan (see `service::plan_sync`) and
//! prints one line per plan; each plan it changed on Whop is audited (actor `cli`). Idempotent: a
//! second run only reads from Whop, writes no audit line, and says so.

use crate::server::config::Config;
use crate::server::service::checkout::KeyedLocks;
use crate::server::service::plan_sync::{sync_all, PlanReport};
use crate::server::store::{self, ConnectOptions};
use crate::server::whop::WhopSetup;

pub async fn run(config: Config) -> anyhow::Result<()> {
    let store = store::connect(&ConnectOptions::from(&config)).await?;
    store.migrate().await?;
    // In test mode the client asks the running server's simulator (its key is in the database),
    // as `reconcile` does.
    let site = config.leptos_options()?.site_addr;
    let own_base = config
        .public_url
        .clone()
        .unwrap_or_else(|| crate::server::startup::own_base_url(site));
    let (whop, _) = WhopSetup::start(&config.whop, &config.limits, store.clone(), &own_base, &[]).await?;
    // "cli": the actor of every command run on the server (as `create-api-key` records it).
    let result = sync_all(store.as_ref(), &whop, &KeyedLocks::default(), "cli").await;
    store.close().await;
    let reports = result?;
    println!(
        "Syncing {} plans with Whop at {}",
        reports.len(),
        whop.client.base_url()
    );
    for r in &reports {
        println!("{}", line(r));
    }
    let failed = reports.iter().filter(|r| r.outcome.is_err()).count();
    let changed = reports
        .iter()
        .filter(|r| r.outcome.as_ref().is_ok_and(|a| a.changed_whop()))
        .count();
    anyhow::ensure!(failed == 0, "{failed} plans failed: run sync-plans again later");
    if changed == 0 {
        println!("Nothing changed on Whop: every plan already matches.");
    } else {
        println!("{changed} plans changed on Whop.");
    }
    Ok(())
}

fn line(r: &PlanReport) -> String {
    let whop_id = r.whop_plan_id.as_deref().unwrap_or("-");
    match &r.outcome {
        Ok(action) => format!("plan #{} {:?} ({whop_id}): {}", r.plan_id, r.name, action.describe()),
        Err(e) => format!("plan #{} {:?} ({whop_id}): FAILED: {e}", r.plan_id, r.name),
    }
}
