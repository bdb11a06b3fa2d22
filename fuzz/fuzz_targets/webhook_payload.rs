//! What happens to a verified body: Whop's envelopes of every kind the app applies, and money
//! text. Money that parses is exact: its decimal form parses back to the same cents.
#![no_main]

use atlas_credits::server::whop::money::{format_major, parse_cents};
use atlas_credits::server::whop::types::{Dispute, Payment, Refund, WebhookEnvelope};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = parse_cents(text) {
        assert_eq!(parse_cents(&format_major(c)), Ok(c));
    }
    let _ = serde_json::from_str::<serde_json::Value>(text);
    if let Ok(p) = serde_json::from_str::<WebhookEnvelope<Payment>>(text) {
        for c in [p.data.total, p.data.subtotal, p.data.refunded_amount]
            .into_iter()
            .flatten()
        {
            assert_eq!(parse_cents(&format_major(c)), Ok(c));
        }
    }
    let _ = serde_json::from_str::<WebhookEnvelope<Refund>>(text);
    let _ = serde_json::from_str::<WebhookEnvelope<Dispute>>(text);
});
