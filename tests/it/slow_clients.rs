//! Slow and hostile clients at the connection level, over raw TCP against the real server: a
//! request head sent a byte at a time (slowloris), a connection that sends nothing, a body that
//! never finishes, and the cap on open connections. Each is closed by the server within its
//! limit; the check is that the server hangs up (EOF) before a much later bound, never how fast.

use crate::common;

use std::time::Duration;

use common::{Db, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

both_backends!(
    a_request_head_sent_slowly_is_cut_off,
    a_silent_connection_is_closed,
    a_body_that_never_finishes_gets_408_and_is_closed,
    the_connection_cap_holds_new_connections_until_one_closes,
    one_address_cannot_take_every_connection,
);

/// Limits short enough for a test; the bound the tests wait for is many times longer.
const LIMITS: &[(&str, &str)] = &[("HTTP_HEADER_TIMEOUT_SECS", "1"), ("HTTP_BODY_TIMEOUT_SECS", "1")];
/// Far past every limit above: a connection still open by then was never going to be closed.
const HANG: Duration = Duration::from_secs(8);

async fn spawn(db: Db, extra: &[(&str, &str)]) -> Option<TestApp> {
    let vars: Vec<(&str, &str)> = LIMITS.iter().chain(extra).copied().collect();
    TestApp::spawn_with_env(db, &vars).await
}

/// Reads until the server closes the connection, and returns what it sent; panics when the
/// connection is still open after `HANG` (meanwhile `trickle` keeps writing, slowloris-style).
async fn read_until_closed(stream: &mut TcpStream, trickle: Option<&[u8]>) -> Vec<u8> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + HANG;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut next = 0;
    loop {
        let mut buf = [0u8; 4096];
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return got,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            },
            _ = tick.tick(), if trickle.is_some_and(|t| next < t.len()) => {
                let t = trickle.unwrap();
                // A failed write means the server hung up: the read above will say so.
                let _ = stream.write_all(&t[next..next + 1]).await;
                next += 1;
            }
            _ = tokio::time::sleep_until(deadline) => {
                panic!("the server kept the connection open for {HANG:?}; it sent {:?}", String::from_utf8_lossy(&got))
            }
        }
    }
}

/// The server still answers, on a new connection: the app's pooled client may hold a kept-alive
/// connection the server is closing at that very moment for idling past the (short) header
/// timeout, and a request sent into it fails with "incomplete message" whatever the server's health.
async fn healthy(app: &TestApp) {
    let fresh = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let r = fresh.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

async fn a_request_head_sent_slowly_is_cut_off(db: Db) {
    let Some(app) = spawn(db, &[]).await else {
        return;
    };
    // Twenty slowloris connections, each sending a header byte every 200 ms, forever.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let addr = app.addr;
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
            let endless = format!("X-Slow-{i}: {}\r\n", "a".repeat(400));
            read_until_closed(&mut s, Some(endless.as_bytes())).await
        }));
    }
    // Meanwhile everyone else is served.
    healthy(&app).await;
    for t in tasks {
        // Closed without an answer: the head never completed. (hyper may send a bare 408 first.)
        let sent = t.await.unwrap();
        let text = String::from_utf8_lossy(&sent);
        assert!(sent.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");
    }
    healthy(&app).await;
}

async fn a_silent_connection_is_closed(db: Db) {
    let Some(app) = spawn(db, &[]).await else {
        return;
    };
    let mut silent = TcpStream::connect(app.addr).await.unwrap();
    let sent = read_until_closed(&mut silent, None).await;
    assert!(sent.is_empty() || sent.starts_with(b"HTTP/1.1 408"), "{sent:?}");

    // A kept-alive connection is served, then closed once idle past the limit.
    let mut kept = TcpStream::connect(app.addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let sent = read_until_closed(&mut kept, None).await;
    let text = String::from_utf8_lossy(&sent);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains(r#"{"status":"ok"}"#), "{text}");
}

async fn a_body_that_never_finishes_gets_408_and_is_closed(db: Db) {
    let Some(app) = spawn(db, &[]).await else {
        return;
    };
    // The webhook route reads its body before anything else: 1,000 bytes promised, 10 sent,
    // then a byte every 200 ms (a trickle that resets any between-bytes timer).
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    s.write_all(
        b"POST /api/webhooks/whop HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 1000\r\n\r\n{\"type\":\"",
    )
    .await
    .unwrap();
    let sent = read_until_closed(&mut s, Some(&[b'a'; 500])).await;
    let text = String::from_utf8_lossy(&sent);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.to_ascii_lowercase().contains("connection: close"), "{text}");
    assert!(text.contains("request_timeout"), "{text}");
    healthy(&app).await;
}

async fn the_connection_cap_holds_new_connections_until_one_closes(db: Db) {
    // Two connections at most; idle ones are not closed by the test's header limit here.
    let Some(app) = spawn(db, &[("HTTP_MAX_CONNECTIONS", "2"), ("HTTP_HEADER_TIMEOUT_SECS", "60")]).await else {
        return;
    };
    let first = TcpStream::connect(app.addr).await.unwrap();
    let second = TcpStream::connect(app.addr).await.unwrap();
    // Let the server take both before the third arrives.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut third = TcpStream::connect(app.addr).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    // Not served while both slots are taken (the kernel holds it in the backlog)...
    let mut buf = [0u8; 1024];
    let early = tokio::time::timeout(Duration::from_millis(700), third.read(&mut buf)).await;
    assert!(early.is_err(), "answered past the connection cap: {early:?}");
    // ...and served as soon as one closes.
    drop(first);
    let sent = read_until_closed(&mut third, None).await;
    assert!(String::from_utf8_lossy(&sent).starts_with("HTTP/1.1 200"));
    drop(second);
}

/// A connection from `source` (any 127.x.y.z reaches the server on Linux's loopback).
async fn connect_from(source: &str, app: &TestApp) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(app.addr).await.unwrap()
}

async fn get_healthz(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    String::from_utf8_lossy(&read_until_closed(stream, None).await).into_owned()
}

async fn one_address_cannot_take_every_connection(db: Db) {
    let Some(app) = spawn(
        db,
        &[
            ("HTTP_MAX_CONNECTIONS", "8"),
            ("HTTP_MAX_CONNECTIONS_PER_ADDRESS", "3"),
            ("HTTP_HEADER_TIMEOUT_SECS", "60"),
        ],
    )
    .await
    else {
        return;
    };
    // One address holds three idle connections: its cap.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from("127.0.0.1", &app).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A fourth from it is closed unanswered, at once (not left waiting like the global cap).
    let mut fourth = connect_from("127.0.0.1", &app).await;
    let refused = get_healthz(&mut fourth).await;
    assert_eq!(refused, "", "a connection past the per-address cap was served");
    // Another address is served meanwhile.
    let mut other = connect_from("127.0.0.2", &app).await;
    assert!(get_healthz(&mut other).await.starts_with("HTTP/1.1 200"));
    // When one of the three closes, the first address gets its place back.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = connect_from("127.0.0.1", &app).await;
    assert!(get_healthz(&mut again).await.starts_with("HTTP/1.1 200"));
}
