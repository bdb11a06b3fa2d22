//! Captures everything the app logs while a test holds a `Capture` (at debug, the app's own code
//! at trace), for tests that check what must never reach a log line.
//!
//! One subscriber serves the whole test binary, installed on first use with its filter off: the
//! other tests in the binary must not pay for trace-level formatting, nor fill the buffer. A
//! capture turns the filter on and empties the buffer; dropping it turns the filter off again.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

const CAPTURED: &str = "debug,atlas_credits=trace";

struct Global {
    buf: Arc<Mutex<Vec<u8>>>,
    filter: reload::Handle<EnvFilter, Registry>,
}

fn global() -> &'static Global {
    static GLOBAL: OnceLock<Global> = OnceLock::new();
    GLOBAL.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let (filter, handle) = reload::Layer::new(EnvFilter::new("off"));
        tracing_subscriber::registry()
            .with(filter)
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(move || Sink(sink.clone())),
            )
            .try_init()
            .expect("no other subscriber in this test binary");
        Global { buf, filter: handle }
    })
}

/// Logs captured from now until the value is dropped.
pub struct Capture {
    buf: Arc<Mutex<Vec<u8>>>,
}

pub fn captured() -> Capture {
    let g = global();
    g.buf.lock().unwrap().clear();
    g.filter.reload(EnvFilter::new(CAPTURED)).expect("subscriber alive");
    Capture { buf: g.buf.clone() }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let g = global();
        let _ = g.filter.reload(EnvFilter::new("off"));
        g.buf.lock().unwrap().clear();
    }
}

/// What was captured so far, as text.
pub fn text(logs: &Capture) -> String {
    String::from_utf8_lossy(&logs.buf.lock().unwrap()).into_owned()
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
