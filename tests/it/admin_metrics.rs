//! The admin metrics: their arithmetic on its own, the `admin_metrics` server function on known
//! data written through the store (exact figures, both backends), and `GET /metrics` in
//! Prometheus text format: it parses, a simulated purchase moves the right counters, and
//! `METRICS_TOKEN` is enforced.

use crate::common;

use std::collections::HashMap;
use std::time::{Duration as StdDuration, Instant};

use atlas_credits::model::{format_secs, MetricsView, OrderId};
use atlas_credits::server::config::Config;
use atlas_credits::server::metrics::escape_label;
use atlas_credits::server::service::metrics_math::{
    group_by_day, median, percentile, period_bounds, period_days, rate_tenths, sum_by_day,
};
use atlas_credits::server::store::admin_order_queries::{Review, ReviewOutcome};
use atlas_credits::server::store::dispute::DisputeStage;
use atlas_credits::server::store::unmatched_queries::{NewUnmatchedPayment, UnmatchedKind};
use atlas_credits::server::store::{AuditEntry, DisputeApplication, Fulfilment, RefundApplication};
use chrono::{Duration, NaiveDate, TimeZone, Utc};
use common::auth::Browser;
use common::sim_shop::{press, SimShop};
use common::whop_events::{manual_order, order};
use common::{user, Db, TestApp};

both_backends!(
    metrics_on_known_data,
    manual_approvals_count_with_their_wait,
    bad_periods_are_refused,
    a_simulated_purchase_moves_the_counters,
    the_metrics_token_is_enforced,
);

// --- the arithmetic ---

#[test]
fn rates_are_tenths_of_a_percent_rounded_half_up() {
    assert_eq!(rate_tenths(2, 3), Some(667));
    assert_eq!(rate_tenths(1, 3), Some(333));
    assert_eq!(rate_tenths(1, 2), Some(500));
    assert_eq!(rate_tenths(1, 8), Some(125)); // 12.5 exactly
    assert_eq!(rate_tenths(1, 16), Some(63)); // 6.25 -> 6.3
    assert_eq!(rate_tenths(0, 5), Some(0));
    assert_eq!(rate_tenths(5, 5), Some(1000));
    assert_eq!(rate_tenths(1, 0), None);
    assert_eq!(rate_tenths(-1, 3), None);
    assert_eq!(rate_tenths(i64::MAX, i64::MAX), Some(1000));
}

#[test]
fn median_and_nearest_rank_percentiles() {
    assert_eq!(median(&[]), None);
    assert_eq!(median(&[7]), Some(7));
    assert_eq!(median(&[120, 60]), Some(90));
    assert_eq!(median(&[3, 1, 2]), Some(2));
    assert_eq!(median(&[1, 2]), Some(1)); // 1.5 rounds down
    assert_eq!(median(&[i64::MAX, i64::MAX]), Some(i64::MAX));
    let hundred: Vec<i64> = (1..=100).rev().collect();
    assert_eq!(percentile(&hundred, 95), Some(95));
    assert_eq!(percentile(&hundred, 100), Some(100));
    assert_eq!(percentile(&hundred, 1), Some(1));
    assert_eq!(percentile(&[120, 60], 95), Some(120));
    assert_eq!(percentile(&[5], 95), Some(5));
    assert_eq!(percentile(&[], 95), None);
    assert_eq!(percentile(&[1], 0), None);
    assert_eq!(percentile(&[1], 101), None);
}

#[test]
fn day_buckets_cover_every_day_including_empty_ones() {
    let today = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    let days = period_days(today, 3);
    let names: Vec<String> = days.iter().map(|d| d.to_string()).collect();
    assert_eq!(names, ["2026-02-28", "2026-03-01", "2026-03-02"]);
    let (from, to) = period_bounds(today, 3);
    assert_eq!(from, Utc.with_ymd_and_hms(2026, 2, 28, 0, 0, 0).unwrap());
    assert_eq!(to, Utc.with_ymd_and_hms(2026, 3, 3, 0, 0, 0).unwrap());
    let at = |d: u32, h: u32, m: u32| Utc.with_ymd_and_hms(2026, 3, d, h, m, 59).unwrap();
    let values = [
        (at(2, 23, 59), 10), // last second of the last day
        (at(2, 0, 0), 5),
        (at(1, 12, 0), 7),
        (at(3, 0, 0), 1000),                                            // after the period: left out
        (Utc.with_ymd_and_hms(2026, 2, 27, 23, 59, 59).unwrap(), 1000), // before it
    ];
    assert_eq!(sum_by_day(&days, &values), [0, 7, 15]);
    assert_eq!(group_by_day(&days, &values), [vec![], vec![7], vec![10, 5]]);
    assert_eq!(period_days(today, 1), [today]);
}

#[test]
fn label_values_are_escaped() {
    assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
    assert_eq!(escape_label("x\ny"), "x\\ny");
    assert_eq!(escape_label("plain.type"), "plain.type");
}

#[test]
fn the_metrics_token_is_validated() {
    let read = |token: &str| {
        let vars: HashMap<&str, &str> = [("METRICS_TOKEN", token)].into_iter().collect();
        Config::from_lookup(|k| vars.get(k).map(|v| v.to_string()))
    };
    assert!(read("short").is_err());
    assert!(read("has a space in the middle of it").is_err());
    assert!(read(&"x".repeat(257)).is_err());
    let ok = read("0123456789abcdef0123").unwrap();
    assert!(ok.metrics_token.is_some());
    assert!(read("").unwrap().metrics_token.is_none());
}

// --- the server function on known data ---

async fn admin(app: &TestApp) -> Browser {
    let b = Browser::sign_up(app, "root@example.com").await;
    let store = app.db.store.as_ref();
    let root = store.user_by_email("root@example.com").await.unwrap().unwrap();
    store
        .set_user_credentials(root.user_id(), "admin", root.password_hash.as_deref().unwrap())
        .await
        .unwrap();
    b
}

async fn metrics(b: &Browser, app: &TestApp, days: &str) -> MetricsView {
    let r = b.call(app, "/api/admin_metrics", &[("days", days)]).await;
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// These tests put their facts on "today" (UTC), some a couple of minutes before or after now;
/// within three minutes of midnight a fact could land on the other day. Wait until clear of it.
async fn clear_of_midnight() {
    let now = Utc::now();
    let since = now.time().signed_duration_since(chrono::NaiveTime::MIN);
    let until = Duration::days(1) - since;
    let wait = if since < Duration::minutes(3) {
        Duration::minutes(3) - since
    } else if until < Duration::minutes(3) {
        until + Duration::minutes(3)
    } else {
        return;
    };
    tokio::time::sleep(wait.to_std().unwrap_or_default()).await;
}

async fn metrics_on_known_data(db: Db) {
    clear_of_midnight().await;
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    let u = user(store, "ann@example.com").await.user_id();
    // Four Whop orders today: two paid (credited 120 s and 60 s after Whop's paid_at), one
    // failed, one still pending.
    let a = order(store, u, "a", 25_000, 3250).await;
    let b_ = order(store, u, "b", 5000, 750).await;
    let c = order(store, u, "c", 5000, 750).await;
    let _d = order(store, u, "d", 5000, 750).await;
    for (o, pay, wait) in [(&a, "pay_a", 120), (&b_, "pay_b", 60)] {
        let f = Fulfilment {
            order_id: OrderId(o.id),
            payment_id: pay.into(),
            amount_cents: o.price_cents,
            currency: "usd".into(),
            paid_at: Utc::now() - Duration::seconds(wait),
        };
        store.fulfil_order(&f).await.unwrap();
    }
    assert!(store
        .fail_order(OrderId(c.id), "Your card was declined.")
        .await
        .unwrap());
    // A $10 refund of A, a dispute opened on B, one unmatched payment.
    store
        .refund_order(&RefundApplication {
            refund_id: "rf_a".into(),
            payment_id: "pay_a".into(),
            amount_cents: 1000,
            currency: "usd".into(),
        })
        .await
        .unwrap();
    store
        .dispute_order(&DisputeApplication {
            dispute_id: "dp_b".into(),
            payment_id: "pay_b".into(),
            stage: DisputeStage::Open,
        })
        .await
        .unwrap();
    store
        .record_unmatched(&NewUnmatchedPayment {
            payment_id: "pay_orphan".into(),
            kind: UnmatchedKind::NoOrder,
            reason: "no order".into(),
            order_id: None,
            email: None,
            amount_cents: 750,
            currency: "usd".into(),
            checkout_id: None,
            whop_plan_id: None,
            whop_user_id: None,
            raw_event: "{}".into(),
        })
        .await
        .unwrap();

    let b = admin(&app).await;
    let m = metrics(&b, &app, "7").await;
    assert_eq!(m.period_days, 7);
    assert_eq!(m.days.len(), 7);
    assert_eq!(m.to, Utc::now().date_naive().to_string());
    assert_eq!(
        (m.whop_orders_created, m.whop_orders_paid, m.whop_orders_failed),
        (4, 2, 1)
    );
    assert_eq!(m.conversion_tenths, Some(500), "2 of 4 paid");
    assert_eq!(m.success_rate_tenths, Some(667), "2 paid, 1 failed");
    assert_eq!(m.time_to_credit_count, 2);
    assert_eq!(m.time_to_credit_median_secs, Some(90));
    assert_eq!(m.time_to_credit_p95_secs, Some(120));
    assert_eq!((m.revenue_cents, m.credits_sold), (4000, 30_000));
    assert_eq!((m.refunds, m.refunded_cents), (1, 1000));
    assert_eq!((m.disputes, m.unmatched), (1, 1));
    assert_eq!((m.manual_approved, m.manual_wait_median_secs), (0, None));
    assert!(!m.truncated);
    // Every day is there, the sales on the day Whop's paid_at fell on (today: see
    // `clear_of_midnight`).
    let sold: i64 = m.days.iter().map(|d| d.revenue_cents).sum();
    assert_eq!(sold, 4000);
    assert_eq!(m.days.iter().map(|d| d.refunded_cents).sum::<i64>(), 1000);
    assert_eq!(m.days.iter().map(|d| d.paid_orders).sum::<i64>(), 2);
    assert!(m.days[..6].iter().all(|d| d.time_to_credit_median_secs.is_none()));

    // The page draws the revenue chart as an image with its figures, and the same as a table.
    let page = b
        .client
        .get(app.url("/admin/metrics?days=7"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("role=\"img\""), "{html}");
    assert!(
        html.contains("Revenue per day: 1 of 7 days with data; highest $40.00 on"),
        "{html}"
    );
    assert!(html.contains("id=\"revenue-chart-table\""), "{html}");
    // Credits sold per day, drawn and tabled as revenue is: today's 30,000 on today's row.
    assert!(
        html.contains("Credits sold per day: 1 of 7 days with data; highest 30,000 on"),
        "{html}"
    );
    let today = Utc::now().date_naive().to_string();
    let credits_table = table(&html, "credits-chart-table");
    let today_row = credits_table.split("<tr>").find(|r| r.contains(&today)).unwrap_or("");
    assert!(today_row.contains("30,000"), "{credits_table}");
    // Time to credit per day: today's median of 120 s and 60 s.
    assert!(
        html.contains(&format!(
            "Time to credit per day (median): 1 of 7 days with data; highest {} on",
            format_secs(90)
        )),
        "{html}"
    );
    assert!(table(&html, "ttc-chart-table").contains(&format_secs(90)), "{html}");
    assert!(html.contains("50.0%") && html.contains("66.7%"), "{html}");

    // The default period is 30 days and holds the same facts.
    let r = b.call(&app, "/api/admin_metrics", &[]).await;
    let m30: MetricsView = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!((m30.period_days, m30.days.len(), m30.revenue_cents), (30, 30, 4000));
}

/// The HTML of the table with this id (empty when there is none).
fn table<'a>(html: &'a str, id: &str) -> &'a str {
    let Some(start) = html.find(&format!("id=\"{id}\"")) else {
        return "";
    };
    let rest = &html[start..];
    &rest[..rest.find("</table>").unwrap_or(rest.len())]
}

async fn manual_approvals_count_with_their_wait(db: Db) {
    clear_of_midnight().await;
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    let u = user(store, "ann@example.com").await.user_id();
    // Three manual orders approved 20 s, 40 s and 90 s after they were made. The store takes the
    // approval's time, so the waits are exact (the last approval is at most 90 s in the future).
    for (key, wait) in [("m1", 20), ("m2", 90), ("m3", 40)] {
        let o = manual_order(store, u, key).await;
        let review = Review {
            order: o.order_id(),
            actor: "admin:1".into(),
            note: "paid by invoice".into(),
            price_cents: None,
            audit: AuditEntry {
                actor: "admin:1".into(),
                action: "order.approve".into(),
                subject: format!("order:{}", o.id),
                before: None,
                after: None,
            },
        };
        let done = store
            .approve_manual_order(&review, o.created_at + Duration::seconds(wait))
            .await
            .unwrap();
        assert!(matches!(done, ReviewOutcome::Done { .. }), "{done:?}");
    }
    let b = admin(&app).await;
    let m = metrics(&b, &app, "7").await;
    assert_eq!(m.manual_approved, 3);
    assert_eq!(m.manual_wait_median_secs, Some(40));
    assert_eq!(m.manual_wait_p95_secs, Some(90), "nearest rank: the 3rd of 3");
    // They are sales too (not Whop's: no conversion, no time to credit).
    assert_eq!((m.revenue_cents, m.credits_sold), (2250, 15_000));
    assert_eq!(m.days.iter().map(|d| d.credits_sold).sum::<i64>(), 15_000);
    assert_eq!((m.whop_orders_created, m.time_to_credit_count), (0, 0));
}

async fn bad_periods_are_refused(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let b = admin(&app).await;
    for bad in ["0", "31", "-7", "7.5", "x", "99999999999999999999"] {
        let r = b.call(&app, "/api/admin_metrics", &[("days", bad)]).await;
        assert_eq!(r.status().as_u16(), 400, "{bad}");
    }
}

// --- GET /metrics ---

/// A sample: its name, labels and value.
pub(crate) type Sample = (String, Vec<(String, String)>, f64);

/// Parses the text exposition format (0.0.4) strictly enough to catch mistakes: every line is a
/// HELP, a TYPE or a sample; every sample's family has a TYPE before it; counters end in
/// `_total`; label values are quoted with only \\, \" and \n escapes.
pub(crate) fn parse_exposition(text: &str) -> Vec<Sample> {
    assert!(text.ends_with('\n'), "the last line ends with a line feed");
    let mut types: HashMap<String, String> = HashMap::new();
    let mut samples = Vec::new();
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars()
                .enumerate()
                .all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit()))
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _) = rest.split_once(' ').expect("HELP has a text");
            assert!(name_ok(name), "{line}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE has a kind");
            assert!(name_ok(name), "{line}");
            assert!(["counter", "gauge"].contains(&kind), "{line}");
            if kind == "counter" {
                assert!(name.ends_with("_total"), "counters end in _total: {line}");
            }
            assert!(
                types.insert(name.to_owned(), kind.to_owned()).is_none(),
                "one TYPE per family: {line}"
            );
        } else {
            assert!(!line.starts_with('#') && !line.is_empty(), "{line:?}");
            let (head, value) = line.rsplit_once(' ').expect("a sample has a value");
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
            let (name, labels) = match head.split_once('{') {
                None => (head.to_owned(), Vec::new()),
                Some((name, rest)) => {
                    let body = rest.strip_suffix('}').expect("labels close");
                    (name.to_owned(), parse_labels(body, line))
                }
            };
            assert!(name_ok(&name), "{line}");
            assert!(types.contains_key(&name), "TYPE before the sample: {line}");
            samples.push((name, labels, value));
        }
    }
    samples
}

fn parse_labels(body: &str, line: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = body.chars().peekable();
    while chars.peek().is_some() {
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
        assert_eq!(chars.next(), Some('"'), "{line}");
        let mut value = String::new();
        loop {
            match chars.next().expect("label value closes") {
                '"' => break,
                '\\' => match chars.next() {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    other => panic!("bad escape {other:?} in {line}"),
                },
                '\n' => panic!("raw line feed in {line}"),
                c => value.push(c),
            }
        }
        out.push((name, value));
        match chars.next() {
            None => break,
            Some(',') => {}
            other => panic!("expected , got {other:?} in {line}"),
        }
    }
    out
}

pub(crate) fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .find(|(n, l, _)| {
            n == name
                && l.len() == labels.len()
                && labels.iter().all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|s| s.2)
        .unwrap_or(0.0)
}

pub(crate) async fn scrape(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    let mut r = app.client.get(app.url("/metrics"));
    if let Some(t) = token {
        r = r.header("authorization", format!("Bearer {t}"));
    }
    r.send().await.unwrap()
}

async fn a_simulated_purchase_moves_the_counters(db: Db) {
    let Some(app) = TestApp::spawn_simulated(db).await else {
        return;
    };
    let shop = SimShop::open(&app).await;
    let u = user(app.db.store.as_ref(), "ann@example.com").await.user_id();
    let r = scrape(&app, None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let before = parse_exposition(&r.text().await.unwrap());

    let (o, url) = shop.order(&app, u, "metrics", true).await;
    press(&app, &url, "pay").await;
    let start = Instant::now();
    loop {
        let row = app.db.store.order_by_id(OrderId(o.id)).await.unwrap().unwrap();
        if row.credited_at.is_some() {
            break;
        }
        assert!(start.elapsed() < StdDuration::from_secs(10), "never credited: {row:?}");
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    // Other tests share this process's counters: only the increase is ours, and at least it.
    // The event is settled (and counted) just after the order is credited: poll briefly.
    let succeeded = [("type", "payment.succeeded")];
    let checkout = [("resource", "checkout_configurations"), ("method", "post")];
    let after = loop {
        let after = parse_exposition(&scrape(&app, None).await.text().await.unwrap());
        let delta = |name: &str, labels: &[(&str, &str)]| value(&after, name, labels) - value(&before, name, labels);
        let moved = [
            delta("atlas_webhooks_received_total", &succeeded),
            delta("atlas_webhooks_applied_total", &succeeded),
            delta("atlas_ledger_posts_total", &[("kind", "purchase")]),
            delta("atlas_whop_api_calls_total", &checkout),
        ];
        if moved.iter().all(|d| *d >= 1.0) {
            break after;
        }
        assert!(
            start.elapsed() < StdDuration::from_secs(10),
            "counters did not move: {moved:?}"
        );
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    };
    // The gauges come from this test's own database.
    assert_eq!(value(&after, "atlas_unmatched_payments_open", &[]), 0.0);
    // Every event type family has all its bounded labels, unknown types folded into "other".
    for t in ["payment.succeeded", "refund.created", "other"] {
        assert!(
            after
                .iter()
                .any(|(n, l, _)| n == "atlas_webhooks_received_total" && l[0].1 == t),
            "{t}"
        );
    }
}

async fn the_metrics_token_is_enforced(db: Db) {
    let token = "scrape-0123456789abcdef";
    let Some(app) = TestApp::spawn_with_env(db, &[("METRICS_TOKEN", token)]).await else {
        return;
    };
    for bad in [
        None,
        Some("wrong-0123456789abcdef"),
        Some(""),
        Some("scrape-0123456789abcde"),
    ] {
        let r = scrape(&app, bad).await;
        assert_eq!(r.status(), 401, "{bad:?}");
        assert!(!r.text().await.unwrap().contains("atlas_"), "{bad:?}");
    }
    let r = app
        .client
        .get(app.url("/metrics"))
        .header("authorization", format!("Basic {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = scrape(&app, Some(token)).await;
    assert_eq!(r.status(), 200);
    parse_exposition(&r.text().await.unwrap());
}
