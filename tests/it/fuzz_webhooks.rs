//! Fuzzing Whop's webhooks: verification of random and mutated deliveries (none accepted
//! wrongly, no panic), the parsing of hostile payloads (envelopes, money at and past every edge),
//! and signed hostile deliveries over real HTTP on both backends (never a 5xx, nothing credited).
//! `webhook_vectors.rs` already checks that every single mutation of a signed delivery fails;
//! this adds arbitrary headers and bodies, and what happens after verification.

use crate::common;

use atlas_credits::model::Cents;
use atlas_credits::server::whop::money::{format_major, parse_cents};
use atlas_credits::server::whop::types::{Dispute, Payment, Refund, WebhookEnvelope};
use atlas_credits::server::whop::verify::{self, DeliveryHeaders};
use common::fuzz::{self, deep_nesting, hostile_number, hostile_text, json_value};
use common::{Db, TestApp, WEBHOOK_SECRET};
use proptest::prelude::*;
use secrecy::SecretString;

both_backends!(signed_hostile_deliveries_over_http_never_5xx_nor_credit);

const NOW: i64 = 1_765_000_000;

fn secret() -> SecretString {
    SecretString::from(WEBHOOK_SECRET.to_string())
}

/// Timestamps: near now, far away, and not numbers at all.
fn timestamp() -> impl Strategy<Value = String> {
    prop_oneof![
        (-400i64..400).prop_map(|d| (NOW + d).to_string()),
        any::<i64>().prop_map(|t| t.to_string()),
        hostile_number(),
        hostile_text(),
        (-400i64..400).prop_map(|d| format!(" {} ", NOW + d)),
    ]
}

/// Signature headers: random text, many entries, entries of the right shape but random bytes.
fn signature() -> impl Strategy<Value = String> {
    let mac_shaped = prop::collection::vec(any::<u8>(), 32).prop_map(|b| {
        use base64::Engine;
        format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(b))
    });
    prop_oneof![
        hostile_text(),
        mac_shaped.clone(),
        prop::collection::vec(mac_shaped, 1..12).prop_map(|v| v.join(" ")),
        "(v[0-9],[A-Za-z0-9+/=]{0,50} ?){0,10}",
    ]
}

#[test]
fn random_deliveries_never_verify() {
    let secrets = [secret()];
    let strategy = (
        prop::option::of(hostile_text()),
        prop::option::of(timestamp()),
        prop::option::of(signature()),
        prop::collection::vec(any::<u8>(), 0..2048),
    );
    fuzz::runner(fuzz::cases(4000))
        .run(&strategy, |(id, ts, sig, body)| {
            let headers = DeliveryHeaders {
                id: id.as_deref(),
                timestamp: ts.as_deref(),
                signature: sig.as_deref(),
            };
            // A random signature matches with probability 2^-256: any success is a bug.
            prop_assert!(verify::verify(headers, &body, &secrets, NOW).is_err());
            Ok(())
        })
        .unwrap();
}

/// The parts of a signed delivery after verification: envelopes of every kind the app applies,
/// built around hostile values, and mutated bytes of a real one.
fn payload() -> impl Strategy<Value = Vec<u8>> {
    let types = prop::sample::select(vec![
        "payment.succeeded",
        "payment.failed",
        "payment.pending",
        "refund.created",
        "refund.updated",
        "dispute.created",
        "dispute.updated",
        "membership.went_valid",
    ]);
    let shaped = (
        types,
        hostile_text(),
        hostile_number(),
        json_value(),
        json_value(),
        prop::sample::select(vec!["total", "amount", "subtotal", "refunded_amount"]),
    )
        .prop_map(|(t, id, amount, metadata, payment, field)| {
            format!(
                r#"{{"id":"msg_1","type":"{t}","data":{{"id":{},"status":"paid","{field}":{amount},"currency":"usd","metadata":{metadata},"payment":{payment}}}}}"#,
                serde_json::to_string(&id).unwrap()
            )
            .into_bytes()
        });
    let template = br#"{"id":"msg_1","api_version":"v1","type":"payment.succeeded","data":{"id":"pay_1","status":"paid","substatus":"succeeded","total":7.5,"subtotal":7.5,"currency":"usd","metadata":{"order_id":"1","user_id":"1"},"refunds":[],"disputes":[]}}"#;
    let mutated = prop::collection::vec((any::<u8>(), any::<prop::sample::Index>(), any::<u8>()), 1..8).prop_map(
        move |changes| {
            let mut b = template.to_vec();
            for (how, at, byte) in changes {
                fuzz::mutate(&mut b, how, at, byte);
            }
            b
        },
    );
    prop_oneof![
        4 => shaped,
        4 => mutated,
        1 => json_value().prop_map(String::into_bytes),
        1 => deep_nesting().prop_map(|n| format!(r#"{{"type":"payment.succeeded","data":{n}}}"#).into_bytes()),
    ]
}

#[test]
fn hostile_payloads_parse_or_refuse_without_panic() {
    fuzz::runner(fuzz::cases(2000))
        .run(&payload(), |bytes| {
            // What the route and the apply step do with a verified body.
            if let Ok(text) = std::str::from_utf8(&bytes) {
                let _ = serde_json::from_str::<serde_json::Value>(text);
                if let Ok(p) = serde_json::from_str::<WebhookEnvelope<Payment>>(text) {
                    // Money that parsed is exact cents; formatting it back parses to the same.
                    for c in [p.data.total, p.data.subtotal, p.data.refunded_amount]
                        .into_iter()
                        .flatten()
                    {
                        prop_assert_eq!(parse_cents(&format_major(c)), Ok(c));
                    }
                }
                let _ = serde_json::from_str::<WebhookEnvelope<Refund>>(text);
                let _ = serde_json::from_str::<WebhookEnvelope<Dispute>>(text);
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn money_text_is_exact_or_refused() {
    let strategy = prop_oneof![
        hostile_number(),
        hostile_text(),
        // Exponents at and past every limit.
        ("-?[0-9]{1,30}(\\.[0-9]{0,30})?", any::<i32>()).prop_map(|(m, e)| format!("{m}e{e}")),
    ];
    fuzz::runner(fuzz::cases(2000))
        .run(&strategy, |text| {
            if let Ok(c) = parse_cents(&text) {
                // Whatever parsed, the text was that many cents: its major-unit form says so.
                prop_assert_eq!(parse_cents(&format_major(c)), Ok(c));
            }
            Ok(())
        })
        .unwrap();
    // And every amount in cents survives the trip through Whop's decimal form.
    fuzz::runner(fuzz::cases(2000))
        .run(&any::<i64>(), |n| {
            prop_assert_eq!(parse_cents(&format_major(Cents(n))), Ok(Cents(n)));
            Ok(())
        })
        .unwrap();
}

/// One delivery over HTTP: a hostile payload, signed correctly or not.
struct Delivery {
    body: Vec<u8>,
    signed: bool,
}

impl std::fmt::Debug for Delivery {
    /// The start of the body only: some are 500 KB.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let head = String::from_utf8_lossy(&self.body[..self.body.len().min(200)]);
        write!(
            f,
            "Delivery {{ signed: {}, {} bytes: {head:?} }}",
            self.signed,
            self.body.len()
        )
    }
}

async fn signed_hostile_deliveries_over_http_never_5xx_nor_credit(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let user = common::user(app.db.store.as_ref(), "fuzz@example.com").await;
    let cases = fuzz::sample(
        || (payload(), any::<bool>()).prop_map(|(body, signed)| Delivery { body, signed }),
        fuzz::http_cases(150),
    );
    for (i, d) in cases.iter().enumerate() {
        let id = format!("msg_fuzz_{i}");
        let ts = chrono::Utc::now().timestamp();
        let mut signature = verify::sign(&secret(), &id, ts, &d.body);
        if !d.signed {
            // The right shape, the wrong MAC: its first base64 character changed.
            let other = if signature[3..].starts_with('A') { "B" } else { "A" };
            signature.replace_range(3..4, other);
        }
        let r = app
            .client
            .post(app.url("/api/webhooks/whop"))
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .body(d.body.clone())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let stored = app.db.store.webhook_event(&id).await.unwrap();
        if d.signed {
            // Stored (200), or refused: not UTF-8 (400), over 256 KiB (413); never a 5xx.
            assert!(matches!(status, 200 | 400 | 413), "{status} for {d:?}");
            assert_eq!(stored.is_some(), status == 200, "{d:?}");
        } else {
            assert!(
                matches!(status, 401 | 413),
                "a wrong signature was not refused: {status} for {d:?}"
            );
            assert!(stored.is_none());
        }
    }
    // No delivery could credit anyone: there are no orders, and the ledger is untouched.
    assert!(app
        .db
        .store
        .list_transactions(user.user_id(), None, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        common::checked_balance(app.db.store.as_ref(), user.user_id())
            .await
            .get(),
        0
    );
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}
