//! Sign-in, setup, sessions and the protections every server function gets.

mod common;

use app::{api::PUBLIC_ENDPOINTS, model::Role};
use common::*;
use reqwest::{header, StatusCode};
use serde_json::json;

async fn setup(app: &TestApp, client: &reqwest::Client, email: &str) -> reqwest::Response {
    client
        .post(app.url("/rpc/setup"))
        .form(&[
            ("organization", "Acme"),
            ("name", "Ada"),
            ("email", email),
            ("password", PASSWORD),
            ("confirm_password", PASSWORD),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn setup_works_once_then_is_gone() {
    let app = spawn_app().await;
    // Before setup every page leads to /setup.
    let res = client().get(app.url("/settings")).send().await.unwrap();
    assert_eq!(res.headers()[header::LOCATION], "/setup");

    let c = client();
    let res = setup(&app, &c, "ada@acme.test").await;
    assert_eq!(res.status(), StatusCode::OK, "{:?}", res.text().await);
    assert_eq!(res.headers()[header::LOCATION], "/settings");
    // Signed in straight away.
    let me = app.rpc_ok(&c, "current_user", json!({})).await;
    assert_eq!(me["email"], "ada@acme.test");
    assert_eq!(me["role"], "admin");

    let second = setup(&app, &client(), "eve@evil.test").await;
    assert_eq!(second.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.scalar("SELECT count(*) FROM users").await, 1);
    let res = client().get(app.url("/setup")).send().await.unwrap();
    assert_eq!(res.headers()[header::LOCATION], "/login");
}

#[tokio::test]
async fn setup_validates_its_fields() {
    let app = spawn_app().await;
    let res = client()
        .post(app.url("/rpc/setup"))
        .form(&[
            ("organization", "Acme"),
            ("name", "Ada"),
            ("email", "ada@acme.test"),
            ("password", "short"),
            ("confirm_password", "short"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["Validation"]["field"], "password");
    assert_eq!(app.scalar("SELECT count(*) FROM users").await, 0);
}

#[tokio::test]
async fn create_admin_command_creates_a_working_admin() {
    let app = spawn_app().await;
    let db = app.db.url.clone();
    let run = |password: &'static str, email: &'static str| {
        let db = db.clone();
        async move {
            let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tokenwell"))
                .args(["create-admin", "--org", "Initech", "--email", email, "--name", "Bill"])
                .env("DATABASE_URL", db)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            use tokio::io::AsyncWriteExt;
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(format!("{password}\n").as_bytes()).await.unwrap();
            drop(stdin);
            child.wait_with_output().await.unwrap()
        }
    };
    let out = run(PASSWORD, "bill@initech.test").await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let c = client();
    assert_eq!(app.login(&c, "bill@initech.test", PASSWORD).await.status(), StatusCode::OK);
    let me = app.rpc_ok(&c, "current_user", json!({})).await;
    assert_eq!(
        (me["organization_name"].as_str(), me["role"].as_str()),
        (Some("Initech"), Some("admin"))
    );
    // Too short a password is refused with a non-zero exit and nothing is created.
    let out = run("short", "other@initech.test").await;
    assert!(!out.status.success());
    assert_eq!(
        app.scalar("SELECT count(*) FROM users WHERE email = 'other@initech.test'").await,
        0
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_identical_answers() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let wrong = app.login(&client(), "ada@acme.test", "not the password").await;
    let unknown = app.login(&client(), "nobody@acme.test", "not the password").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.status(), unknown.status());
    assert!(wrong.headers().get(header::SET_COOKIE).is_none());
    assert_eq!(wrong.text().await.unwrap(), unknown.text().await.unwrap());
    // A disabled user with the right password gets the same answer too.
    app.sql("UPDATE users SET status = 'disabled' WHERE email = 'ada@acme.test'").await;
    let disabled = app.login(&client(), "ada@acme.test", PASSWORD).await;
    assert_eq!(disabled.status(), StatusCode::UNAUTHORIZED);
    assert!(disabled.text().await.unwrap().contains("BadCredentials"));
}

#[tokio::test]
async fn sign_in_is_throttled_per_account() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    app.add_user("Acme", "bob@acme.test", Role::Member).await;
    for _ in 0..5 {
        let res = app.login(&client(), "ada@acme.test", "guess guess guess").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // Now even the right password is refused for a while.
    let res = app.login(&client(), "ADA@acme.test", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another account from the same address is not affected.
    assert_eq!(app.login(&client(), "bob@acme.test", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn sign_in_is_throttled_per_client_address() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    for i in 0..20 {
        let res = app.login(&client(), &format!("guess{i}@acme.test"), "guess guess guess").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        app.login(&client(), "ada@acme.test", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn session_cookie_has_the_safe_flags() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let res = app.login(&client(), "ada@acme.test", PASSWORD).await;
    let cookie = res.headers()[header::SET_COOKIE].to_str().unwrap().to_string();
    assert!(cookie.starts_with("tokenwell_session="), "{cookie}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(cookie.contains(flag), "{flag} missing in {cookie}");
    }
    assert!(!cookie.contains("Secure"));
    let value = cookie.split(';').next().unwrap().split('=').nth(1).unwrap();
    assert_eq!(value.len(), 32, "128-bit id, hex-encoded");
    // The database holds only a hash of it.
    assert_eq!(
        app.scalar(&format!(
            "SELECT count(*) FROM sessions WHERE {} LIKE '%{}%'",
            if app.db.backend() == "postgres" {
                "upper(encode(id_hash, 'hex'))"
            } else {
                "hex(id_hash)"
            },
            value.to_uppercase()
        ))
        .await,
        0
    );

    let https = spawn_app_with(|a| a.secure_cookies = true).await;
    https.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let res = https.login(&client(), "ada@acme.test", PASSWORD).await;
    let cookie = res.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cookie.starts_with("__Host-tokenwell_session=") && cookie.contains("; Secure"),
        "{cookie}"
    );
}

#[tokio::test]
async fn each_sign_in_gets_a_new_session_id_and_sign_out_ends_it_on_the_server() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let cookie_of = |res: &reqwest::Response| {
        res.headers()[header::SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_string()
    };
    let first = cookie_of(&app.login(&client(), "ada@acme.test", PASSWORD).await);
    let second = cookie_of(&app.login(&client(), "ada@acme.test", PASSWORD).await);
    assert_ne!(first, second);

    let raw = reqwest::Client::new();
    let call = |cookie: String| {
        let raw = raw.clone();
        let url = app.url("/rpc/current_user");
        async move {
            raw.post(url)
                .header(header::COOKIE, cookie)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(call(first.clone()).await, StatusCode::OK);
    let res = raw
        .post(app.url("/rpc/logout"))
        .header(header::COOKIE, first.clone())
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert!(res.headers()[header::SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    // The old cookie, replayed, no longer works: the session is gone server-side.
    assert_eq!(call(first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(call(second).await, StatusCode::OK);
}

#[tokio::test]
async fn every_server_function_but_sign_in_and_setup_needs_a_session() {
    let app = spawn_app().await;
    let paths: Vec<_> = leptos::server_fn::axum::server_fn_paths().map(|(p, _)| p).collect();
    assert!(paths.len() >= 8, "registered server functions: {paths:?}");
    for path in PUBLIC_ENDPOINTS {
        assert!(paths.contains(&path), "{path} should be registered");
    }
    for path in paths.iter().filter(|p| !PUBLIC_ENDPOINTS.contains(p)) {
        for (content_type, body) in
            [("application/json", "{}"), ("application/x-www-form-urlencoded", "")]
        {
            let res = client()
                .post(app.url(path))
                .header(header::CONTENT_TYPE, content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path}");
        }
        // A forged cookie is no better.
        let res = client()
            .post(app.url(path))
            .header(header::COOKIE, "tokenwell_session=00000000000000000000000000000000")
            .header(header::CONTENT_TYPE, "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
}

#[tokio::test]
async fn server_functions_refuse_get() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let c = app.signed_in("ada@acme.test").await;
    let res = c.get(app.url("/rpc/logout")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(c.post(app.url("/rpc/current_user")).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn cross_site_posts_are_refused() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let c = app.signed_in("ada@acme.test").await;
    for (name, value) in [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
    ] {
        let res = c
            .post(app.url("/rpc/generate_token"))
            .header(name, value)
            .header(header::CONTENT_TYPE, "application/json")
            .body(r#"{"kind":"api","name":"csrf"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{name}: {value}");
        let res = client()
            .post(app.url("/rpc/login"))
            .header(name, value)
            .form(&[("email", "ada@acme.test"), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "login CSRF {name}: {value}");
    }
    assert_eq!(app.scalar("SELECT count(*) FROM tokens").await, 0);
    let same = c
        .post(app.url("/rpc/generate_token"))
        .header("origin", app.base.clone())
        .header("sec-fetch-site", "same-origin")
        .header(header::CONTENT_TYPE, "application/json")
        .body(r#"{"kind":"api","name":"fine"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), StatusCode::OK);
}

#[tokio::test]
async fn role_and_status_are_read_on_every_request() {
    let app = spawn_app().await;
    let ada = app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let c = app.signed_in("ada@acme.test").await;
    assert_eq!(
        app.rpc(&c, "list_users", json!({"q": "", "page": 1})).await.status(),
        StatusCode::OK
    );
    app.sql(&format!("UPDATE users SET role = 'member' WHERE id = {ada}")).await;
    assert_eq!(
        app.rpc(&c, "list_users", json!({"q": "", "page": 1})).await.status(),
        StatusCode::FORBIDDEN
    );
    app.sql(&format!("UPDATE users SET role = 'admin', status = 'disabled' WHERE id = {ada}"))
        .await;
    assert_eq!(
        app.rpc(&c, "list_users", json!({"q": "", "page": 1})).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn non_admins_get_no_users_data() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    app.add_user("Acme", "max@acme.test", Role::Member).await;
    app.add_user("Acme", "rex@acme.test", Role::ReadOnly).await;
    for email in ["max@acme.test", "rex@acme.test"] {
        let c = app.signed_in(email).await;
        let res = app.rpc(&c, "list_users", json!({"q": "", "page": 1})).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(!res.text().await.unwrap().contains("ada@acme.test"));
        // The page itself says admins only, and carries no user data.
        let html = c.get(app.url("/settings/users")).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("Only admins can manage organization settings."));
        assert!(!html.contains("ada@acme.test"));
    }
    let admin = app.signed_in("ada@acme.test").await;
    let users = app.rpc_ok(&admin, "list_users", json!({"q": "", "page": 1})).await;
    assert_eq!(users["total"], 3);
}

#[tokio::test]
async fn pages_carry_security_headers_and_health_checks_answer() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let res = client().get(app.url("/login")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers().clone();
    let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("'nonce-"), "{csp}");
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
    assert!(h.get("x-request-id").is_some());
    let html = res.text().await.unwrap();
    let nonce = csp.split("'nonce-").nth(1).unwrap().split('\'').next().unwrap();
    // Every inline script carries the nonce.
    for script in html.split("<script").skip(1) {
        let tag = script.split('>').next().unwrap();
        assert!(
            tag.contains("src=") || tag.contains(&format!("nonce=\"{nonce}\"")),
            "script without nonce: {tag}"
        );
    }
    // A signed-out visit to Settings goes to the sign-in page.
    let res = client().get(app.url("/settings")).send().await.unwrap();
    assert!(res.status().is_redirection());
    assert_eq!(res.headers()[header::LOCATION], "/login");

    assert_eq!(client().get(app.url("/healthz")).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(client().get(app.url("/readyz")).send().await.unwrap().status(), StatusCode::OK);
    let missing = client().get(app.url("/no-such-page")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_console_request_reads_its_session_once() {
    let app = spawn_app().await;
    app.add_user("Acme", "ada@acme.test", Role::Admin).await;
    let c = app.signed_in("ada@acme.test").await;
    let lookups = || app.state.session_lookups.load(std::sync::atomic::Ordering::Relaxed);
    // Pages: the gate and every server function the page calls while it renders (the
    // current user, then the tab's list) share the one lookup.
    for path in ["/settings/users", "/settings/auth-tokens", "/account"] {
        let before = lookups();
        let res = c.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert!(res.text().await.unwrap().contains("ada@acme.test"), "{path}");
        assert_eq!(lookups() - before, 1, "{path}");
    }
    let before = lookups();
    app.rpc_ok(&c, "list_users", json!({"q": "", "page": 1})).await;
    assert_eq!(lookups() - before, 1, "a server function");
    // Static files and sign-in need none.
    let before = lookups();
    c.get(app.url("/favicon.svg")).send().await.unwrap();
    app.login(&c, "ada@acme.test", PASSWORD).await;
    assert_eq!(lookups() - before, 0);
}
