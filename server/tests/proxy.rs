//! Behind a reverse proxy: the client's address comes from `X-Forwarded-For` only when the
//! peer is a trusted proxy, and is what "last used" and the sign-in throttle see; HSTS is
//! sent when Tokenwell is served over HTTPS.

mod common;

use std::time::Duration;

use app::model::Role;
use common::*;
use reqwest::{header, Client, StatusCode};
use serde_json::{json, Value};
use server::http::middleware::TrustedProxies;

/// Generates a token in the console as `admin`; returns its secret.
async fn generate(app: &TestApp, admin: &Client, name: &str) -> String {
    let g = app.rpc_ok(admin, "generate_token", json!({"kind": "api", "name": name})).await;
    g["secret"].as_str().unwrap().to_string()
}

/// The "last used" address of the token named `name`, as the console lists it, once the
/// background writer has recorded it.
async fn last_used_ip(app: &TestApp, admin: &Client, name: &str) -> Value {
    for _ in 0..100 {
        let listed = app
            .rpc_ok(
                admin,
                "list_tokens",
                json!({"query": {"q": name, "kind": null, "status": "active", "page": 1}}),
            )
            .await;
        let row = &listed["rows"][0];
        assert_eq!(row["name"], name);
        if !row["last_used_ip"].is_null() {
            return row["last_used_ip"].clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{name}: last use never recorded");
}

/// Calls the API with `token`, sending each of `forwarded` as one `X-Forwarded-For` line.
async fn whoami(app: &TestApp, token: &str, forwarded: &[&str]) {
    let mut req = client().get(app.url("/api/v1/whoami")).bearer_auth(token);
    for value in forwarded {
        req = req.header("x-forwarded-for", *value);
    }
    assert_eq!(req.send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn behind_a_trusted_proxy_last_used_is_the_client_in_forwarded_for() {
    let app = spawn_app_with(|args| {
        args.trusted_proxies = TrustedProxies::parse("127.0.0.1/32, 10.0.0.0/8").unwrap()
    })
    .await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let admin = app.signed_in("ada@acme.test").await;
    let cases: &[(&str, &[&str], &str)] = &[
        ("direct", &["203.0.113.7"], "203.0.113.7"),
        // Two of our proxies in a row; the client's own claim in front is ignored.
        ("hops", &["198.51.100.66, 203.0.113.8, 10.1.2.3"], "203.0.113.8"),
        ("lines", &["198.51.100.66", "203.0.113.9, 10.1.2.3"], "203.0.113.9"),
        ("ipv6", &["2001:db8::9"], "2001:db8::9"),
        ("no-header", &[], "127.0.0.1"),
        ("garbage", &["not-an-address"], "127.0.0.1"),
        ("garbage-hop", &["203.0.113.10, what"], "127.0.0.1"),
    ];
    for (name, forwarded, expected) in cases {
        let token = generate(&app, &admin, name).await;
        whoami(&app, &token, forwarded).await;
        assert_eq!(last_used_ip(&app, &admin, name).await, *expected, "{name}");
    }
}

#[tokio::test]
async fn bytes_that_are_not_text_make_only_their_own_entry_unreadable() {
    let app = spawn_app_with(|args| {
        args.trusted_proxies = TrustedProxies::parse("127.0.0.1/32, 10.0.0.0/8").unwrap()
    })
    .await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let admin = app.signed_in("ada@acme.test").await;
    let cases: &[(&str, &[u8], &str)] = &[
        // Left of the client, where the client writes what it likes: ignored.
        ("client-part", b"caf\xe9, 203.0.113.11, 10.1.2.3", "203.0.113.11"),
        // Where our proxies' entries must be: malformed, so the peer.
        ("proxy-part", b"203.0.113.12, \xe9", "127.0.0.1"),
    ];
    for (name, forwarded, expected) in cases {
        let token = generate(&app, &admin, name).await;
        let value = header::HeaderValue::from_bytes(forwarded).unwrap();
        let res = client()
            .get(app.url("/api/v1/whoami"))
            .bearer_auth(&token)
            .header("x-forwarded-for", value)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(last_used_ip(&app, &admin, name).await, *expected, "{name}");
    }
}

#[tokio::test]
async fn forwarded_for_from_anyone_else_is_ignored() {
    // Trusting no one (the default), or proxies elsewhere: the test client is not one.
    for trusted in ["", "10.0.0.0/8, ::1"] {
        let app =
            spawn_app_with(|args| args.trusted_proxies = TrustedProxies::parse(trusted).unwrap())
                .await;
        app.add_user("Acme", "ada@acme.test", Role::Admin).await;
        let admin = app.signed_in("ada@acme.test").await;
        let token = generate(&app, &admin, "spoof").await;
        whoami(&app, &token, &["203.0.113.7"]).await;
        assert_eq!(last_used_ip(&app, &admin, "spoof").await, "127.0.0.1", "trusting {trusted:?}");
    }
}

/// Failed sign-ins from `forwarded` until the per-address limit answers 429; returns how many.
async fn fail_until_throttled(app: &TestApp, forwarded: &str) -> usize {
    for attempt in 1..=100 {
        let res = client()
            .post(app.url("/rpc/login"))
            .header("x-forwarded-for", forwarded)
            .form(&[
                ("email", format!("nobody{attempt}@acme.test").as_str()),
                ("password", "wrong password"),
            ])
            .send()
            .await
            .unwrap();
        match res.status() {
            StatusCode::UNAUTHORIZED => continue,
            StatusCode::TOO_MANY_REQUESTS => return attempt,
            other => panic!("attempt {attempt}: {other}"),
        }
    }
    panic!("never throttled");
}

async fn sign_in_status(app: &TestApp, forwarded: &str) -> StatusCode {
    let res = client()
        .post(app.url("/rpc/login"))
        .header("x-forwarded-for", forwarded)
        .form(&[("email", "ada@acme.test"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    res.status()
}

#[tokio::test]
async fn behind_a_trusted_proxy_one_client_locked_out_does_not_lock_out_the_others() {
    let app =
        spawn_app_with(|args| args.trusted_proxies = TrustedProxies::parse("127.0.0.1").unwrap())
            .await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    fail_until_throttled(&app, "203.0.113.66").await;
    assert_eq!(sign_in_status(&app, "203.0.113.66").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        sign_in_status(&app, "198.51.100.5").await,
        StatusCode::OK,
        "another client behind the same proxy"
    );
}

#[tokio::test]
async fn a_direct_client_cannot_escape_the_throttle_by_forging_forwarded_for() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let mut throttled = false;
    for attempt in 1..=100 {
        let res = client()
            .post(app.url("/rpc/login"))
            .header("x-forwarded-for", format!("203.0.113.{attempt}"))
            .form(&[
                ("email", format!("nobody{attempt}@acme.test").as_str()),
                ("password", "wrong password"),
            ])
            .send()
            .await
            .unwrap();
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            throttled = true;
            break;
        }
    }
    assert!(
        throttled,
        "a fresh forged address for each attempt must not reset the per-address count"
    );
    assert_eq!(sign_in_status(&app, "198.51.100.5").await, StatusCode::TOO_MANY_REQUESTS);
}

/// Responses of every kind: health check, API error, server-function error, page, missing file.
async fn sample_responses(app: &TestApp) -> Vec<(String, reqwest::Response)> {
    let c = client();
    let mut out = Vec::new();
    for (path, post) in [
        ("/healthz", false),
        ("/api/v1/whoami", false),
        ("/api/v1/openapi.json", false),
        ("/rpc/current_user", true),
        ("/rpc/login", true),
        ("/login", false),
        ("/settings", false),
        ("/pkg/missing.js", false),
    ] {
        let req = if post {
            c.post(app.url(path)).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        } else {
            c.get(app.url(path))
        };
        out.push((path.to_string(), req.send().await.unwrap()));
    }
    out
}

#[tokio::test]
async fn hsts_on_every_response_only_over_https() {
    let https = spawn_app_with(|args| args.secure_cookies = true).await;
    https.add_user("Acme", "ada@acme.test", Role::Admin).await;
    for (path, res) in sample_responses(&https).await {
        let hsts = res
            .headers()
            .get(header::STRICT_TRANSPORT_SECURITY)
            .map(|v| v.to_str().unwrap().to_string());
        assert_eq!(
            hsts.as_deref(),
            Some("max-age=31536000; includeSubDomains"),
            "{path} {}",
            res.status()
        );
    }
    let http = spawn_app().await;
    http.add_user("Acme", "ada@acme.test", Role::Admin).await;
    for (path, res) in sample_responses(&http).await {
        assert!(res.headers().get(header::STRICT_TRANSPORT_SECURITY).is_none(), "{path}");
    }
}
