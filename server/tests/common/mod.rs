//! The integration-test harness: a real server on port 0 over a fresh, migrated database
//! (SQLite in its own temporary directory, or a new PostgreSQL database when
//! `TOKENWELL_TEST_PG_URL` is set), and HTTP clients with cookie jars.
#![allow(dead_code)]

use std::time::Duration;

use app::{
    model::Role,
    server::{
        db::{test_support::TestDatabase, NewPerson},
        now, AppState,
    },
};
use reqwest::{header, redirect, Client, Response, StatusCode};
use serde_json::Value;
use server::{
    config::{DatabaseArgs, ServeArgs},
    http::middleware::TrustedProxies,
    startup::Application,
};

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub base: String,
    /// `http://…` of the metrics listener, when the test turned it on.
    pub metrics_base: Option<String>,
    pub state: AppState,
    pub dir: tempfile::TempDir,
    pub db: TestDatabase,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Everything the servers of this test binary log, at every level.
pub static LOGS: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

struct LogSink;

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Everything the server logs, at every level; the test's own HTTP client (reqwest and
        // its cookie jar, which log cookies they receive) is not the server and is left out.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "trace,cookie_store=off,reqwest=off",
            ))
            .with_ansi(false)
            .with_writer(|| LogSink)
            .try_init();
    });
}

pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut ServeArgs)) -> TestApp {
    capture_logs();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = TestDatabase::create().await;
    let mut args = ServeArgs {
        database: DatabaseArgs { database_url: db.url.clone() },
        addr: "127.0.0.1:0".parse().unwrap(),
        site_root: dir.path().join("site"),
        secure_cookies: false,
        initial_password_hours: 72,
        max_upload_bytes: 1024 * 1024,
        data_dir: dir.path().join("files"),
        max_concurrent_uploads: 16,
        org_quota_bytes: 1024 * 1024 * 1024,
        upload_idle_secs: 30,
        trusted_proxies: TrustedProxies::default(),
        header_timeout_secs: 10,
        request_timeout_secs: 30,
        console_concurrency: 32,
        metrics_addr: None,
        secret_key: None,
        public_url: None,
        reauth_secs: 600,
        no_migrate: false,
    };
    adjust(&mut args);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    let app = Application::build(args, listener).await.expect("build app");
    let base = format!("http://{}", app.address());
    let metrics_base = app.metrics_address().map(|a| format!("http://{a}"));
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped());
    TestApp { base, metrics_base, state, dir, db }
}

/// A browser-like client: keeps cookies, does not follow redirects.
pub fn client() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Adds a person directly through the store. Returns the user id.
    pub async fn add_user(&self, org: &str, email: &str, role: Role) -> i64 {
        let hash = self.state.passwords.hash(PASSWORD.into()).await.unwrap();
        let name = email.split('@').next().unwrap();
        let person = NewPerson { name, email, password_hash: &hash };
        self.state.store.create_user(org, person, role, now()).await.unwrap().0
    }

    /// Runs a statement of the test's own (SQL both backends read).
    pub async fn sql(&self, statement: &str) {
        self.state.store.execute_for_test(statement, &[]).await;
    }

    pub async fn scalar(&self, statement: &str) -> i64 {
        self.state.store.scalar_for_test(statement, &[]).await
    }

    pub async fn login(&self, client: &Client, email: &str, password: &str) -> Response {
        client
            .post(self.url("/rpc/login"))
            .form(&[("email", email), ("password", password)])
            .send()
            .await
            .unwrap()
    }

    /// A client signed in as `email`.
    pub async fn signed_in(&self, email: &str) -> Client {
        let c = client();
        let res = self.login(&c, email, PASSWORD).await;
        assert!(
            res.status().is_success() || res.status().is_redirection(),
            "sign-in failed: {}",
            res.status()
        );
        c
    }

    /// Calls a JSON server function.
    pub async fn rpc(&self, client: &Client, name: &str, body: Value) -> Response {
        client
            .post(self.url(&format!("/rpc/{name}")))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    pub async fn rpc_ok(&self, client: &Client, name: &str, body: Value) -> Value {
        let res = self.rpc(client, name, body).await;
        let status = res.status();
        let text = res.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{name}: {text}");
        serde_json::from_str(&text).unwrap()
    }
}

/// Waits for the server's "listening on" line and returns its base URL; keeps reading its
/// output afterwards so the process never blocks on a full pipe.
pub async fn listening(child: &mut tokio::process::Child) -> String {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some((_, url)) = line.split_once("listening on ") {
                return url.trim().to_string();
            }
        }
        panic!("the server exited without listening");
    })
    .await
    .expect("the server did not start within 30 s");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    found
}
