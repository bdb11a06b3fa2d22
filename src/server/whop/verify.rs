//! Standard Webhooks verification as Whop signs: HMAC-SHA256 keyed with the secret's UTF-8 bytes
//! verbatim (`ws_...`, not base64-decoded), over `{webhook-id}.{webhook-timestamp}.{raw body}`,
//! sent as `webhook-signature: v1,<base64>` (possibly several space-separated entries).
//! A pure function of headers, body, secrets and the clock, so it is tested without a server.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// How far `webhook-timestamp` may be from our clock, either way (replay window).
pub const TOLERANCE_SECS: i64 = 300;

type HmacSha256 = Hmac<Sha256>;

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

    let timestamp: i64 = ts_raw.trim().parse().map_err(|_| VerifyError::BadTimestamp)?;
    if (now_unix - timestamp).abs() > TOLERANCE_SECS {
        return Err(VerifyError::TimestampOutOfTolerance);
    }

    // Every `v1,` entry is a candidate; other versions are ignored. Undecodable entries never match.
    let candidates: Vec<Vec<u8>> = signature
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|b64| STANDARD.decode(b64).ok())
        .collect();

    for secret in secrets {
        for candidate in &candidates {
            // verify_slice compares in constant time and refuses any length but the full 32 bytes,
            // so an empty or truncated signature fails.
            let mac = keyed(secret, id, ts_raw.trim(), body);
            if mac.verify_slice(candidate).is_ok() {
                return Ok(Verified {
                    webhook_id: id.to_string(),
                    timestamp,
                });
            }
        }
    }
    Err(VerifyError::NoMatchingSignature)
}

/// The `v1,<base64>` signature for a delivery: used by the simulator to sign what it sends.
pub fn sign(secret: &SecretString, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mac = keyed(secret, id, &timestamp.to_string(), body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

fn keyed(secret: &SecretString, id: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.expose_secret().as_bytes()).expect("HMAC takes keys of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
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
}
