//! Faults the simulated Whop API can be told to show (test mode only): answers held back, and
//! error answers instead of the real ones, so the app's behaviour when Whop is slow or failing
//! can be shown over real HTTP. Set with `PUT /_sim/whop/control/api`; all off by default.
//!
//! A held-back answer is processed first and sent late, as a slow Whop would: the object exists
//! at Whop even when the app has stopped waiting for it. An error answer changes nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Simulator;

/// The longest delay that can be set: past any timeout the app allows itself for a Whop call.
pub const MAX_LATENCY_MS: u64 = 120_000;

/// How the simulated API misbehaves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiFaults {
    /// Every answer (real or error) is sent this long after the request arrived.
    pub latency_ms: u64,
    /// Answer with this status instead: 429, 500, 502, 503 or 504. None: real answers.
    pub error_status: Option<u16>,
    /// With `error_status`, one request in this many gets it (1, or left out: every one; the
    /// first request after the faults are set is the first to fail). Counted, not random, so
    /// tests repeat.
    pub error_every: u32,
}

impl ApiFaults {
    /// The faults as a client asked for them, or why not.
    pub fn parse(bytes: &[u8]) -> Result<ApiFaults, String> {
        let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| format!("invalid body: {e}"))?;
        // serde would also read a struct from an array of its fields: only an object is meant.
        if !v.is_object() {
            return Err("the body must be a JSON object".into());
        }
        let mut f: ApiFaults = serde_json::from_value(v).map_err(|e| format!("invalid body: {e}"))?;
        if f.error_status.is_some() && f.error_every == 0 {
            f.error_every = 1;
        }
        if f.latency_ms > MAX_LATENCY_MS {
            return Err(format!("latency_ms must be at most {MAX_LATENCY_MS}"));
        }
        match f.error_status {
            None if f.error_every != 0 => Err("error_every needs error_status".into()),
            Some(s) if ![429, 500, 502, 503, 504].contains(&s) => {
                Err("error_status must be 429, 500, 502, 503 or 504".into())
            }
            _ => Ok(f),
        }
    }

    /// Whether request number `n` (counted from 0 since the faults were set) gets the error.
    fn fails(&self, n: u64) -> Option<StatusCode> {
        let status = StatusCode::from_u16(self.error_status?).ok()?;
        n.is_multiple_of(u64::from(self.error_every.max(1))).then_some(status)
    }
}

/// The faults in force and how many API requests have arrived since they were set.
#[derive(Default)]
pub(super) struct FaultState {
    faults: std::sync::Mutex<ApiFaults>,
    seen: AtomicU64,
}

impl FaultState {
    pub(super) fn get(&self) -> ApiFaults {
        *self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn set(&self, f: ApiFaults) {
        let mut guard = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        *guard = f;
        self.seen.store(0, Ordering::SeqCst);
    }

    fn next(&self) -> (ApiFaults, u64) {
        let f = self.get();
        (f, self.seen.fetch_add(1, Ordering::SeqCst))
    }
}

/// Middleware on the simulated API's routes.
pub(super) async fn inject(State(sim): State<Arc<Simulator>>, req: Request, next: Next) -> Response {
    let (faults, n) = sim.faults.next();
    let delay = Duration::from_millis(faults.latency_ms);
    let answer = match faults.fails(n) {
        Some(status) => {
            tracing::info!(%status, path = %req.uri().path(), "simulator injects a Whop error");
            let mut r = (
                status,
                Json(json!({ "error": { "code": "simulated_fault", "message": "Whop is unavailable (simulated fault)" } })),
            )
                .into_response();
            if status == StatusCode::TOO_MANY_REQUESTS {
                r.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
            }
            r
        }
        None => next.run(req).await,
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_sensible_faults_and_refuses_the_rest() {
        assert_eq!(ApiFaults::parse(b"{}"), Ok(ApiFaults::default()));
        let f = ApiFaults::parse(br#"{"latency_ms":1500,"error_status":503,"error_every":3}"#).unwrap();
        assert_eq!((f.latency_ms, f.error_status, f.error_every), (1500, Some(503), 3));
        let every = ApiFaults::parse(br#"{"error_status":429}"#).unwrap();
        assert_eq!(every.error_every, 1);
        for bad in [
            r#"{"latency_ms":120001}"#,
            r#"{"latency_ms":-1}"#,
            r#"{"error_status":200,"error_every":1}"#,
            r#"{"error_status":404,"error_every":1}"#,
            r#"{"error_every":2}"#,
            r#"{"error_status":503,"error_every":1,"extra":true}"#,
            r#"[]"#,
            r#"[0, 503, 1]"#,
        ] {
            assert!(ApiFaults::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_nth_request_fails_counting_from_the_first() {
        let f = ApiFaults {
            error_status: Some(503),
            error_every: 3,
            ..ApiFaults::default()
        };
        let failed: Vec<u64> = (0..7).filter(|&n| f.fails(n).is_some()).collect();
        assert_eq!(failed, [0, 3, 6]);
        assert_eq!(ApiFaults::default().fails(0), None);
    }
}
