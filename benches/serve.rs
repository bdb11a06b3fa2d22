//! The release server as an operator runs it: its memory (RSS) idle and under load, and `/credits`
//! rendered for a signed-in user at a fixed rate. Not a test: it prints figures (BENCHMARKS.md).
//!
//!   cargo bench --features ssr --bench serve
//!
//! The server is the release binary (`atlas-credits serve`, built by this same `cargo bench`) on a
//! fresh SQLite database (synchronous=full, the default) with the built-in Whop simulator, as
//! `make run` serves it. 500 users with a balance come from `atlas-credits import`.
//!
//! `/credits` is requested open-loop: each request is due at its slot of a fixed schedule and its
//! latency counts from that slot, so a slow answer delays the ones behind it in the figures too
//! (no coordinated omission). `SSR_RPS` (default 200) and `SSR_SECS` (default 10).
//!
//! `BENCH_SEED_USERS=n` loads the database with the scale data set first (`support/seed.rs`: n
//! users with 10 paid orders and 50 ledger rows each), as `make bench-scale-table` does.

#[cfg(feature = "ssr")]
#[path = "support/seed.rs"]
mod seed;

#[cfg(feature = "ssr")]
fn main() {
    bench::main();
}

#[cfg(not(feature = "ssr"))]
fn main() {
    eprintln!("run with --features ssr");
}

#[cfg(feature = "ssr")]
mod bench {
    use std::io::Write;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    const BIN: &str = env!("CARGO_BIN_EXE_atlas-credits");
    const USERS: usize = 500;

    pub fn main() {
        let rps: u64 = env_or("SSR_RPS", 200);
        let secs: u64 = env_or("SSR_SECS", 10);
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let db = format!("sqlite://{}", dir.path().join("serve.db").display());
        let cmd = |args: &[&str]| {
            let mut c = Command::new(BIN);
            c.args(args)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("DATABASE_URL", &db)
                .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
                .env("LEPTOS_ENV", "PROD")
                .env("RUST_LOG", "warn")
                .env("WHOP_MODE", "simulated")
                // The load comes from this one address, standing in for many clients.
                .env("HTTP_MAX_CONNECTIONS_PER_ADDRESS", "0")
                .env("WHOP_WEBHOOK_SECRET", "ws_bench_secret_0123456789");
            c
        };
        assert!(cmd(&["migrate"]).status().unwrap().success());
        let seeded = env_or("BENCH_SEED_USERS", 0) as i64;
        if seeded > 0 {
            let t = Instant::now();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let raw = super::seed::Raw::connect(&db).await;
                super::seed::seed(&raw, 1, seeded).await;
            });
            eprintln!("  seeded {seeded} users in {:.0} s", t.elapsed().as_secs_f64());
        }
        let csv = dir.path().join("users.csv");
        let mut f = std::fs::File::create(&csv).unwrap();
        writeln!(f, "email,external_id,name,balance").unwrap();
        for i in 0..USERS {
            writeln!(f, "u{i}@bench.example,bench-{i},User {i},1000000").unwrap();
        }
        drop(f);
        let out = cmd(&["import", "--users", csv.to_str().unwrap()]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let out = cmd(&["create-api-key", "--name", "bench"]).output().unwrap();
        let key = String::from_utf8(out.stdout).unwrap().trim().to_string();

        let mut server = Server(
            cmd(&["serve"])
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap(),
        );
        let pid = server.0.id();
        let base = format!("http://127.0.0.1:{port}");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let http = reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            let t = Instant::now();
            while http
                .get(format!("{base}/readyz"))
                .send()
                .await
                .map(|r| r.status() != 200)
                .unwrap_or(true)
            {
                assert!(t.elapsed() < Duration::from_secs(30), "server not ready");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let r = http
                .post(format!("{base}/api/sign_up"))
                .header("origin", &base)
                .header("accept", "application/json")
                .form(&[("email", "reader@bench.example"), ("password", "correct horse battery")])
                .send()
                .await
                .unwrap();
            assert!(
                r.status().is_success() || r.status().is_redirection(),
                "sign up: {}",
                r.status()
            );
            let page = http.get(format!("{base}/credits")).send().await.unwrap();
            assert_eq!(page.status(), 200);
            assert!(page.text().await.unwrap().contains("credits"), "the signed-in page");
            tokio::time::sleep(Duration::from_secs(3)).await;
            let idle = rss_kib(pid);

            // /credits at a fixed rate.
            let total = rps * secs;
            let start = Instant::now() + Duration::from_millis(100);
            let tasks: Vec<_> = (0..total)
                .map(|n| {
                    let http = http.clone();
                    let url = format!("{base}/credits");
                    let due = start + Duration::from_nanos(n * 1_000_000_000 / rps);
                    tokio::spawn(async move {
                        tokio::time::sleep_until(due.into()).await;
                        let r = http.get(&url).send().await.unwrap();
                        assert_eq!(r.status(), 200);
                        r.bytes().await.unwrap();
                        due.elapsed()
                    })
                })
                .collect();
            let mut lat = Vec::new();
            for t in tasks {
                lat.push(t.await.unwrap());
            }
            lat.sort();
            let after_ssr = rss_kib(pid);

            // Spends from 64 keep-alive clients for 5 s (the host app's hot path), for the memory.
            let api = reqwest::Client::new();
            let until = Instant::now() + Duration::from_secs(5);
            let mut peak = 0;
            let spenders: Vec<_> = (0..64)
                .map(|c| {
                    let api = api.clone();
                    let (base, key) = (base.clone(), key.clone());
                    tokio::spawn(async move {
                        let mut n = 0u64;
                        while Instant::now() < until {
                            let r = api
                                .post(format!(
                                    "{base}/api/v1/users/bench-{}/spend",
                                    (c * 7 + n as usize) % USERS
                                ))
                                .bearer_auth(&key)
                                .json(&serde_json::json!({ "amount": 1, "idempotency_key": format!("mem-{c}-{n}") }))
                                .send()
                                .await
                                .unwrap();
                            assert!(r.status().is_success(), "{}", r.status());
                            n += 1;
                        }
                        n
                    })
                })
                .collect();
            while Instant::now() < until {
                peak = peak.max(rss_kib(pid));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let mut spends = 0;
            for s in spenders {
                spends += s.await.unwrap();
            }
            peak = peak.max(rss_kib(pid));
            tokio::time::sleep(Duration::from_secs(3)).await;
            let settled = rss_kib(pid);

            let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1000.0;
            let loaded = if seeded > 0 {
                format!(", loaded with {seeded} seeded users")
            } else {
                String::new()
            };
            println!(
                "release server, SQLite (full), {} cores{loaded}",
                std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
            );
            println!(
                "{:<40} {:>10} {:>10} {:>10} {:>10}",
                "GET /credits, signed in", "req/s", "p50 ms", "p99 ms", "max ms"
            );
            println!(
                "{:<40} {:>10} {:>10.2} {:>10.2} {:>10.2}",
                format!("open loop, {total} requests"),
                rps,
                pct(0.5),
                pct(0.99),
                pct(1.0)
            );
            println!("{:<40} {:>10}", "server RSS", "MiB");
            for (label, kib) in [
                ("idle after start and one page", idle),
                ("after the /credits run", after_ssr),
                (&*format!("peak under 64 spenders ({spends} spends)"), peak),
                ("3 s after", settled),
            ] {
                println!("{label:<40} {:>10.1}", kib as f64 / 1024.0);
            }
        });
        server.0.kill().ok();
    }

    struct Server(Child);

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn rss_kib(pid: u32) -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    fn env_or(var: &str, default: u64) -> u64 {
        std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
    }
}
