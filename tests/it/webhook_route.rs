//! `POST /api/webhooks/whop` against hostile input, over real HTTP on both backends: a flood of
//! signature entries is refused cheaply, the signature header is capped, a signed body that is
//! not UTF-8 is refused before storing, and a signed but hostile event type is not kept verbatim.

use crate::common;

use std::time::Duration;

use atlas_credits::server::whop::verify::{sign, MAX_SIGNATURE_ENTRIES, MAX_SIGNATURE_HEADER_BYTES};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::{Db, TestApp, WEBHOOK_SECRET};
use secrecy::SecretString;
use serde_json::Value;

both_backends!(
    signature_entry_flood_is_refused_fast,
    signature_header_caps,
    non_utf8_body_is_refused_before_storing,
    hostile_event_type_is_stored_as_unknown
);

/// CPU time of this whole process (test client and server alike) in nanoseconds: user plus
/// system time from `/proc/self/stat`, which also counts threads that have exited meanwhile (a
/// sum over the live threads would not, and could go backwards). Its unit is the clock tick
/// (10 ms on Linux), coarse but never low: the 50 ms bound below is five ticks.
fn process_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("read /proc/self/stat");
    // Fields after the command name (which may itself hold spaces, so split after its `)`).
    let fields: Vec<&str> = stat[stat.rfind(')').expect("stat has a command name") + 1..]
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 of the line, so 11 and 12 after the name.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    const NS_PER_TICK: u64 = 10_000_000; // USER_HZ is 100 on Linux
    ticks * NS_PER_TICK
}

fn secret() -> SecretString {
    SecretString::from(WEBHOOK_SECRET.to_string())
}

async fn post(app: &TestApp, id: &str, ts: i64, signature: &str, body: Vec<u8>) -> reqwest::Response {
    app.client
        .post(app.url("/api/webhooks/whop"))
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Posts and returns the status, the error code (if any) and the CPU the exchange cost, in ms.
async fn post_measured(app: &TestApp, signature: &str, body: Vec<u8>) -> (u16, Option<String>, f64) {
    let now = chrono::Utc::now().timestamp();
    let before = process_cpu_ns();
    let r = post(app, "msg_flood", now, signature, body).await;
    let status = r.status().as_u16();
    let json: Option<Value> = r.json().await.ok();
    let cpu_ms = process_cpu_ns().saturating_sub(before) as f64 / 1e6;
    let code = json.and_then(|j| j["error"]["code"].as_str().map(str::to_owned));
    (status, code, cpu_ms)
}

/// A full-size (32-byte) `v1,` entry that matches nothing.
fn wrong_entry(i: u32) -> String {
    let mut mac = [0u8; 32];
    mac[..4].copy_from_slice(&i.to_be_bytes());
    format!("v1,{}", STANDARD.encode(mac))
}

/// The 10,000-entry flood with a 256 KiB body must reach our handler (401 with our error body, not
/// hyper's 431) and cost well under 50 ms of CPU; before the fix it hashed the body once per entry.
async fn signature_entry_flood_is_refused_fast(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let body = vec![b'x'; 256 * 1024];
    // Warm up the connection and any lazily built state, so the measurement is the request alone.
    let (status, _, _) = post_measured(&app, "v1,", b"{}".to_vec()).await;
    assert_eq!(status, 401);

    // 10,000 empty entries: a 40 KB header, far below hyper's ~400 KB limit on a request head.
    let empties = vec!["v1,"; 10_000].join(" ");
    let (status, code, cpu_ms) = post_measured(&app, &empties, body.clone()).await;
    println!("10,000 empty v1 entries, 256 KiB body: {status}, {cpu_ms:.2} ms CPU");
    assert_eq!((status, code.as_deref()), (401, Some("invalid_signature")));
    assert!(cpu_ms < 50.0, "{cpu_ms:.2} ms of CPU for one unsigned request");

    // 10,000 short but decodable entries (`v1,AAAA`, 80 KB).
    let shorts = vec!["v1,AAAA"; 10_000].join(" ");
    let (status, code, cpu_ms) = post_measured(&app, &shorts, body.clone()).await;
    println!("10,000 v1,AAAA entries, 256 KiB body: {status}, {cpu_ms:.2} ms CPU");
    assert_eq!((status, code.as_deref()), (401, Some("invalid_signature")));
    assert!(cpu_ms < 50.0, "{cpu_ms:.2} ms of CPU for one unsigned request");

    // Full-size entries up to just under hyper's limit: 8,000 x 48 bytes = 384 KB.
    let fulls = (0..8_000).map(wrong_entry).collect::<Vec<_>>().join(" ");
    let (status, code, cpu_ms) = post_measured(&app, &fulls, body.clone()).await;
    println!("8,000 full-size v1 entries (384 KB), 256 KiB body: {status}, {cpu_ms:.2} ms CPU");
    assert_eq!((status, code.as_deref()), (401, Some("invalid_signature")));
    assert!(cpu_ms < 50.0, "{cpu_ms:.2} ms of CPU for one unsigned request");

    // Past hyper's limit the request never reaches us: hyper answers 431 itself. That is where
    // the header size stops being our concern.
    let too_big = (0..9_000).map(wrong_entry).collect::<Vec<_>>().join(" ");
    let now = chrono::Utc::now().timestamp();
    let r = app
        .client
        .post(app.url("/api/webhooks/whop"))
        .header("webhook-id", "msg_flood")
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", too_big)
        .body(body)
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    // hyper answers 431, or (racing our still-unsent body) drops the connection after it.
    match r {
        Ok(r) => assert_eq!(r.status(), 431),
        Err(e) => println!("9,000 full-size entries (432 KB): connection closed by hyper ({e})"),
    }
    assert!(app.db.store.list_webhook_events().await.unwrap().is_empty());
}

/// The caps on the signature header: at most MAX_SIGNATURE_ENTRIES entries and
/// MAX_SIGNATURE_HEADER_BYTES bytes; a valid signature inside them verifies, one past them does not.
async fn signature_header_caps(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let now = chrono::Utc::now().timestamp();
    let body = br#"{"type":"payment.succeeded"}"#.to_vec();
    let valid = |id: &str| sign(&secret(), id, now, &body);

    // As many entries as allowed, the valid one last: accepted.
    let mut entries: Vec<String> = (0..MAX_SIGNATURE_ENTRIES as u32 - 1).map(wrong_entry).collect();
    entries.push(valid("msg_at_cap"));
    let r = post(&app, "msg_at_cap", now, &entries.join(" "), body.clone()).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // One entry more: refused, though the valid one is there.
    let mut entries: Vec<String> = (0..MAX_SIGNATURE_ENTRIES as u32).map(wrong_entry).collect();
    entries.push(valid("msg_over_cap"));
    let r = post(&app, "msg_over_cap", now, &entries.join(" "), body.clone()).await;
    assert_eq!(r.status(), 401);

    // Exactly MAX_SIGNATURE_HEADER_BYTES bytes (one valid entry, one long entry of another
    // version, which is ignored): accepted. One byte more: refused.
    let header_of = |id: &str, len: usize| {
        let v1 = valid(id);
        let pad = len - v1.len() - " v2,".len();
        format!("v2,{} {v1}", "A".repeat(pad))
    };
    let at = header_of("msg_len_at_cap", MAX_SIGNATURE_HEADER_BYTES);
    assert_eq!(at.len(), MAX_SIGNATURE_HEADER_BYTES);
    let r = post(&app, "msg_len_at_cap", now, &at, body.clone()).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let over = header_of("msg_len_over_cap", MAX_SIGNATURE_HEADER_BYTES + 1);
    let r = post(&app, "msg_len_over_cap", now, &over, body.clone()).await;
    assert_eq!(r.status(), 401);

    let ids: Vec<String> = app
        .db
        .store
        .list_webhook_events()
        .await
        .unwrap()
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&"msg_at_cap".to_string()) && ids.contains(&"msg_len_at_cap".to_string()));
}

/// A correctly signed body that is not UTF-8 is refused with 400 and nothing is stored, so what
/// is kept is always exactly the bytes that were signed (no lossy replacement characters).
async fn non_utf8_body_is_refused_before_storing(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let now = chrono::Utc::now().timestamp();
    let body = b"{\"type\":\"x\",\"a\":\"\xff\"}".to_vec();
    let signature = sign(&secret(), "msg_bytes", now, &body);
    let r = post(&app, "msg_bytes", now, &signature, body).await;
    assert_eq!(r.status(), 400);
    let json: Value = r.json().await.unwrap();
    assert_eq!(json["error"]["code"], "invalid_body", "{json}");
    assert!(app.db.store.list_webhook_events().await.unwrap().is_empty());
}

/// A signed delivery's `type` is kept only when it is short printable ASCII; anything else is
/// stored as "unknown" (the payload itself is kept verbatim).
async fn hostile_event_type_is_stored_as_unknown(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let now = chrono::Utc::now().timestamp();
    let longest = "t".repeat(100);
    let too_long = "t".repeat(101);
    let cases = [
        (
            "msg_ok",
            "payment.succeeded".to_string(),
            "payment.succeeded".to_string(),
        ),
        ("msg_100", longest.clone(), longest),
        ("msg_101", too_long, "unknown".to_string()),
        (
            "msg_newline",
            "payment.succeeded\nFAKE log line".to_string(),
            "unknown".to_string(),
        ),
        ("msg_escape", "payment\u{1b}[31m".to_string(), "unknown".to_string()),
        ("msg_unicode", "paiement.réussi".to_string(), "unknown".to_string()),
        ("msg_empty", String::new(), "unknown".to_string()),
    ];
    for (id, event_type, _) in &cases {
        let body = serde_json::to_vec(&serde_json::json!({ "type": event_type })).unwrap();
        let signature = sign(&secret(), id, now, &body);
        let r = post(&app, id, now, &signature, body).await;
        assert_eq!(r.status(), 200, "{id}: {}", r.text().await.unwrap());
    }
    let stored = app.db.store.list_webhook_events().await.unwrap();
    for (id, event_type, expected) in &cases {
        let (_, got, payload) = stored
            .iter()
            .find(|(stored_id, _, _)| stored_id == id)
            .unwrap_or_else(|| panic!("{id} not stored"));
        assert_eq!(got, expected, "{id}");
        let original: Value = serde_json::from_str(payload).unwrap();
        assert_eq!(original["type"], event_type.as_str(), "{id}: payload not kept verbatim");
    }
}
