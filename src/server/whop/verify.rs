//! Standard Webhooks verification as Whop signs: HMAC-SHA256 keyed with the secret's UTF-8 bytes
//! verbatim (`ws_...`, not base64-decoded), over `{webhook-id}.{webhook-timestamp}.{raw body}`,
//! sent as `webhook-signature: v1,<base64>` (possibly several space-separated entries).
//! A pure function of headers, body, secrets and the clock, so it is tested without a server.
//!
//! Anyone can reach the route, so the cost of a refusal must not depend on what the sender
//! puts in the signature header: the header is bounded and parsed first, and the body is hashed
//! at most once per configured secret, only when some entry could possibly be a signature.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::server::ct::ct_eq;

/// How far `webhook-timestamp` may be from our clock, either way (replay window).
pub const TOLERANCE_SECS: i64 = 300;

/// Most space-separated entries a `webhook-signature` header may hold. Senders put one entry per
/// signing key (Whop sends one; Standard Webhooks libraries one or two during a rotation).
pub const MAX_SIGNATURE_ENTRIES: usize = 8;

/// Longest `webhook-signature` header accepted. The longest Standard Webhooks entry is
/// `v1a,<88 base64 chars>` (Ed25519); 8 of those with separators are 743 bytes, so 1 KiB never
/// refuses a conforming header and bounds the parsing work of a hostile one.
pub const MAX_SIGNATURE_HEADER_BYTES: usize = 1024;

/// An HMAC-SHA256 is 32 bytes; in padded standard base64 that is 44 characters.
const MAC_LEN: usize = 32;
const MAC_B64_LEN: usize = 44;

type HmacSha256 = Hmac<Sha256>;
type MacBytes = [u8; MAC_LEN];

/// The headers of one delivery, as received (any may be missing).
#[derive(Debug, Clone, Copy, Default)]
pub struct DeliveryHeaders<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// A delivery whose signature checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub webhook_id: String,
    pub timestamp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("webhook-timestamp is not a Unix time in seconds")]
    BadTimestamp,
    #[error("webhook-timestamp is more than {TOLERANCE_SECS} s from now")]
    TimestampOutOfTolerance,
    #[error("webhook-signature exceeds {MAX_SIGNATURE_HEADER_BYTES} bytes or {MAX_SIGNATURE_ENTRIES} entries")]
    OversizedSignatureHeader,
    #[error("no signature matches")]
    NoMatchingSignature,
    #[error("no webhook secret is configured")]
    NoSecret,
}

/// Verifies one delivery against every configured secret (several during a rotation).
pub fn verify(
    headers: DeliveryHeaders<'_>,
    body: &[u8],
    secrets: &[SecretString],
    now_unix: i64,
) -> Result<Verified, VerifyError> {
    verify_with(headers, body, secrets, now_unix, expected_mac)
}

/// `verify`, with the MAC computation passed in so tests can count how often the body is hashed.
fn verify_with(
    headers: DeliveryHeaders<'_>,
    body: &[u8],
    secrets: &[SecretString],
    now_unix: i64,
    mut mac_of: impl FnMut(&SecretString, &str, &str, &[u8]) -> MacBytes,
) -> Result<Verified, VerifyError> {
    if secrets.is_empty() {
        return Err(VerifyError::NoSecret);
    }
    let id = headers
        .id
        .filter(|s| !s.is_empty())
        .ok_or(VerifyError::MissingHeader("webhook-id"))?;
    let ts_raw = headers
        .timestamp
        .filter(|s| !s.is_empty())
        .ok_or(VerifyError::MissingHeader("webhook-timestamp"))?;
    let signature = headers
        .signature
        .filter(|s| !s.is_empty())
        .ok_or(VerifyError::MissingHeader("webhook-signature"))?;

    let ts_raw = ts_raw.trim();
    let timestamp: i64 = ts_raw.parse().map_err(|_| VerifyError::BadTimestamp)?;
    // abs_diff: `now - timestamp` overflows for timestamps near i64::MIN.
    if now_unix.abs_diff(timestamp) > TOLERANCE_SECS.unsigned_abs() {
        return Err(VerifyError::TimestampOutOfTolerance);
    }

    let candidates = candidates(signature)?;
    if candidates.is_empty() {
        // Nothing could match: refuse without hashing the body.
        return Err(VerifyError::NoMatchingSignature);
    }
    for secret in secrets {
        // Once per secret, however many entries there are; every candidate is compared in
        // constant time and without stopping early, so timing shows neither which nor how much.
        let expected = mac_of(secret, id, ts_raw, body);
        let matched = candidates
            .iter()
            .fold(false, |any, candidate| any | ct_eq(candidate, &expected));
        if matched {
            return Ok(Verified {
                webhook_id: id.to_string(),
                timestamp,
            });
        }
    }
    Err(VerifyError::NoMatchingSignature)
}

/// The `v1,` entries of a signature header that decode to exactly one MAC's length. Other
/// versions, and entries of any other length, are ignored (they could never match); a header
/// over the caps is refused as a whole, since no conforming sender writes one.
fn candidates(header: &str) -> Result<Vec<MacBytes>, VerifyError> {
    if header.len() > MAX_SIGNATURE_HEADER_BYTES {
        return Err(VerifyError::OversizedSignatureHeader);
    }
    let entries = header.split(' ').filter(|e| !e.is_empty());
    if entries.clone().count() > MAX_SIGNATURE_ENTRIES {
        return Err(VerifyError::OversizedSignatureHeader);
    }
    Ok(entries
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter(|b64| b64.len() == MAC_B64_LEN)
        // 44 padded characters decode to at most 32 bytes; fewer (`==` padding) is no MAC.
        .filter_map(|b64| MacBytes::try_from(STANDARD.decode(b64).ok()?).ok())
        .collect())
}

/// The `v1,<base64>` signature for a delivery: used by the simulator to sign what it sends.
pub fn sign(secret: &SecretString, id: &str, timestamp: i64, body: &[u8]) -> String {
    sign_with_key(secret.expose_secret().as_bytes(), id, timestamp, body)
}

/// The `v1,<base64>` signature with the HMAC key given as bytes. Whop keys with the secret's text
/// (`sign`); our own deliveries to the host app key with the base64-decoded `whsec_` secret, as
/// Standard Webhooks libraries expect (`service::host_webhooks`). One MAC for both.
pub fn sign_with_key(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mac = mac_with_key(key, id, &timestamp.to_string(), body);
    format!("v1,{}", STANDARD.encode(mac))
}

fn expected_mac(secret: &SecretString, id: &str, timestamp: &str, body: &[u8]) -> MacBytes {
    mac_with_key(secret.expose_secret().as_bytes(), id, timestamp, body)
}

fn mac_with_key(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> MacBytes {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// Parses `WHOP_WEBHOOK_SECRET`: one secret, or several separated by commas during a rotation.
pub fn parse_secrets(raw: &str) -> Vec<SecretString> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| SecretString::from(s.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_000_000;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_string())
    }

    fn headers<'a>(id: &'a str, ts: &'a str, sig: &'a str) -> DeliveryHeaders<'a> {
        DeliveryHeaders {
            id: Some(id),
            timestamp: Some(ts),
            signature: Some(sig),
        }
    }

    #[test]
    fn round_trip_and_failures() {
        let s = secret("ws_test");
        let body = br#"{"type":"payment.succeeded"}"#;
        let sig = sign(&s, "msg_1", NOW, body);
        let ts = NOW.to_string();
        assert!(verify(headers("msg_1", &ts, &sig), body, std::slice::from_ref(&s), NOW).is_ok());
        assert_eq!(
            verify(headers("msg_1", &ts, &sig), b"{}", std::slice::from_ref(&s), NOW),
            Err(VerifyError::NoMatchingSignature)
        );
        assert_eq!(
            verify(headers("msg_1", &ts, &sig), body, std::slice::from_ref(&s), NOW + 301),
            Err(VerifyError::TimestampOutOfTolerance)
        );
        assert_eq!(
            verify(headers("msg_1", &ts, "v1,"), body, std::slice::from_ref(&s), NOW),
            Err(VerifyError::NoMatchingSignature)
        );
        let truncated = &sig[..sig.len() - 8];
        assert_eq!(
            verify(headers("msg_1", &ts, truncated), body, std::slice::from_ref(&s), NOW),
            Err(VerifyError::NoMatchingSignature)
        );
        assert_eq!(
            verify(headers("msg_1", &ts, &sig), body, &[], NOW),
            Err(VerifyError::NoSecret)
        );
    }

    #[test]
    fn parses_rotated_secret_lists() {
        assert_eq!(parse_secrets("ws_a, ws_b,,").len(), 2);
        assert!(parse_secrets(" ").is_empty());
    }

    #[test]
    fn timestamp_near_i64_min_is_out_of_tolerance_not_an_overflow() {
        let s = secret("ws_test");
        let sig = sign(&s, "msg_1", NOW, b"{}");
        let far_apart = [
            ("-9223372036854775808", NOW),
            ("-9223372036854775808", i64::MAX),
            ("9223372036854775807", i64::MIN),
            ("9223372036854775807", NOW),
        ];
        for (ts, now) in far_apart {
            assert_eq!(
                verify(headers("msg_1", ts, &sig), b"{}", std::slice::from_ref(&s), now),
                Err(VerifyError::TimestampOutOfTolerance),
                "{ts} at {now}"
            );
        }
    }

    /// Verifies with a MAC function that counts its calls.
    fn counted(sig: &str, body: &[u8], secrets: &[SecretString]) -> (Result<Verified, VerifyError>, usize) {
        let mut calls = 0;
        let ts = NOW.to_string();
        let result = verify_with(headers("msg_1", &ts, sig), body, secrets, NOW, |s, id, ts, body| {
            calls += 1;
            expected_mac(s, id, ts, body)
        });
        (result, calls)
    }

    fn wrong_entry(i: u8) -> String {
        format!("v1,{}", STANDARD.encode([i; MAC_LEN]))
    }

    #[test]
    fn body_is_hashed_at_most_once_per_secret() {
        let secrets = [secret("ws_old"), secret("ws_new")];
        let body = vec![b'x'; 4096];

        // The most entries allowed, none valid: one MAC per secret, not one per entry and secret.
        let entries: Vec<String> = (0..MAX_SIGNATURE_ENTRIES as u8).map(wrong_entry).collect();
        assert_eq!(
            counted(&entries.join(" "), &body, &secrets),
            (Err(VerifyError::NoMatchingSignature), 2)
        );

        // Signed with the first secret: found with one MAC.
        let valid = sign(&secrets[0], "msg_1", NOW, &body);
        let (result, calls) = counted(&format!("{} {valid}", entries[0]), &body, &secrets);
        assert!(result.is_ok());
        assert_eq!(calls, 1);

        // 10,000 entries: refused before any hashing, whether empty, short or full-size.
        for entry in ["v1,".to_string(), "v1,AAAA".to_string(), wrong_entry(1)] {
            let flood = vec![entry.as_str(); 10_000].join(" ");
            assert_eq!(
                counted(&flood, &body, &secrets),
                (Err(VerifyError::OversizedSignatureHeader), 0),
                "{entry}"
            );
        }

        // Entries that cannot be a MAC (empty, short, long, other versions): no hashing at all.
        let long = format!("v1,{}", STANDARD.encode([0u8; 33]));
        let short = format!("v1,{}", STANDARD.encode([0u8; 31]));
        let hopeless = format!("v1, v1,AAAA {short} {long} v2,{} v1a,x", STANDARD.encode([0u8; 32]));
        assert_eq!(
            counted(&hopeless, &body, &secrets),
            (Err(VerifyError::NoMatchingSignature), 0)
        );
    }

    #[test]
    fn signature_header_caps() {
        let s = secret("ws_test");
        let body = b"{}";
        let valid = sign(&s, "msg_1", NOW, body);
        let ts = NOW.to_string();
        let check = |sig: &str| verify(headers("msg_1", &ts, sig), body, std::slice::from_ref(&s), NOW);

        let mut entries: Vec<String> = (0..MAX_SIGNATURE_ENTRIES as u8 - 1).map(wrong_entry).collect();
        entries.push(valid.clone());
        assert!(check(&entries.join(" ")).is_ok());
        entries.insert(0, wrong_entry(99));
        assert_eq!(check(&entries.join(" ")), Err(VerifyError::OversizedSignatureHeader));

        // Repeated separators are not entries.
        assert!(check(&format!("   {valid}   ")).is_ok());

        let padded = |len: usize| format!("v2,{} {valid}", "A".repeat(len - valid.len() - 4));
        assert!(check(&padded(MAX_SIGNATURE_HEADER_BYTES)).is_ok());
        assert_eq!(
            check(&padded(MAX_SIGNATURE_HEADER_BYTES + 1)),
            Err(VerifyError::OversizedSignatureHeader)
        );
    }
}
