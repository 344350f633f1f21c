//! Limits that keep slow or numerous clients from tying the server up: the header read
//! timeout, the console's request timeout and stalled bodies, and the console's
//! concurrency limit.

mod common;

use std::time::{Duration, Instant};

use app::model::Role;
use common::*;
use reqwest::{header, StatusCode};
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://")).await.unwrap()
}

/// Reads until the server closes the connection (or `limit` passes: then panics); returns
/// what it sent and when it closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Instant) {
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (String::from_utf8_lossy(&answer).into_owned(), Instant::now())
            }
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "the server kept the connection open; so far it sent {:?}",
                String::from_utf8_lossy(&answer)
            ),
        }
    }
}

#[tokio::test]
async fn a_client_that_sends_its_headers_slowly_is_disconnected() {
    let app = spawn_app_with(|args| args.header_timeout_secs = 1).await;
    for partial in [
        "GET /heal",
        "GET /healthz HTTP/1.1\r\nHost: x\r\n",
        "POST /api/v1/files HTTP/1.1\r\nAuthorization: Bear",
    ] {
        let mut stream = connect(&app).await;
        let started = Instant::now();
        stream.write_all(partial.as_bytes()).await.unwrap();
        // Keep trickling, a byte now and then, never finishing the headers.
        let trickle = async {
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                if stream.write_all(b"X").await.is_err() {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_millis(700), trickle).await;
        let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
        let after = closed - started;
        assert!(
            after >= Duration::from_millis(900) && after < Duration::from_secs(4),
            "{partial:?}: closed after {after:?}"
        );
        assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{partial:?}: {answer:?}");
    }
    // Headers sent in time are answered as usual.
    let mut stream = connect(&app).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (answer, _) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
}

/// Starts a sign-in that announces a body of `length` bytes and sends only its first few.
async fn start_sign_in(app: &TestApp, length: usize) -> TcpStream {
    let mut stream = connect(app).await;
    let head = format!(
        "POST /rpc/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {length}\r\nConnection: close\r\n\r\nemail="
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// The 408 with the usual JSON error, then the connection closed.
fn assert_timed_out(answer: &str, what: &str) {
    assert!(answer.starts_with("HTTP/1.1 408"), "{what}: {answer:?}");
    assert!(
        answer.contains("content-type: application/json") && answer.ends_with("\"TimedOut\""),
        "{what}: {answer:?}"
    );
}

#[tokio::test]
async fn a_console_request_whose_body_stalls_or_trickles_gets_408() {
    let app = spawn_app_with(|args| args.request_timeout_secs = 1).await;

    // Stalls: a few bytes of the body, then nothing.
    let mut stream = start_sign_in(&app, 100).await;
    let started = Instant::now();
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(closed - started < Duration::from_secs(3), "stalled: {:?}", closed - started);
    assert_timed_out(&answer, "stalled");

    // Trickles: a byte every 200 ms never stalls for a second, but the whole request may not
    // take longer than one.
    let mut stream = start_sign_in(&app, 100).await;
    let started = Instant::now();
    let (mut reader, mut writer) = stream.split();
    let trickle = async {
        for _ in 0..25 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if writer.write_all(b"a").await.is_err() {
                break;
            }
        }
    };
    let read = async {
        let mut answer = Vec::new();
        let _ = reader.read_to_end(&mut answer).await;
        (String::from_utf8_lossy(&answer).into_owned(), Instant::now())
    };
    let ((answer, closed), ()) =
        tokio::time::timeout(Duration::from_secs(10), async { tokio::join!(read, trickle) })
            .await
            .expect("the trickling request was never cut off");
    assert!(closed - started < Duration::from_secs(4), "trickled: {:?}", closed - started);
    assert_timed_out(&answer, "trickled");

    // A body sent at a normal pace is unaffected.
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    assert_eq!(app.login(&client(), "ada@acme.test", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_api_upload_whose_body_stalls_is_cut_off() {
    let app = spawn_app_with(|args| args.request_timeout_secs = 1).await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let admin = app.signed_in("ada@acme.test").await;
    let generated =
        app.rpc_ok(&admin, "generate_token", json!({"kind": "forwarder", "name": "slow"})).await;
    let secret = generated["secret"].as_str().unwrap();
    let mut stream = connect(&app).await;
    let head = format!(
        "POST /api/v1/files?name=slow.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {secret}\r\n\
         Content-Length: 1000\r\nConnection: close\r\n\r\nfirst bytes"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(closed - started < Duration::from_secs(3), "{:?}", closed - started);
    // The request timeout (1 s) ends the wait before the upload's own idle limit (30 s):
    // still the documented 408.
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(answer.contains("\"request_timeout\""), "{answer:?}");
    assert_eq!(app.scalar("SELECT count(*) FROM files").await, 0);
}

/// Holds, from outside, the lock a sign-in's first write needs, as a long write would,
/// until `release`: sign-ins then wait for it while they are being handled. On SQLite the
/// database's write lock (up to the busy timeout, 5 s); on PostgreSQL the throttle table's.
enum WriteLock {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl WriteLock {
    async fn take(app: &TestApp) -> WriteLock {
        use sqlx::Connection;
        if app.db.backend() == "postgres" {
            let mut conn = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
            sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
            sqlx::query("LOCK TABLE throttle_windows IN EXCLUSIVE MODE")
                .execute(&mut conn)
                .await
                .unwrap();
            WriteLock::Postgres(conn)
        } else {
            let mut conn = sqlx::SqliteConnection::connect(&app.db.url).await.unwrap();
            sqlx::query("BEGIN IMMEDIATE").execute(&mut conn).await.unwrap();
            WriteLock::Sqlite(conn)
        }
    }

    async fn release(self) {
        match self {
            WriteLock::Sqlite(mut conn) => {
                sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
            }
            WriteLock::Postgres(mut conn) => {
                sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
            }
        }
    }
}

#[tokio::test]
async fn the_console_answers_503_beyond_its_concurrency_limit_and_the_api_is_not_counted() {
    let app = spawn_app_with(|args| args.console_concurrency = 2).await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let admin = app.signed_in("ada@acme.test").await;
    let generated =
        app.rpc_ok(&admin, "generate_token", json!({"kind": "api", "name": "busy"})).await;
    let secret = generated["secret"].as_str().unwrap().to_string();

    // Two sign-ins being handled, each waiting to write its session, hold both places.
    let lock = WriteLock::take(&app).await;
    let held: Vec<_> = (0..2)
        .map(|_| {
            let url = app.url("/rpc/login");
            tokio::spawn(async move {
                client()
                    .post(url)
                    .form(&[("email", "ada@acme.test"), ("password", PASSWORD)])
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    let mut busy = None;
    for _ in 0..100 {
        let res = client().get(app.url("/login")).send().await.unwrap();
        if res.status() == StatusCode::SERVICE_UNAVAILABLE {
            busy = Some(res);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let busy = busy.expect("the console never answered 503");
    assert_eq!(busy.headers()[header::RETRY_AFTER], "1");
    assert_eq!(busy.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(busy.text().await.unwrap(), "\"Busy\"");
    let res = admin
        .post(app.url("/rpc/current_user"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "server functions are the console too"
    );

    // The token API and the health checks do not queue behind the console.
    let res = client().get(app.url("/api/v1/whoami")).bearer_auth(&secret).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(client().get(app.url("/healthz")).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(client().get(app.url("/readyz")).send().await.unwrap().status(), StatusCode::OK);

    // Once those two are done, the console answers again.
    lock.release().await;
    for sign_in in held {
        assert_eq!(sign_in.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(client().get(app.url("/login")).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn clients_sending_their_bodies_slowly_hold_no_console_place() {
    let app = spawn_app_with(|args| args.console_concurrency = 2).await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;

    // More sign-ins than there are places, each still waiting for most of its body.
    let mut slow = Vec::new();
    for _ in 0..4 {
        slow.push(start_sign_in(&app, 100).await);
    }
    // Time for the server to take them all in: were they holding places, the console
    // would answer 503 from here on.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..3 {
        assert_eq!(client().get(app.url("/login")).send().await.unwrap().status(), StatusCode::OK);
    }
    assert_eq!(app.login(&client(), "ada@acme.test", PASSWORD).await.status(), StatusCode::OK);

    // And the slow ones are still waiting for their bodies, unanswered.
    for stream in &mut slow {
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_millis(50), stream.read(&mut buf)).await;
        assert!(read.is_err(), "a slow sign-in was answered: {read:?}");
    }
}
