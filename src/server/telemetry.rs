//! Logging: readable lines by default, one JSON object per line with `LOG_FORMAT=json`,
//! level and filters from `RUST_LOG` (default `info`). Logs go to stderr, so the commands that
//! print a result (create-api-key) keep stdout for it alone.

use tracing_subscriber::{fmt, EnvFilter};

use crate::server::config::LogFormat;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_writer(std::io::stderr);
    // try_init: tests may have installed a subscriber already.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
    };
}
