//! Operations: `/metrics` on its own listener, and `tokenwell migrate` before
//! `serve --no-migrate`.

mod common;

use std::{path::Path, process::Stdio, time::Duration};

use app::{model::Role, server::Store};
use common::*;
use reqwest::{header, StatusCode};
use serde_json::json;
use tokio::process::Command;

/// The sum of the samples of `name` whose labels include every one of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .filter(|(series, _)| {
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            metric == name && labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|(_, value)| value.parse::<f64>().unwrap())
        .sum()
}

#[tokio::test]
async fn metrics_are_served_on_their_own_address_only() {
    let app = spawn_app_with(|a| a.metrics_addr = Some("127.0.0.1:0".parse().unwrap())).await;
    let metrics = app.metrics_base.clone().expect("metrics listener");
    let c = client();
    assert_eq!(c.get(app.url("/metrics")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    // The metrics listener serves nothing but GET /metrics.
    for path in ["/healthz", "/api/v1/whoami", "/"] {
        let res = c.get(format!("{metrics}{path}")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }

    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let admin = app.signed_in("ada@acme.test").await;
    let g = app.rpc_ok(&admin, "generate_token", json!({"kind": "api", "name": "ci"})).await;
    let (id, secret) = (g["token"]["id"].as_i64().unwrap(), g["secret"].as_str().unwrap());
    let whoami = |token: Option<String>| {
        let mut req = c.get(app.url("/api/v1/whoami"));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        async move { req.send().await.unwrap().status() }
    };
    for _ in 0..3 {
        assert_eq!(whoami(Some(secret.into())).await, StatusCode::OK);
    }
    let mut typo = secret.to_string().into_bytes();
    typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
    assert_eq!(whoami(Some(String::from_utf8(typo).unwrap())).await, StatusCode::UNAUTHORIZED);
    assert_eq!(whoami(None).await, StatusCode::UNAUTHORIZED);
    let revoked = c
        .delete(app.url(&format!("/api/v1/tokens/{id}")))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success(), "{}", revoked.status());
    assert_eq!(whoami(Some(secret.into())).await, StatusCode::UNAUTHORIZED);

    let res = c.get(format!("{metrics}/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/plain"));
    let text = res.text().await.unwrap();

    // Requests by route template and status; the token id is not a label.
    let requests = "tokenwell_http_requests_total";
    let whoami_ok = [("route", "/api/v1/whoami"), ("status", "200")];
    assert!(sample(&text, requests, &whoami_ok) >= 3.0, "{text}");
    assert!(sample(&text, requests, &[("route", "/api/v1/whoami"), ("status", "401")]) >= 3.0);
    assert!(sample(&text, requests, &[("route", "/api/v1/tokens/{id}"), ("status", "200")]) >= 1.0);
    assert!(sample(&text, requests, &[("route", "/rpc/login"), ("status", "200")]) >= 1.0);
    assert!(sample(&text, requests, &[("route", "/rpc/generate_token")]) >= 1.0);
    assert!(sample(&text, requests, &[("route", "unmatched"), ("status", "404")]) >= 1.0);
    assert!(!text.contains(&format!("/api/v1/tokens/{id}\"")), "{text}");
    let duration = "tokenwell_http_request_duration_seconds_count";
    assert!(sample(&text, duration, &[("route", "/api/v1/whoami")]) >= 6.0);
    assert!(
        text.contains(
            "tokenwell_http_request_duration_seconds_bucket{route=\"/api/v1/whoami\",le=\"0.005\"}"
        ),
        "{text}"
    );

    // Token checks by outcome and the reason the refusal was logged with.
    let checks = "tokenwell_token_checks_total";
    assert!(sample(&text, checks, &[("outcome", "accepted")]) >= 4.0);
    for reason in ["token checksum mismatch", "missing Authorization header", "revoked token"] {
        let refused = sample(&text, checks, &[("outcome", "refused"), ("reason", reason)]);
        assert!(refused >= 1.0, "{reason}: {text}");
    }
    let checked = sample(&text, "tokenwell_token_check_duration_seconds_count", &[]);
    assert!(checked >= 7.0, "{text}");
    assert!(text.contains("tokenwell_token_check_duration_seconds_bucket{le=\"0.001\"}"));

    // Database pools: SQLite writes through one connection; PostgreSQL has one pool.
    if app.db.backend() == "postgres" {
        assert!(sample(&text, "tokenwell_db_pool_max_connections", &[("pool", "postgres")]) >= 1.0);
        let open = sample(&text, "tokenwell_db_pool_connections", &[("pool", "postgres")]);
        assert!(open >= 1.0, "{text}");
    } else {
        assert_eq!(sample(&text, "tokenwell_db_pool_max_connections", &[("pool", "write")]), 1.0);
        assert!(sample(&text, "tokenwell_db_pool_max_connections", &[("pool", "read")]) >= 1.0);
        let open = sample(&text, "tokenwell_db_pool_connections", &[("pool", "read")]);
        assert!(open >= 1.0, "{text}");
        assert!(text.contains("tokenwell_db_pool_connections{pool=\"write\",state=\"in_use\"}"));
    }
}

#[tokio::test]
async fn without_a_metrics_address_there_is_no_metrics_listener() {
    let app = spawn_app().await;
    assert!(app.metrics_base.is_none());
    let res = client().get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

fn tokenwell(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tokenwell"));
    command
        .args(args)
        .env("DATABASE_URL", database_url(dir))
        .env("LEPTOS_SITE_ROOT", dir.join("site"))
        .env("TOKENWELL_DATA_DIR", dir.join("files"))
        .env("TOKENWELL_LOG", "info")
        .env_remove("TOKENWELL_NO_MIGRATE")
        .env_remove("TOKENWELL_METRICS_ADDR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

const MIGRATIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations/sqlite");

fn database_url(dir: &Path) -> String {
    format!("sqlite:{}", dir.join("tokenwell.db").display())
}

async fn migrate(dir: &Path) {
    let out = tokenwell(dir, &["migrate"]).output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("up to date"));
}

/// Runs `tokenwell serve --no-migrate` (flag or environment) and expects it to refuse to
/// start; returns what it said.
async fn refused_start(dir: &Path, by_env: bool) -> String {
    let mut command = if by_env {
        let mut c = tokenwell(dir, &["serve", "--addr", "127.0.0.1:0"]);
        c.env("TOKENWELL_NO_MIGRATE", "1");
        c
    } else {
        tokenwell(dir, &["serve", "--no-migrate", "--addr", "127.0.0.1:0"])
    };
    let out = tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .expect("serve --no-migrate kept running on an unmigrated database")
        .unwrap();
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening on"));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn scalar(dir: &Path, statement: &str) -> i64 {
    let pool = sqlx::SqlitePool::connect(&database_url(dir)).await.unwrap();
    let value = sqlx::query_scalar(statement).fetch_one(&pool).await.unwrap();
    pool.close().await;
    value
}

async fn execute(dir: &Path, statement: &str) {
    let pool = sqlx::SqlitePool::connect(&database_url(dir)).await.unwrap();
    sqlx::query(statement).execute(&pool).await.unwrap();
    pool.close().await;
}

#[tokio::test]
async fn migrate_once_then_serve_without_migrating() {
    let dir = tempfile::tempdir().unwrap();
    migrate(dir.path()).await;
    // Running it again changes nothing and succeeds.
    migrate(dir.path()).await;
    let applied = scalar(dir.path(), "SELECT count(*) FROM _sqlx_migrations").await;

    let mut server =
        tokenwell(dir.path(), &["serve", "--no-migrate", "--addr", "127.0.0.1:0"]).spawn().unwrap();
    let base = listening(&mut server).await;
    let res = client().get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // The console works on the migrated schema: the first visit leads to setup.
    let res = client().get(format!("{base}/")).send().await.unwrap();
    assert_eq!(res.headers()[header::LOCATION], "/setup");
    server.kill().await.unwrap();
    assert_eq!(scalar(dir.path(), "SELECT count(*) FROM _sqlx_migrations").await, applied);
}

#[tokio::test]
async fn serve_without_migrating_refuses_an_unmigrated_database() {
    // A database file with no schema at all.
    let dir = tempfile::tempdir().unwrap();
    std::fs::File::create(dir.path().join("tokenwell.db")).unwrap();
    for by_env in [false, true] {
        let said = refused_start(dir.path(), by_env).await;
        assert!(said.contains("the database lacks migrations 1, "), "{said}");
        assert!(said.contains("run `tokenwell migrate` first"), "{said}");
    }
    // Refusing changed nothing.
    let tables = "SELECT count(*) FROM sqlite_master WHERE type = 'table'";
    assert_eq!(scalar(dir.path(), tables).await, 0);

    // An old schema: every migration but the newest, as an older build left it.
    let dir = tempfile::tempdir().unwrap();
    let mut old = sqlx::migrate::Migrator::new(Path::new(MIGRATIONS)).await.unwrap();
    let newest = old.iter().map(|m| m.version).max().unwrap();
    old.migrations = old.iter().filter(|m| m.version != newest).cloned().collect();
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join("tokenwell.db"))
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    old.run(&pool).await.unwrap();
    pool.close().await;
    let said = refused_start(dir.path(), true).await;
    let expected = format!("the database lacks migrations {newest}: run `tokenwell migrate` first");
    assert!(said.contains(&expected), "{said}");
    // `migrate` brings it up to date; then it serves.
    migrate(dir.path()).await;
    let mut server = tokenwell(dir.path(), &["serve", "--addr", "127.0.0.1:0"])
        .env("TOKENWELL_NO_MIGRATE", "true")
        .spawn()
        .unwrap();
    let base = listening(&mut server).await;
    let res = client().get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    server.kill().await.unwrap();
}

#[tokio::test]
async fn open_existing_refuses_a_schema_this_build_does_not_know() {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(dir.path());
    Store::open(&url).await.unwrap().close().await;
    Store::open_existing(&url).await.expect("a migrated database opens").close().await;

    // A migration from a newer build.
    execute(
        dir.path(),
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99999999, 'from the future', 1, x'00', 0)",
    )
    .await;
    let e = Store::open_existing(&url).await.unwrap_err().to_string();
    assert!(e.contains("not this version's") && e.contains("99999999"), "{e}");
    execute(dir.path(), "DELETE FROM _sqlx_migrations WHERE version = 99999999").await;

    // An applied migration whose text has changed since.
    execute(dir.path(), "UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = 1").await;
    let e = Store::open_existing(&url).await.unwrap_err().to_string();
    assert!(e.contains("not this version's") && e.contains("modified"), "{e}");

    // A database file that does not exist is not created.
    let missing = tempfile::tempdir().unwrap();
    assert!(Store::open_existing(&database_url(missing.path())).await.is_err());
    assert!(!missing.path().join("tokenwell.db").exists());
}
