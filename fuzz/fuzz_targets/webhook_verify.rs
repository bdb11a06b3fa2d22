//! Webhook verification on arbitrary deliveries: the input is split into id, timestamp,
//! signature header and body at its first three 0xFF bytes. Nothing may verify unless the header
//! holds the genuine signature of exactly those parts, and nothing may panic.
#![no_main]

use atlas_credits::server::whop::verify::{self, DeliveryHeaders};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;

const NOW: i64 = 1_765_000_000;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |b| *b == 0xFF);
    let (Some(id), Some(ts), Some(sig)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    let body = parts.next().unwrap_or_default();
    let (Ok(id), Ok(ts), Ok(sig)) = (
        std::str::from_utf8(id),
        std::str::from_utf8(ts),
        std::str::from_utf8(sig),
    ) else {
        return;
    };
    let secret = SecretString::from("ws_fuzz_0123456789abcdef".to_string());
    let headers = DeliveryHeaders {
        id: Some(id),
        timestamp: Some(ts),
        signature: Some(sig),
    };
    if let Ok(v) = verify::verify(headers, body, std::slice::from_ref(&secret), NOW) {
        // Accepted: the header must carry the genuine MAC of what was verified.
        let genuine = verify::sign(&secret, id, v.timestamp, body);
        assert!(
            sig.split(' ').any(|e| e == genuine),
            "accepted a delivery without its signature"
        );
    }
});
