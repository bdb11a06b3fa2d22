//! `atlas-credits import --users users.csv --orders orders.csv`: reads the files (each at most
//! the reader's size limit), then `service::import` validates every row and writes all of it in
//! one transaction. Prints what it created and what was there already.

use std::path::PathBuf;

use crate::server::config::Config;
use crate::server::service::import::{self, Input};
use crate::server::store::{self, ConnectOptions};

fn read(path: &PathBuf) -> anyhow::Result<Input> {
    let limit = import::csv::Limits::default().max_file_bytes as u64;
    let meta = std::fs::metadata(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    anyhow::ensure!(
        meta.len() <= limit,
        "{}: larger than {limit} bytes; split it",
        path.display()
    );
    let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(Input {
        name: path.display().to_string(),
        bytes,
    })
}

pub async fn run(config: Config, users: Option<PathBuf>, orders: Option<PathBuf>) -> anyhow::Result<()> {
    anyhow::ensure!(
        users.is_some() || orders.is_some(),
        "give --users FILE, --orders FILE or both"
    );
    let users = users.as_ref().map(read).transpose()?;
    let orders = orders.as_ref().map(read).transpose()?;
    let store = store::connect(&ConnectOptions::from(&config)).await?;
    store.migrate().await?;
    let result = import::run(store.as_ref(), users.as_ref(), orders.as_ref()).await;
    store.close().await;
    let counts = result.map_err(|e| anyhow::anyhow!("import stopped, nothing was written: {e}"))?;
    println!("{}", import::summary(&counts));
    Ok(())
}
