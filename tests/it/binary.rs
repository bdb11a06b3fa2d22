//! The built `atlas-credits` binary as an operator runs it: configuration errors name the
//! variable, `migrate` works on its own, the default database lands under data/, JSON logs are
//! JSON, SIGTERM shuts the server down cleanly, and create-admin does not hand admin rights to
//! whoever signed up with the operator's email first.

use crate::common;

use common::auth::{Browser, PASSWORD};
use common::{Db, TestApp};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_atlas-credits");

fn command(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args);
    for var in [
        "DATABASE_URL",
        "LOG_FORMAT",
        "RUST_LOG",
        "DATABASE_MAX_CONNECTIONS",
        "SQLITE_SYNCHRONOUS",
        "WHOP_WEBHOOK_SECRET",
        "WHOP_API_KEY",
        "WHOP_MODE",
        "WHOP_COMPANY_ID",
        "WHOP_BASE_URL",
        "PUBLIC_URL",
        "TRUST_PROXY",
        "LEPTOS_SITE_ADDR",
    ] {
        c.env_remove(var);
    }
    c
}

#[test]
fn malformed_configuration_stops_with_the_variables_name() {
    let out = command(&["migrate"])
        .env("DATABASE_URL", "mysql://nope")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("DATABASE_URL") && err.contains("sqlite:"), "{err}");

    let out = command(&["migrate"]).env("LOG_FORMAT", "yaml").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("LOG_FORMAT"));
}

#[test]
fn migrate_creates_the_default_database_under_data() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(&["migrate"]).current_dir(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.path().join("data/atlas-credits.db").exists());
    // Twice is fine.
    assert!(command(&["migrate"])
        .current_dir(dir.path())
        .status()
        .unwrap()
        .success());
}

#[test]
fn serve_logs_json_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = command(&["serve"])
        .current_dir(env!("CARGO_MANIFEST_DIR")) // reads Leptos.toml from the project root
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("s.db").display()),
        )
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Wait until it answers /healthz.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut resp = String::new();
            let _ = s.read_to_string(&mut resp);
            if resp.starts_with("HTTP/1.1 200") {
                break;
            }
        }
        assert!(Instant::now() < deadline, "server did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "server did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "exit status {exit:?}");

    let lines: Vec<String> = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .collect();
    assert!(!lines.is_empty(), "no log output");
    for line in &lines {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    }
    let all = lines.join("\n");
    assert!(all.contains("SIGTERM received"), "{all}");
    assert!(all.contains("closing the database"), "{all}");
}

#[test]
fn create_admin_and_create_api_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("ops.db").display());

    // The password never comes from the command line: here from the environment.
    let out = command(&["create-admin", "--email", "Ops@Example.com"])
        .env("DATABASE_URL", &db)
        .env("ATLAS_ADMIN_PASSWORD", "a long admin password")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Created admin Ops@Example.com"));

    // Again: resets the existing admin's password instead of failing.
    let out = command(&["create-admin", "--email", "ops@example.com"])
        .env("DATABASE_URL", &db)
        .env("ATLAS_ADMIN_PASSWORD", "another long password")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Reset the password of admin ops@example.com"));

    // Too short a password is refused and changes nothing.
    let out = command(&["create-admin", "--email", "new@example.com"])
        .env("DATABASE_URL", &db)
        .env("ATLAS_ADMIN_PASSWORD", "short")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 10 characters"));

    let out = command(&["create-api-key", "--name", "atlas-backend"])
        .env("DATABASE_URL", &db)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        key.starts_with("ak_") && key.len() == 67,
        "stdout is the key alone: {key:?}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("shown only now"));

    // Check what landed in the database.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&db).await.unwrap();
        let (role, hash): (String, String) =
            sqlx::query_as("select role, password_hash from users where lower(email) = 'ops@example.com'")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(role, "admin");
        assert!(hash.starts_with("$argon2id$"));
        let users: i64 = sqlx::query_scalar("select count(*) from users")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(users, 1);
        let stored: String = sqlx::query_scalar("select key_hash from api_keys")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_ne!(stored, key, "the key is stored hashed");
    });
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn answers_healthz(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp.starts_with("HTTP/1.1 200")
}

/// Runs `serve` with `env` until it exits on its own (Some(code)) or answers /healthz (None,
/// then stopped with SIGTERM). Returns that and everything it wrote to stderr.
fn serve_briefly(port: u16, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = command(&["serve"]);
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("s.db").display()),
        )
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let exited = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if answers_healthz(port) {
            Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            child.wait().unwrap();
            break None;
        }
        assert!(Instant::now() < deadline, "server neither started nor stopped");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (exited, err)
}

/// Test mode (the simulator, whose checkout pays for free) never starts by accident: without a
/// Whop key it is the default only on a loopback address without an https PUBLIC_URL.
#[test]
fn test_mode_is_refused_where_it_could_be_mistaken_for_production() {
    let port = free_port();
    let any = format!("0.0.0.0:{port}");
    let lo = format!("127.0.0.1:{port}");
    for env in [
        vec![("LEPTOS_SITE_ADDR", any.as_str())],
        // A key secret that failed to mount arrives blank.
        vec![("LEPTOS_SITE_ADDR", any.as_str()), ("WHOP_API_KEY", "  ")],
        vec![
            ("LEPTOS_SITE_ADDR", lo.as_str()),
            ("PUBLIC_URL", "https://credits.example.com"),
        ],
    ] {
        let (exit, err) = serve_briefly(port, &env);
        assert_eq!(exit, Some(2), "{env:?} must refuse to start: {err}");
        for named in ["WHOP_API_KEY", "WHOP_MODE=simulated", "PUBLIC_URL", "LEPTOS_SITE_ADDR"] {
            assert!(err.contains(named), "{env:?}: the message names {named}: {err}");
        }
    }

    // Chosen on purpose it starts anywhere, and says so loudly.
    let (exit, err) = serve_briefly(port, &[("LEPTOS_SITE_ADDR", any.as_str()), ("WHOP_MODE", "simulated")]);
    assert_eq!(exit, None, "{err}");
    assert!(err.contains("TEST MODE (WHOP_MODE=simulated)"), "{err}");

    // The default on loopback (make run) starts, and says why.
    let (exit, err) = serve_briefly(port, &[("LEPTOS_SITE_ADDR", lo.as_str())]);
    assert_eq!(exit, None, "{err}");
    assert!(err.contains("TEST MODE (no WHOP_API_KEY"), "{err}");
}

/// A malformed `.env` is reported by line number only: its text may be a secret.
#[test]
fn a_bad_env_file_line_is_named_not_printed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "LOG_FORMAT=text\nWHOP_API_KEY=\"sk_live_topsecret\nRUST_LOG=info\n",
    )
    .unwrap();
    let out = command(&["migrate"]).current_dir(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(".env line 2"), "{err}");
    assert!(!err.contains("topsecret") && !err.contains("WHOP_API_KEY"), "{err}");
    assert!(!dir.path().join("data").exists(), "nothing ran");
}

/// Database passwords never reach the logs, in any form PostgreSQL URLs carry them, at any level.
#[test]
fn database_passwords_never_reach_the_logs() {
    // In a configuration error.
    let out = command(&["migrate"])
        .env("DATABASE_URL", "mysql://u:hunter2@h/db?password=hunter3")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("DATABASE_URL") && !err.contains("hunter"), "{err}");

    // In the start-up lines of a real PostgreSQL database (trust auth ignores the password).
    let Some(admin_url) = std::env::var("TEST_POSTGRES_URL").ok().filter(|v| !v.is_empty()) else {
        assert_ne!(
            std::env::var("REQUIRE_POSTGRES").as_deref(),
            Ok("1"),
            "TEST_POSTGRES_URL is required"
        );
        eprintln!("!!! SKIPPED the PostgreSQL half: TEST_POSTGRES_URL is not set !!!");
        return;
    };
    let name = format!("atlas_test_redact_{}", std::process::id());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let admin = rt.block_on(sqlx::PgPool::connect(&admin_url)).unwrap();
    rt.block_on(sqlx::query(&format!("create database {name}")).execute(&admin))
        .unwrap();
    let base = admin_url.rsplit_once('/').unwrap().0;
    let db_url = format!("{base}/{name}?sslmode=disable&password=hunter2&application_name=atlas");
    let out = command(&["migrate"])
        .env("DATABASE_URL", &db_url)
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    rt.block_on(sqlx::query(&format!("drop database if exists {name} with (force)")).execute(&admin))
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("migrations applied") && err.contains("password=***"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

both_backends!(create_admin_will_not_promote_a_signed_up_account_unasked);

/// Runs `create-admin` against a test database, off the async threads.
async fn create_admin(db_url: &str, args: &[&str]) -> std::process::Output {
    let mut c = command(&["create-admin", "--email", "ops@example.com"]);
    c.args(args)
        .env("DATABASE_URL", db_url)
        .env("ATLAS_ADMIN_PASSWORD", "the operator's password")
        .stdin(Stdio::null());
    tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap()
}

async fn viewer(app: &TestApp, b: &Browser) -> serde_json::Value {
    b.call(app, "/api/get_viewer", &[]).await.json().await.unwrap()
}

async fn create_admin_will_not_promote_a_signed_up_account_unasked(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    // Sign-up sends no confirmation: anyone can register the operator's address and stay signed in.
    let squatter = Browser::sign_up(&app, "ops@example.com").await;
    let role = || async {
        app.db
            .store
            .user_by_email("ops@example.com")
            .await
            .unwrap()
            .unwrap()
            .role
    };

    let out = create_admin(&app.db.url, &[]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "refused without --promote-existing");
    assert!(
        err.contains("--promote-existing") && err.contains("no confirmation"),
        "{err}"
    );
    assert_eq!(role().await, "user");
    assert_eq!(viewer(&app, &squatter).await["role"], "user", "nothing changed");

    let out = create_admin(&app.db.url, &["--promote-existing"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("Promoted ops@example.com") && said.contains("1 session(s) ended"),
        "{said}"
    );
    assert_eq!(role().await, "admin");
    assert_eq!(
        viewer(&app, &squatter).await,
        serde_json::Value::Null,
        "the squatter's session is over"
    );
    let r = squatter
        .call(
            &app,
            "/api/log_in",
            &[("email", "ops@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), 401, "and its password no longer works");
}
