//! The host API's spend as its handler reads it: a JSON object with `amount`, `idempotency_key`
//! and `reason`, then the checks the service makes before anything is written (the external id,
//! the ledger entry and its reason). Nothing may panic; what passes is within the limits.
#![no_main]

use atlas_credits::model::{Credits, EntryKind, UserId};
use atlas_credits::server::service::host_users::{check_external_id, MAX_SPEND};
use atlas_credits::server::service::ledger::{Actor, LedgerEntry};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(serde_json::Value::Object(body)) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Some(id) = body.get("external_id").and_then(|v| v.as_str()) {
        let _ = check_external_id(id);
    }
    let (Some(amount), Some(key)) = (
        body.get("amount").and_then(|v| v.as_i64()),
        body.get("idempotency_key").and_then(|v| v.as_str()),
    ) else {
        return;
    };
    if !(1..=MAX_SPEND).contains(&amount) {
        return;
    }
    let reason = body.get("reason").and_then(|v| v.as_str()).unwrap_or("");
    if let Ok(entry) = LedgerEntry::new(
        UserId(1),
        EntryKind::Spend,
        Credits(-amount),
        "host_spend",
        key,
        Actor::ApiKey(1),
    ) {
        let _ = entry.with_reason(reason);
    }
});
